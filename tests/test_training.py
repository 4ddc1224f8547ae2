"""The training engine on the smoke profile: run folder, no-op rerun, resume after SIGKILL,
determinism, cross-data-set evaluation, prediction on files, and bad-input messages."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lungseg_lib import cli, files
from lungseg_lib.engine import runfolder
from lungseg_lib.engine.config import resolve_config
from lungseg_lib.engine.datasets import prepare_data
from lungseg_lib.engine.records import read_metrics

REPO = Path(__file__).resolve().parents[1]
RUN_FILES = ("config.json", "history.csv", "train.ipynb", "metrics.json", "per_image.csv", "roc.csv",
             "model.keras", "training.json", "robustness.csv", "robustness_example.npz")


def test_smoke_train_makes_complete_run_folder(smoke_run, capsys):
    for name in RUN_FILES:
        assert (smoke_run / name).exists(), name
    history = pd.read_csv(smoke_run / "history.csv")
    epochs = resolve_config("unet", "smoke").epochs
    assert history.epoch.tolist() == list(range(1, epochs + 1))
    assert {"loss", "val_loss", "val_dice", "val_iou"} <= set(history.columns)
    metrics = json.loads((smoke_run / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["n_images"] == len(pd.read_csv(smoke_run / "per_image.csv"))
    assert len(list((smoke_run / "predictions").glob("*.png"))) == metrics["n_images"]
    for key in ("dice", "iou"):
        s = metrics["post"][key]
        assert s["ci_low"] <= s["mean"] <= s["ci_high"]
    config = json.loads((smoke_run / "config.json").read_text(encoding="utf-8"))
    assert config["config"]["model"] == "unet" and config["environment"]["git_commit"]
    executed = json.loads((smoke_run / "train.ipynb").read_text(encoding="utf-8"))
    assert executed["metadata"]["papermill"]["parameters"]["model"] == "unet"
    # a second call does nothing
    before = (smoke_run / "model.keras").stat().st_mtime_ns
    assert cli.main(["train", "--model", "unet", "--profile", "smoke", "--run-dir", str(smoke_run)]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert (smoke_run / "model.keras").stat().st_mtime_ns == before


def _train_cmd(run_dir, epochs):
    return [sys.executable, "-m", "lungseg_lib.cli", "train", "--model", "unet", "--profile", "smoke",
            "--run-dir", str(run_dir), "--set", f"epochs={epochs}", "--set", "model_kwargs={base_filters: 16}"]


@pytest.mark.slow  # three trainings through the CLI (killed, resumed, straight): minutes
def test_resume_after_sigkill_matches_uninterrupted_run(tmp_path):
    """Kill the whole process group (CLI, papermill, kernel) mid-run, resume, compare.

    Tolerance: validation losses and final test Dice agree to 1e-4 (op determinism is on;
    the only difference is the interruption)."""
    epochs = 6
    killed = tmp_path / "killed"
    proc = subprocess.Popen(_train_cmd(killed, epochs), cwd=REPO, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = killed / runfolder.STATE
    deadline = time.time() + 300
    while time.time() < deadline:
        if state.exists() and json.loads(state.read_text(encoding="utf-8") or "{}").get("epochs_done", 0) >= 2:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = json.loads(state.read_text(encoding="utf-8"))["epochs_done"]
    assert 2 <= done < epochs, f"the kill came too late ({done} epochs done)"
    assert not (killed / "metrics.json").exists() and not (killed / "model.keras").exists()
    subprocess.run(_train_cmd(killed, epochs), cwd=REPO, check=True, capture_output=True)
    straight = tmp_path / "straight"
    subprocess.run(_train_cmd(straight, epochs), cwd=REPO, check=True, capture_output=True)
    a, b = pd.read_csv(killed / "history.csv"), pd.read_csv(straight / "history.csv")
    assert a.epoch.tolist() == b.epoch.tolist() == list(range(1, epochs + 1))
    np.testing.assert_allclose(a.val_loss, b.val_loss, atol=1e-4)
    ma, mb = (read_metrics(d) for d in (killed, straight))
    assert abs(ma.summary("dice").mean - mb.summary("dice").mean) < 1e-4


def test_same_seed_same_history(tmp_path):
    from lungseg_lib.engine.training import train

    config = resolve_config("unet3_compact", "smoke", {"epochs": 2})
    prepare_data(config)
    train(config, tmp_path / "a", verbose=0)
    train(config, tmp_path / "b", verbose=0)
    a, b = pd.read_csv(tmp_path / "a/history.csv"), pd.read_csv(tmp_path / "b/history.csv")
    pd.testing.assert_frame_equal(a.drop(columns="seconds"), b.drop(columns="seconds"))


def test_cross_dataset_evaluation_leaves_run_untouched(smoke_run, tmp_path):
    from lungseg_lib.data.synthetic import make_synthetic_dataset

    other = make_synthetic_dataset(tmp_path / "other", n=6, size=80, seed=5)
    before = {p: p.stat().st_mtime_ns for p in smoke_run.rglob("*") if p.is_file()}
    out = tmp_path / "cross"
    assert cli.main(["evaluate", str(smoke_run), "--data", str(other), "--split", "all", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["n_images"] == 6 and metrics["data_root"] == "other"  # recorded by name, no machine path
    assert len(pd.read_csv(out / "per_image.csv")) == 6
    assert before == {p: p.stat().st_mtime_ns for p in smoke_run.rglob("*") if p.is_file()}


@pytest.mark.parametrize("args, message", [
    (["--model", "nope", "--profile", "smoke"], "valid names: nasnet_decoder"),
    (["--model", "unet", "--profile", "nope"], "unknown profile 'nope'; valid profiles: cpu, "),
    (["--model", "unet", "--profile", "smoke", "--set", "epoch=3"], "unknown parameter(s) epoch"),
    (["--model", "unet", "--profile", "smoke", "--set", "image_size=100"], "multiples of"),
    (["--model", "unet", "--profile", "cpu", "--data", "/nonexistent"], "not a data folder"),
])
def test_bad_training_input(args, message, capsys, tmp_path):
    assert cli.main(["train", "--run-dir", str(tmp_path / "r"), *args]) == 2
    assert message in capsys.readouterr().err


def test_no_data_message(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("LUNGSEG_DATA", raising=False)
    assert cli.main(["train", "--model", "unet", "--profile", "cpu", "--run-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--data" in err and "LUNGSEG_DATA" in err and "lungseg data fetch" in err


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
    from lungseg_lib.engine.training import TrainingError, train

    config = resolve_config("unet", "smoke", {"epochs": 3, "learning_rate": 1e12, "augment": False})
    prepare_data(config)
    with pytest.raises(TrainingError, match="NaN"):
        train(config, tmp_path, verbose=0)
    state = json.loads((tmp_path / runfolder.STATE).read_text(encoding="utf-8"))
    assert state["stopped"] == "nan"
    if state["last"]:
        assert (tmp_path / runfolder.CHECKPOINTS / f"{state['last']}.weights.h5").exists()
    assert not (tmp_path / "model.keras").exists()


def test_early_stopping_and_best_checkpoint(tmp_path):
    """The epoch callback counts epochs without validation improvement and stops at patience."""
    import keras

    from lungseg_lib.engine.checkpoints import EpochCheckpoint, initial_state
    from lungseg_lib.engine.config import TrainConfig

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.optimizer.build(model.trainable_variables)
    state = initial_state(tmp_path / runfolder.STATE)
    cb = EpochCheckpoint(tmp_path, TrainConfig(early_stopping_patience=2), state, [])
    cb.set_model(model)
    for epoch, val in enumerate([0.5, 0.7, 0.6, 0.65]):
        cb.on_epoch_begin(epoch)
        cb.on_epoch_end(epoch, {"loss": 1.0, "val_dice": val})
    assert state["best_epoch"] == 2 and state["best"] == "epoch_0002"
    assert model.stop_training and "early stopping" in state["stopped"]
    kept = sorted(p.name for p in (tmp_path / "checkpoints").glob("epoch_*"))
    assert kept == ["epoch_0002.optimizer.npz", "epoch_0002.weights.h5",
                    "epoch_0004.optimizer.npz", "epoch_0004.weights.h5"]
    assert len(pd.read_csv(tmp_path / "history.csv")) == 4


def test_out_of_memory_suggests_smaller_batch(tmp_path, monkeypatch):
    import keras
    import tensorflow as tf

    from lungseg_lib.engine.training import TrainingError, train

    def oom(*args, **kwargs):
        raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor")

    monkeypatch.setattr(keras.Model, "fit", oom)
    config = resolve_config("unet", "smoke", {"batch_size": 8})
    prepare_data(config)
    with pytest.raises(TrainingError, match="smaller batch.*batch_size=4"):
        train(config, tmp_path, verbose=0)


def test_rewording_a_recipe_source_changes_no_run(tmp_path):
    """recipe_source is words about the recipe, not a parameter: a run resumes after it changes."""
    from lungseg_lib.engine.training import TrainingError, check_same_config, recorded_config

    config = resolve_config("unet", "smoke")
    files.write_json(tmp_path / runfolder.CONFIG, {"config": recorded_config(config)})
    check_same_config(tmp_path, config.replace(recipe_source="reworded"))
    with pytest.raises(TrainingError, match="epochs"):
        check_same_config(tmp_path, config.replace(epochs=config.epochs + 1))
