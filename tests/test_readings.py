"""The readings of the NASNet-Large decoder's recipe (lungseg_lib.report.readings): the headline
rule on validation Dice only, the comparison under every reading, and the verdict across them."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from lungseg_lib.report import profile_runs, reading_comparisons, readings


def fake_reading_run(root, profile, model, seed, val_dice, test_scores):
    """An evaluated run folder with a training.json, a history, metrics.json and per_image.csv."""
    path = root / profile / model / f"seed{seed}"
    path.mkdir(parents=True)
    names = [f"IMG_{i}" for i in range(len(test_scores))]
    (path / "training.json").write_text(json.dumps({"best_val_dice": val_dice, "train_seconds": 600.0}))
    (path / "config.json").write_text(json.dumps({"config": {"model": model, "epochs": 12}}))
    pd.DataFrame({"epoch": [1, 2], "dice": [0.8, 0.9], "learning_rate": [1e-4, 1e-4]}).to_csv(path / "history.csv", index=False)
    pd.DataFrame({"name": names, "source": "s", "label": "0", "dice_post": test_scores, "dice": test_scores}).to_csv(
        path / "per_image.csv", index=False)
    (path / "metrics.json").write_text(json.dumps({"post": {"dice": {"mean": float(np.mean(test_scores))}}}))


def test_the_headline_is_the_best_mean_validation_dice_and_waits_for_every_seed(tmp_path):
    """Validation Dice picks the headline (the test scores say the opposite here), and there is
    none while a reading lacks a seed; then the profile's model reads the headline's runs."""
    names = {r.name: r.profile for r in readings.readings("cpu")}
    val = {"scaled": 0.92, "unscaled": 0.95, "constant": 0.94, "steps5": 0.90}
    test = {"scaled": 0.99, "unscaled": 0.80, "constant": 0.85, "steps5": 0.99}
    for name, profile in names.items():
        for seed in (0, 1, 2):
            if (name, seed) != ("steps5", 2):
                fake_reading_run(tmp_path, profile, "nasnet_decoder", seed, val[name] + seed / 1000, [test[name]] * 4)
    assert readings.headline("cpu", tmp_path) is None  # steps5 lacks seed 2
    assert profile_runs.source_profile("cpu", "nasnet_decoder", tmp_path) == "cpu"
    fake_reading_run(tmp_path, names["steps5"], "nasnet_decoder", 2, 0.90, [0.99] * 4)
    assert readings.headline("cpu", tmp_path) == "unscaled"
    assert profile_runs.source_profile("cpu", "nasnet_decoder", tmp_path) == names["unscaled"]
    assert profile_runs.source_profile("cpu", "unet", tmp_path) == "cpu"
    scores = readings.reading_scores("cpu", tmp_path).set_index("reading")
    assert scores.loc["unscaled", "val_dice"] == np.mean([0.95, 0.951, 0.952])
    assert abs(scores.loc["steps5", "test_dice"] - 0.99) < 1e-9 and scores["complete"].all()
    # the whole book then shows the headline reading's runs of the paper's model
    assert set(profile_runs.seed_dirs("cpu", "nasnet_decoder", tmp_path)) == {0, 1, 2}
    assert profile_runs.seed_dirs("cpu", "nasnet_decoder", tmp_path)[0].parent.parent.name == names["unscaled"]


def test_the_verdict_across_readings():
    names = ["scaled", "constant"]
    assert reading_comparisons.across({"scaled": "worse", "constant": "worse"}, names) == "worse under every reading"
    assert reading_comparisons.across({"scaled": "better", "constant": "better"}, names) == "better under every reading"
    assert reading_comparisons.across({"scaled": "worse", "constant": "not separable"}, names) == (
        "depends on the reading: worse under scaled; not separable under constant")
    assert reading_comparisons.across({"scaled": "worse"}, names) == "incomplete (constant not evaluated)"


def test_the_comparison_is_computed_under_every_reading(tmp_path):
    """The same other model is worse than the paper's model under one reading and better under
    another: the table gives each reading's side and says it depends on the reading."""
    profiles = {r.name: r.profile for r in readings.readings("cpu")}
    for seed in (0, 1):
        fake_reading_run(tmp_path, "cpu", "unet", seed, 0.9, [0.90, 0.91, 0.92, 0.93, 0.90, 0.91])
        fake_reading_run(tmp_path, profiles["scaled"], "nasnet_decoder", seed, 0.8, [0.80, 0.81, 0.82, 0.80, 0.79, 0.81])
        fake_reading_run(tmp_path, profiles["constant"], "nasnet_decoder", seed, 0.95, [0.96, 0.97, 0.98, 0.97, 0.96, 0.97])
    table = reading_comparisons.comparison_by_reading("cpu", tmp_path).set_index("Model")
    row = table.loc["U-Net"]
    assert row["scaled"].startswith("worse (-0.1") and row["constant"].startswith("better (+0.0")
    assert row["Across readings"] == "incomplete (unscaled, steps5 not evaluated)"
    assert table.loc["SegNet", "scaled"] == "missing"
