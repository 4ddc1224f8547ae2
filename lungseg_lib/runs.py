"""The run folder contract (``runs/<profile>/<model>/``), read and written atomically.

A file is written under a temporary name in the same folder and renamed into place, so an
interrupted run never leaves a half-written file that looks complete.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pandas as pd

RUNS_DIR = Path("runs")
CONFIG, HISTORY, METRICS, PER_IMAGE, ROC = "config.json", "history.csv", "metrics.json", "per_image.csv", "roc.csv"
CHECKPOINTS, STATE, MODEL, PREDICTIONS = "checkpoints", "checkpoints/state.json", "model.keras", "predictions"


def run_dir_for(profile: str, model: str, seed: int = 0, root: str | os.PathLike = RUNS_DIR) -> Path:
    """The default run folder of ``model`` trained with ``profile`` and ``seed``:
    ``runs/<profile>/<model>/seed<seed>``."""
    return Path(root) / profile / model / f"seed{int(seed)}"


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` via a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def write_json(path: str | os.PathLike, data: dict) -> Path:
    """Write a JSON object atomically (sorted keys, floats as written by ``json``)."""
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: str | os.PathLike) -> dict:
    """Read a JSON object, with an error naming the file when it is missing or broken."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: not found") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc


def write_csv(path: str | os.PathLike, table: pd.DataFrame) -> Path:
    """Write a table as CSV atomically."""
    return atomic_write_text(path, table.to_csv(index=False))


def run_status(run_dir: str | os.PathLike) -> str:
    """``missing``, ``started``, ``trained`` (weights exist) or ``evaluated`` (metrics exist)."""
    run_dir = Path(run_dir)
    if (run_dir / METRICS).exists():
        return "evaluated"
    if (run_dir / MODEL).exists():
        return "trained"
    return "started" if (run_dir / CONFIG).exists() else "missing"


def find_runs(root: str | os.PathLike = RUNS_DIR) -> list[Path]:
    """Every run folder (one with a config.json) below ``root``, sorted."""
    return sorted(p.parent for p in Path(root).glob("*/*/" + CONFIG))
