"""Two lung conventions in one model (config ``data_sets``): one sigmoid channel per convention,
each trained only by the data set drawn in it; prediction and evaluation pick the channel."""

from __future__ import annotations

import shutil

import keras
import numpy as np
import pytest

from lungseg_lib.core.losses import get_loss
from lungseg_lib.core.metrics import supervised_channel
from lungseg_lib.data.folders import find_pairs, make_split, write_split
from lungseg_lib.engine import datasets
from lungseg_lib.engine.config import resolve_config


def test_each_image_trains_only_its_own_convention_s_channel():
    """The loss of an image of the visible-lung set does not move when the whole-lung channel's
    prediction changes, and equals the single-channel loss of its own channel."""
    rng = np.random.default_rng(0)
    mask = (rng.random((2, 8, 8, 1)) > 0.5).astype("float32")
    index = np.stack([np.zeros((8, 8, 1)), np.ones((8, 8, 1))]).astype("float32")  # image 0: channel 0
    y_true = np.concatenate([mask, index], axis=-1)
    y_pred = rng.uniform(0.05, 0.95, (2, 8, 8, 2)).astype("float32")
    loss = get_loss("bce", "sigmoid", lungs=2)
    expected = get_loss("bce", "sigmoid")(mask, np.stack([y_pred[0, ..., :1], y_pred[1, ..., 1:]]))
    assert float(loss(y_true, y_pred)) == pytest.approx(float(expected), rel=1e-5)
    other = y_pred.copy()
    other[0, ..., 1], other[1, ..., 0] = 0.5, 0.5  # the channels nobody supervises
    assert float(loss(y_true, other)) == pytest.approx(float(loss(y_true, y_pred)), rel=1e-6)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(supervised_channel(y_true, y_pred))[1, ..., 0],
                               y_pred[1, ..., 1])
    with pytest.raises(ValueError, match="sigmoid head"):
        get_loss("softmax_ce", "softmax", lungs=2)


@pytest.fixture
def two_sets(tmp_path, synth_dir, monkeypatch):
    """Two synthetic data sets side by side, with their splits in a private repository copy."""
    for name in ("synth_visible", "synth_whole"):
        shutil.copytree(synth_dir, tmp_path / "sets" / name)
        (tmp_path / "repo" / "data" / "splits").mkdir(parents=True, exist_ok=True)
        write_split(make_split(find_pairs(tmp_path / "sets" / name).pairs, seed=0),
                    tmp_path / "repo" / "data" / "splits" / f"{name}.csv")
    monkeypatch.setenv("LUNGSEG_DATA", str(tmp_path / "sets" / "synth_visible"))
    monkeypatch.setattr(datasets, "REPO_ROOT", tmp_path / "repo")
    return {"synth_visible": "visible", "synth_whole": "whole"}


