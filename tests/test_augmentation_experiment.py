"""The fix experiment's comparisons and verdicts (lungseg_lib.report.augmentation_experiment) on made-up run folders."""
import json

import numpy as np
import pandas as pd
import pytest

from lungseg_lib.report import augmentation_experiment as fix
from lungseg_lib.report import profile_runs
from lungseg_lib.engine.perturbations import FAMILIES


def _run(root, profile, model, clean, shifted, best_val=0.9):
    """An evaluated seed-0 run whose grid scores every image ``clean`` at severity 0 and
    ``shifted`` (array over images) at every other severity of every family."""
    folder = root / profile / model / "seed0"
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text("{}", encoding="utf-8")
    (folder / "training.json").write_text(json.dumps({"best_val_dice": best_val}), encoding="utf-8")
    rows = []
    for i, (c, s) in enumerate(zip(clean, shifted)):
        for family in FAMILIES:
            for severity in range(6):
                rows.append({"name": f"img{i}", "family": family, "severity": severity,
                             "dice_post": c if severity == 0 else s})
    pd.DataFrame(rows).to_csv(folder / "robustness.csv", index=False)


@pytest.fixture
def runs_dir(tmp_path):
    rng = np.random.default_rng(0)
    n = 40
    clean = 0.95 + rng.normal(0, 0.005, n)
    _run(tmp_path, "cpu", "nasnet_decoder", clean, clean - 0.10)
    _run(tmp_path, "cpu", "unet", clean, clean - 0.05, best_val=0.95)
    _run(tmp_path, "cpu", "segnet", clean, clean - 0.05, best_val=0.93)
    for model in set(profile_runs.registry_models()) - {"nasnet_decoder", "unet", "segnet"}:
        _run(tmp_path, "cpu", model, clean, clean - 0.05, best_val=0.92)
    for model in ("nasnet_decoder", "unet"):
        _run(tmp_path, "cpu-noaug", model, clean - 0.002, clean - 0.20)     # augmentation buys robustness
        _run(tmp_path, "cpu-strongaug", model, clean, clean - 0.01)         # the remedy helps, no clean cost
    return tmp_path


def test_models_are_the_paper_model_and_the_best_other_by_validation(runs_dir):
    assert fix.fix_models(runs_dir) == ["nasnet_decoder", "unet"]
    import shutil
    shutil.rmtree(runs_dir / "cpu" / "segnet")  # not every seed-0 run evaluated: the best is not known yet
    assert fix.fix_models(runs_dir) == ["nasnet_decoder"]


def test_verdicts(runs_dir):
    v = fix.verdicts(runs_dir)
    assert "remedy helps without costing clean Dice" in v["nasnet_decoder"]
    assert "negligible" in v["unet"].split("clean Dice and")[0]  # +0.002 clean: below MIN_EFFECT


def test_table_has_a_row_per_model_and_training(runs_dir):
    t = fix.fix_table(runs_dir)
    assert len(t) == 6 and list(t["Training"][:3]) == [f"{v}, seed 0" for v in ("default recipe", *fix.VARIANTS.values())]
    assert t.loc[0, "_facts"]["clean"] == "cpu|nasnet_decoder|dice_post|seeds 0"  # a seed-0 score, marked so
    assert t.loc[2, "intensity"].startswith("0.94")  # NASNet, strong: clean - 0.01


def test_missing_variant_is_said(runs_dir):
    import shutil
    shutil.rmtree(runs_dir / "cpu-noaug" / "unet")
    assert fix.verdicts(runs_dir)["unet"].startswith("not measured yet")
    assert (fix.fix_table(runs_dir).query("Model == 'U-Net'")["clean"] == "missing").sum() == 1
