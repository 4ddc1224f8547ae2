"""The run folder contract (``runs/<profile>/<model>/seed<k>/``): its file names and status.

Every file of a run folder is written atomically (:mod:`lungseg_lib.files`), so an
interrupted run never leaves a half-written file that looks complete.
"""

from __future__ import annotations

import os
from pathlib import Path

RUNS_DIR = Path("runs")
CONFIG, HISTORY, METRICS, PER_IMAGE, ROC = "config.json", "history.csv", "metrics.json", "per_image.csv", "roc.csv"
CHECKPOINTS, STATE, MODEL, PREDICTIONS = "checkpoints", "checkpoints/state.json", "model.keras", "predictions"


def run_dir_for(profile: str, model: str, seed: int = 0, root: str | os.PathLike = RUNS_DIR) -> Path:
    """The default run folder of ``model`` trained with ``profile`` and ``seed``:
    ``runs/<profile>/<model>/seed<seed>``."""
    return Path(root) / profile / model / f"seed{int(seed)}"


def run_status(run_dir: str | os.PathLike) -> str:
    """``missing``, ``started``, ``trained`` (weights exist) or ``evaluated`` (metrics exist)."""
    run_dir = Path(run_dir)
    if (run_dir / METRICS).exists():
        return "evaluated"
    if (run_dir / MODEL).exists():
        return "trained"
    return "started" if (run_dir / CONFIG).exists() else "missing"