def test_a_model_trained_on_two_conventions_draws_either(two_sets, tmp_path, monkeypatch):
    from lungseg_lib.data import conventions
    from lungseg_lib.engine import evaluation
    from lungseg_lib.engine.inference import TrainedModel
    from lungseg_lib.engine.training import train
    from lungseg_lib.files import read_json

    config = resolve_config("unet3_compact", "smoke", {"data": None, "data_sets": two_sets, "loss": "bce",
                                                       "epochs": 1, "image_size": 32})
    assert config.lungs == ("whole", "visible")
    run = tmp_path / "run"
    train(config, run, verbose=0)
    record = read_json(run / "config.json")
    assert [(s["name"], s["convention"]) for s in record["data_sets"]] == [("synth_visible", "visible"),
                                                                          ("synth_whole", "whole")]
    assert record["split_sizes"]["train"] == record["data_sets"][0]["split_sizes"]["train"]
    model = TrainedModel(run)
    assert model.lungs == ("whole", "visible") and model.model.output_shape[-1] == 2
    images = np.random.default_rng(1).random((2, 40, 50)).astype("float32")
    whole, visible = (model.predict(images, lung=lung) for lung in ("whole", "visible"))
    assert whole[0].probability.shape == (40, 50)
    assert not np.array_equal(whole[0].probability, visible[0].probability)
    np.testing.assert_array_equal(model.predict(images)[0].probability, whole[0].probability)  # the default
    with pytest.raises(ValueError, match="valid: whole, visible"):
        model.predict(images, lung="left")
    monkeypatch.setattr(evaluation, "REPO_ROOT", tmp_path / "repo")
    monkeypatch.setattr(conventions, "DATA_CONVENTIONS", two_sets)
    metrics = evaluation.evaluate(run, data="synth_whole", out=tmp_path / "eval", robustness=False)
    assert (metrics["lung"], metrics["truth_lung"], metrics["split"]) == ("whole", "whole", "test")
    # lungseg predict --lung: the CSV and the overlay's legend name the convention drawn
    import cv2
    import pandas as pd

    from lungseg_lib import cli

    cv2.imwrite(str(tmp_path / "x.png"), (images[0] * 255).astype(np.uint8))
    for lung, out in ((None, "default"), ("visible", "visible")):
        args = ["predict", str(tmp_path / "x.png"), "--run", str(run), "--out", str(tmp_path / out)]
        assert cli.main(args + (["--lung", lung] if lung else [])) == 0
        assert pd.read_csv(tmp_path / out / "lungs.csv")["lung"].tolist() == [lung or "whole"]
    plain = cv2.imread(str(tmp_path / "default" / "x_overlay.png"))
    assert plain.shape == (40, 50, 3)


def test_evaluate_writes_other_data_and_splits_beside_the_run_s_own_results(tmp_path, synth_dir, monkeypatch):
    """``lungseg evaluate RUN`` scores its own test split into the run folder; another split or
    another data set goes to ``RUN/evaluations/<data>-<split>/`` (a cross-set evaluation) and
    leaves the run's own metrics.json as it was."""
    from lungseg_lib.cli import model_commands

    run = tmp_path / "run"
    run.mkdir()
    (run / "history.csv").write_text("epoch\n1\n")
    (run / "config.json").write_text('{"config": {}, "data_root": "synthetic_64"}')
    (tmp_path / "sets").mkdir()
    shutil.copytree(synth_dir, tmp_path / "sets" / "other_set")
    monkeypatch.setenv("LUNGSEG_DATA", str(tmp_path / "sets" / "other_set"))
    assert model_commands._evaluation_out(run, None, "test") is None
    assert model_commands._evaluation_out(run, None, "val") == run / "evaluations" / "synthetic_64-val"
    assert model_commands._evaluation_out(run, "other_set", "external") == run / "evaluations" / "other_set-external"
    (run / "history.csv").unlink()  # a model folder (exported, shipped): never written into
    assert model_commands._evaluation_out(run, None, "test").name == model_commands.DEFAULT_EVALUATION


def test_the_model_card_of_a_two_convention_model_names_both_and_every_split(two_sets, tmp_path, monkeypatch):
    """Exported, a model of both conventions carries both splits, and its card a table of what
    each channel draws and which set trained it, and the Dice of every split it was scored on."""
    from lungseg_lib import project
    from lungseg_lib.engine import evaluation, training, weights

    for module in (training, evaluation, project):  # the private repository of the fixture
        monkeypatch.setattr(module, "REPO_ROOT", tmp_path / "repo")
    config = resolve_config("unet3_compact", "smoke", {"data": None, "data_sets": two_sets, "loss": "bce",
                                                       "epochs": 1, "image_size": 32})
    run = tmp_path / "run"
    training.train(config, run, verbose=0)
    evaluation.evaluate(run, robustness=False)
    evaluation.evaluate(run, data="synth_whole", out=run / "evaluations" / "synth_whole-test", robustness=False)
    out = weights.export_run(run, tmp_path / "release", name="m")
    assert {"synth_visible.csv", "synth_whole.csv"} <= {p.name for p in out.iterdir()}
    card = (out / "model_card.md").read_text(encoding="utf-8")
    assert "## Lung conventions" in card and "| whole | the whole lung" in card and "| visible |" in card
    assert "| synth_whole-test |" in card and "## Every test split" in card
