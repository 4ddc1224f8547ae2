"""The robustness grid: pure perturbations, their direction, the grid's bad input, and a run's
robustness.csv whose severity-0 rows are its per_image.csv."""

import numpy as np
import pandas as pd
import pytest

from lungseg_lib import cli
from lungseg_lib.core.postprocess import keep_largest_components
from lungseg_lib.engine.perturbations import (DIRECTION, FAMILIES, SEVERITIES, check_grid, load_example, perturb,
                                           robustness_table)


@pytest.fixture(scope="module")
def image():
    yy, xx = np.mgrid[:64, :64]
    return (0.3 + 0.4 * np.exp(-((yy - 32) ** 2 + (xx - 30) ** 2) / 300.0))[..., None].astype(np.float32)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_perturbation_is_pure_bounded_and_grows_with_severity(image, family):
    assert perturb(image, family, 0) is image
    changes = []
    for severity in range(1, 6):
        out = perturb(image, family, severity, seed=7)
        assert out.shape == image.shape and out.dtype == np.float32
        assert 0.0 <= out.min() and out.max() <= 1.0
        np.testing.assert_array_equal(out, perturb(image, family, severity, seed=7))
        changes.append(float(np.abs(out - image).mean()))
    assert changes[-1] > changes[0] > 0


def test_directions_and_seeds(image):
    for family, direction in DIRECTION.items():
        moved = perturb(image, family, 5).mean() - image.mean()
        assert (moved < 0) if direction == "darker" else (moved > 0), family
    assert perturb(image, "contrast_down", 5).std() < image.std() < perturb(image, "contrast_up", 5).std()
    assert not np.array_equal(perturb(image, "gaussian_noise", 3, seed=1), perturb(image, "gaussian_noise", 3, seed=2))


def test_unknown_family_or_severity_lists_the_valid_ones(image):
    with pytest.raises(ValueError, match="valid: brightness_up, .*pixelate"):
        perturb(image, "fog", 1)
    with pytest.raises(ValueError, match="valid: 0, 1, 2, 3, 4, 5"):
        check_grid(["jpeg"], [6])
    assert check_grid() == (list(FAMILIES), list(SEVERITIES))


def test_cli_rejects_unknown_family(smoke_run, capsys):
    assert cli.main(["robustness", str(smoke_run), "--families", "fog", "--out", "/nonexistent"]) == 2
    assert "unknown perturbation family fog; valid: brightness_up" in capsys.readouterr().err


def test_run_grid_severity_zero_equals_per_image(smoke_run, tmp_path):
    """evaluate wrote robustness.csv with the run; `lungseg robustness` rewrites it identically."""
    per_image = pd.read_csv(smoke_run / "per_image.csv").set_index("name")
    grid = pd.read_csv(smoke_run / "robustness.csv")
    assert set(grid.family) == set(FAMILIES) and set(grid.severity) == set(SEVERITIES)
    assert len(grid) == len(per_image) * len(FAMILIES) * len(SEVERITIES)
    for family, clean in grid[grid.severity == 0].groupby("family"):
        clean = clean.set_index("name").loc[per_image.index]
        for col in ("dice", "iou", "dice_post", "iou_post"):
            np.testing.assert_array_equal(clean[col].to_numpy(), per_image[col].to_numpy(), err_msg=family)
    assert cli.main(["robustness", str(smoke_run), "--families", "jpeg,gamma_up", "--severities", "0,5",
                     "--out", str(tmp_path)]) == 0
    again = pd.read_csv(tmp_path / "robustness.csv")
    expected = grid[grid.family.isin(["jpeg", "gamma_up"]) & grid.severity.isin([0, 5])]
    pd.testing.assert_frame_equal(again.sort_values(["family", "severity", "name"]).reset_index(drop=True),
                                  expected.sort_values(["family", "severity", "name"]).reset_index(drop=True))
    name, masks = load_example(smoke_run / "robustness_example.npz")
    assert name == per_image.index.min() and ("brightness_down", 5) in masks


def test_interrupted_grid_leaves_the_old_file(smoke_run, tmp_path, monkeypatch):
    """A grid that fails half-way does not touch the robustness.csv already there."""
    from lungseg_lib.engine.inference import TrainedModel

    (tmp_path / "robustness.csv").write_text("old\n", encoding="utf-8")
    calls = {"n": 0}
    real = TrainedModel.probability

    def failing(self, images, batch_size=8, lung=None):
        calls["n"] += 1
        if calls["n"] > 2:
            raise KeyboardInterrupt
        return real(self, images, batch_size, lung)

    monkeypatch.setattr(TrainedModel, "probability", failing)
    with pytest.raises(KeyboardInterrupt):
        cli.main(["robustness", str(smoke_run), "--out", str(tmp_path)])
    assert (tmp_path / "robustness.csv").read_text(encoding="utf-8") == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["robustness.csv"]


def test_table_predicts_once_per_family_and_severity(image):
    from lungseg_lib.engine.inference import TrainedModel

    from types import SimpleNamespace

    class Counting:
        """The real prediction path over a model that counts its calls."""
        post_k, calls, size, config = 2, 0, image.shape[0], SimpleNamespace(square="stretch")
        predict = TrainedModel.predict

        def probability(self, images, batch_size=8, lung=None):
            Counting.calls += 1
            return (images[..., 0] > 0.5).astype(np.float32)

        def postprocess(self, mask):
            return keep_largest_components(mask, self.post_k)

    truth = image[None, ..., 0] > 0.5
    table = robustness_table(Counting(), ["a"], image[None], truth, ["jpeg", "pixelate"], [0, 1, 2])
    assert Counting.calls == 1 + 2 * 2 and len(table) == 6


def test_grid_time_sentence_says_the_machine_and_the_target():
    from lungseg_lib.report.perturbation_grid import GRID_TARGET_SECONDS, grid_time_sentence

    env = {"cpu_model": "Some CPU", "cpu_isa": "avx2"}
    text = grid_time_sentence(120.4, 7000, env)
    assert text.startswith("It took 120 s for 7000 predictions on Some CPU (avx2), within the target")
    assert "over the target" in grid_time_sentence(GRID_TARGET_SECONDS + 1, 7000, env)
    assert "not recorded" in grid_time_sentence(None, 7000, env)
