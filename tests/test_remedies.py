"""The default model's remedy screen (lungseg_lib.report.remedies) on made-up run folders."""
import json

import numpy as np
import pandas as pd
import pytest

from lungseg_lib.engine.perturbations import FAMILIES
from lungseg_lib.report import remedies

N = 40


def _arm(root, profile, scores, clean, shifted, tb_shift=0.0, folder=None):
    """Validation scores of one arm: every image ``clean`` at severity 0 (TB images, the odd
    ones, ``+ tb_shift``) and ``shifted`` at every other severity of every family."""
    folder = folder or remedies.arm_folder(profile, scores, root)
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps({"split": "val"}), encoding="utf-8")
    labels = np.arange(N) % 2
    clean = clean + tb_shift * labels
    pd.DataFrame({"name": [f"img{i}" for i in range(N)], "label": labels,
                  "dice_post": clean}).to_csv(folder / "per_image.csv", index=False)
    rows = [{"name": f"img{i}", "family": f, "severity": s, "dice_post": clean[i] if s == 0 else shifted[i]}
            for i in range(N) for f in FAMILIES for s in range(6)]
    pd.DataFrame(rows).to_csv(folder / "robustness.csv", index=False)


@pytest.fixture
def runs_dir(tmp_path):
    rng = np.random.default_rng(1)
    clean = 0.95 + rng.normal(0, 0.004, N)
    _arm(tmp_path, "screen", "val", clean, clean - 0.10)
    _arm(tmp_path, "screen-strongaug", "val", clean, clean - 0.02)               # helps under shifts
    _arm(tmp_path, "screen-opacity", "val", clean - 0.001, clean - 0.10, 0.03)   # helps on TB images
    _arm(tmp_path, "screen-clahe", "val", clean - 0.03, clean - 0.02)            # helps, costs clean Dice
    return tmp_path


def test_rule_keeps_what_helps_without_costing_clean_dice(runs_dir):
    table = remedies.screen(runs_dir).set_index("profile")
    assert table.loc["screen-strongaug", "kept"] and "under intensity shifts" in table.loc["screen-strongaug", "verdict"]
    assert table.loc["screen-opacity", "kept"] and "tuberculosis" in table.loc["screen-opacity", "verdict"]
    assert not table.loc["screen-clahe", "kept"] and "costs clean Dice" in table.loc["screen-clahe", "verdict"]
    fill = table[table.scores == remedies.VAL_FILL_HOLES].iloc[0]
    assert fill["verdict"] == "not run yet" and fill["kept"] is None


def test_chosen_settings_combine_the_kept_augmentations(runs_dir):
    assert remedies.chosen_settings(remedies.screen(runs_dir)) == {"augment_strength": "strong_opacity"}


def test_kept_costs_says_what_the_kept_remedies_cost_on_clean_images(runs_dir):
    text = remedies.kept_costs(remedies.screen(runs_dir))
    assert text.startswith("On the clean validation images the kept remedies change the Dice by:")
    assert "stronger intensity augmentation +0.0000" in text and "CLAHE" not in text
    assert "opacities painted inside the lungs +0.0140 [+0.0095, +0.0185]." in text  # TB images gained
    costly = pd.DataFrame([{"arm": "a remedy", "kept": True, "clean_diff": -0.003, "clean_low": -0.004,
                            "clean_high": -0.001}])
    assert "a remedy -0.0030 [-0.0040, -0.0010] (the CI excludes zero: a real but small cost)" in remedies.kept_costs(costly)
    assert text.endswith("The rule counts a cost only above 0.005.")
    nothing = remedies.screen(runs_dir).assign(kept=False)
    assert remedies.kept_costs(nothing).startswith("No remedy is kept")


def test_book_table_marks_missing_arms(runs_dir):
    out = remedies.screen_table(remedies.screen(runs_dir))
    assert list(out["Arm"])[0] == "base recipe" and out["Verdict"][0] == "reference"
    assert out["Clean Dice"].iloc[-1] == "missing"
    assert out["Under intensity shifts"][1].startswith("0.93")  # strong: clean - 0.02, +0.08 over base


def test_default_profile_is_written_from_a_complete_screen_only(runs_dir, tmp_path):
    import sys

    import yaml

    sys.path.insert(0, str(remedies.repo_path("scripts")))
    from write_default_profile import main

    from lungseg_lib.engine.config import TrainConfig

    out = tmp_path / "default.yaml"
    with pytest.raises(SystemExit, match="not complete: .*holes filled inside the kept lungs: not run yet"):
        main(["--runs", str(runs_dir), "--out", str(out)])
    clean = pd.read_csv(remedies.arm_folder("screen", "val", runs_dir) / "per_image.csv")["dice_post"].to_numpy()
    _arm(runs_dir, "screen", remedies.VAL_FILL_HOLES, clean, clean - 0.10)  # no change: not kept
    assert main(["--runs", str(runs_dir), "--out", str(out)]) == 0
    profile = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert profile["augment_strength"] == "strong_opacity" and "normalize" not in profile
    assert "holes filled inside the kept lungs: not kept" in out.read_text(encoding="utf-8").replace("\n# ", " ")
    TrainConfig(**{k: v for k, v in profile.items() if k != "seeds"})


def test_default_test_table_sets_the_default_model_beside_the_study_run(tmp_path):
    from lungseg_lib.engine.runfolder import run_dir_for

    clean = np.full(N, 0.96)
    _arm(tmp_path, None, None, clean, clean - 0.02, folder=run_dir_for(*remedies.DEFAULT_RUN, tmp_path))
    table = remedies.default_test_table(tmp_path).set_index("Run")
    default, study = "default model (seed 0)", "fair study's compact U-Net (cpu profile, seed 0)"  # seeds named
    assert table.loc[default, "Clean Dice"] == "0.9600 [0.9600, 0.9600]"
    assert table.loc[default, "Under intensity shifts"].startswith("0.9400")
    assert table.loc[study, "Clean Dice"] == "not trained yet"
    assert table.loc[study, "_facts"]["Clean Dice"] == "cpu|unet3_compact|dice_post|seeds 0"
    assert table.iloc[-1]["Clean Dice"] == "missing"
    _arm(tmp_path, None, None, clean - 0.01, clean - 0.10, folder=run_dir_for(*remedies.STUDY_RUN, tmp_path))
    table = remedies.default_test_table(tmp_path)
    assert table.iloc[-1]["Under intensity shifts"].startswith("+0.0800")
    assert table.iloc[-1]["Clean Dice"].startswith("+0.0100")
