"""Checkpoints of a training run: after every epoch the weights, the optimizer state, the
history and, last, ``checkpoints/state.json``, which names the files to resume from.

``state.json`` is the commit point of an epoch: a process killed anywhere before it is written
resumes from the previous, complete epoch.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from .. import files
from . import runfolder
from .config import TrainConfig


class TrainingError(RuntimeError):
    """Training cannot go on (NaN loss, out of memory, a run folder from another config)."""


def initial_state(path: Path) -> dict:
    """The saved ``state.json`` of a run, or the state of a run that has not started."""
    return files.read_json(path) if path.exists() else {
        "epochs_done": 0, "best_val_dice": -1.0, "best_epoch": None, "best": None, "last": None,
        "wait": 0, "seconds": 0.0, "stopped": None}


def save_optimizer(model, path: Path) -> None:
    """The optimizer's variables as ``v0, v1, ...`` in an ``.npz`` file (atomically)."""
    arrays = {f"v{i}": np.asarray(v) for i, v in enumerate(model.optimizer.variables)}
    with files.replacing(path) as tmp:
        np.savez(tmp, **arrays)


def load_optimizer(model, path: Path) -> None:
    """Restore what :func:`save_optimizer` saved (TrainingError if the variables differ)."""
    model.optimizer.build(model.trainable_variables)
    saved = np.load(path)
    variables = model.optimizer.variables
    if len(saved.files) != len(variables):
        raise TrainingError(f"{path}: optimizer state has {len(saved.files)} variables, "
                            f"the model's optimizer {len(variables)}")
    for i, v in enumerate(variables):
        v.assign(saved[f"v{i}"])


class EpochCheckpoint(keras.callbacks.Callback):
    """After every epoch: save weights and optimizer state, history, then state.json.

    state.json is written last and names the checkpoint files to use, so a process killed
    anywhere in between resumes from the previous, complete epoch. The selection rule: the
    best epoch by validation Dice; early stopping watches the config's monitor.
    """

    def __init__(self, run_dir: Path, config: TrainConfig, state: dict, history: list):
        super().__init__()
        self.run_dir, self.config, self.state, self.history = run_dir, config, state, history
        self.ckpt = run_dir / runfolder.CHECKPOINTS
        self.ckpt.mkdir(parents=True, exist_ok=True)
        self._nan = False

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if logs and not math.isfinite(float(logs.get("loss", 0.0))):
            self._nan = True
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self._nan:
            self.state["stopped"] = "nan"
            files.write_json(self.run_dir / runfolder.STATE, self.state)
            return
        logs = {k: float(v) for k, v in (logs or {}).items()}
        seconds = time.perf_counter() - self._t0
        tag = f"epoch_{epoch + 1:04d}"
        self.model.save_weights(self.ckpt / f"{tag}.weights.h5")
        save_optimizer(self.model, self.ckpt / f"{tag}.optimizer.npz")
        self._select(epoch, tag, logs)
        self.history.append({"epoch": epoch + 1, **logs, "seconds": round(seconds, 2)})
        # how busy the machine was (1-minute load average at each epoch's end), for the cost table
        self.state["load_1min"] = self.state.get("load_1min", []) + [round(os.getloadavg()[0], 2)]
        files.write_csv(self.run_dir / runfolder.HISTORY, pd.DataFrame(self.history))
        self.state.update(epochs_done=epoch + 1, last=tag, seconds=self.state["seconds"] + seconds)
        patience = self.config.early_stopping_patience
        if patience and self.state["wait"] >= patience:
            self.state["stopped"] = f"early stopping after {patience} epochs without improvement"
            self.model.stop_training = True
        files.write_json(self.run_dir / runfolder.STATE, self.state)  # the commit point of the epoch
        for f in self.ckpt.glob("epoch_*"):
            if f.name.split(".")[0] not in (self.state["last"], self.state["best"]):
                f.unlink()

    def _select(self, epoch: int, tag: str, logs: dict) -> None:
        """Keep the best epoch by validation Dice; count the epochs without improvement of the
        early-stopping monitor."""
        val = logs.get("val_dice", -1.0)
        improved = val > self.state["best_val_dice"]
        if improved:  # the selection rule: the best epoch by validation Dice
            self.state.update(best_val_dice=val, best_epoch=epoch + 1, best=tag)
        if self.config.early_stopping_monitor == "val_loss":
            loss = logs.get("val_loss", math.inf)
            improved = loss < self.state.get("best_val_loss", math.inf)
            if improved:
                self.state["best_val_loss"] = loss
        self.state["wait"] = 0 if improved else self.state["wait"] + 1
