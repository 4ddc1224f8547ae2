"""The run folder contract (``runs/<profile>/<model>/seed<k>/``): its file names, its status and
reading its files. The one place these names are written down; nothing here imports TensorFlow.

Every file of a run folder is written atomically (:mod:`lungseg_lib.files`), so an
interrupted run never leaves a half-written file that looks complete. ``metrics.json`` is
written last by the evaluation: its presence means the run is evaluated.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..files import read_json

RUNS_DIR = Path("runs")
CONFIG = "config.json"  # every parameter, git commit, data fingerprint, versions, device
HISTORY = "history.csv"  # one row per finished epoch
TRAINING = "training.json"  # epochs run, best epoch, wall time, mean load, parameters
TRAIN_NOTEBOOK = "train.ipynb"  # the executed training notebook (papermill output)
METRICS = "metrics.json"  # the evaluation's summary (written last)
PER_IMAGE = "per_image.csv"  # one row per test image
ROC = "roc.csv"
ROBUSTNESS = "robustness.csv"  # per image x perturbation family x severity
EXAMPLE = "robustness_example.npz"  # the example image's masks at every severity
PREDICTIONS = "predictions"  # binary test-set predictions before post-processing, NAME.png
EVALUATIONS = "evaluations"  # evaluations/<data>-<split>/: the run scored on other data or splits
MODEL = "model.keras"  # the weights (git-ignored)
CHECKPOINTS = "checkpoints"  # last and best epoch's weights and optimizer state (git-ignored)
STATE = f"{CHECKPOINTS}/state.json"  # names the checkpoints to resume from: written last each epoch
#: what a new training run replaces (``lungseg train --force``)
RESULTS = (CONFIG, MODEL, METRICS, HISTORY, PER_IMAGE, ROC, TRAINING)


def run_dir_for(profile: str, model: str, seed: int = 0, root: str | os.PathLike = RUNS_DIR) -> Path:
    """The default run folder of ``model`` trained with ``profile`` and ``seed``:
    ``runs/<profile>/<model>/seed<seed>``."""
    return Path(root) / profile / model / f"seed{int(seed)}"


def evaluation_dir(run_dir: str | os.PathLike, data_name: str, split: str) -> Path:
    """Where a run's evaluation on another data set or split goes (the same files as its own:
    metrics.json, per_image.csv, robustness.csv ...): ``evaluations/<data>-<split>/``."""
    return Path(run_dir) / EVALUATIONS / f"{data_name}-{split}"


def run_status(run_dir: str | os.PathLike) -> str:
    """``missing``, ``started``, ``trained`` (weights exist) or ``evaluated`` (metrics exist)."""
    run_dir = Path(run_dir)
    if (run_dir / METRICS).exists():
        return "evaluated"
    if (run_dir / MODEL).exists():
        return "trained"
    return "started" if (run_dir / CONFIG).exists() else "missing"


def read_optional(run_dir: str | os.PathLike, name: str) -> dict | None:
    """The JSON file ``name`` of a run folder, or None when it is not there (typed records of
    ``config.json``, ``metrics.json`` and ``training.json``: :mod:`lungseg_lib.engine.records`)."""
    path = Path(run_dir) / name
    return read_json(path) if path.exists() else None


def read_per_image(run_dir: str | os.PathLike):
    """``per_image.csv`` of a run folder as a pandas table, or None when it is not there."""
    import pandas as pd

    path = Path(run_dir) / PER_IMAGE
    return pd.read_csv(path) if path.exists() else None


def read_training(run_dir: str | os.PathLike) -> dict:
    """``training.json`` of a run folder, or ``{}`` when training has not finished."""
    return read_optional(run_dir, TRAINING) or {}


class WeightsError(ValueError):
    """A weight file cannot be found, fetched or trusted; the message says which and what to do."""


def weights_file(folder: str | os.PathLike) -> Path:
    """The ``.keras`` file of a model folder: ``model.keras``, else its only ``*.keras`` file."""
    folder = Path(folder)
    if (folder / MODEL).is_file():
        return folder / MODEL
    found = sorted(folder.glob("*.keras"))
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise WeightsError(f"{folder}: {len(found)} .keras files ({', '.join(p.name for p in found)}); "
                           "keep one per model folder")
    raise FileNotFoundError(
        f"{folder / MODEL}: this run has no weights (they are not kept in git). Train it with "
        f"`lungseg train --run-dir {folder} ...` (same profile and model) to recreate them, or use "
        "exported or fetched weights (`lungseg weights --help`)")
