"""Training one run the way ``lungseg train`` does, for the command line and the book alike:
resolve and check the configuration, prepare its data, then execute ``notebooks/00_train.ipynb``
with papermill into the run folder (``train.ipynb``), which trains (or resumes) and evaluates.

TensorFlow is imported only by the notebook's kernel, or to compare an evaluated run's
parameters with the ones asked for.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def train_run(model: str, profile: str, seed: int | None = None, overrides: dict | None = None,
              data: str | None = None, run_dir: str | os.PathLike | None = None, force: bool = False,
              evaluate: bool = True) -> tuple[Path, bool]:
    """Train ``model`` with ``profile`` (``overrides`` on top; ``seed`` and ``data`` are two of
    them) into ``run_dir`` (default ``runs/PROFILE/MODEL/seedSEED``) and evaluate it unless
    ``evaluate`` is False; return the run folder and whether it trained.

    A run folder already evaluated with the same parameters is left as it is (trained: False);
    with other parameters it is a ``TrainingError`` unless ``force`` (train again from scratch).
    Bad names and input sizes fail before anything runs; a failing notebook raises papermill's
    ``PapermillExecutionError`` (its ``ename`` and ``evalue`` say what failed).
    """
    from ..core.models import check_input_shape
    from ..notebooks import run_notebook
    from . import runfolder
    from .config import resolve_config
    from .datasets import prepare_data

    overrides = dict(overrides or {})
    if data:
        overrides["data"] = data
    if seed is not None:
        overrides["seed"] = seed
    config = resolve_config(model, profile, overrides)  # fails early on bad names
    check_input_shape(model, (config.image_size, config.image_size, 1))
    run_dir = Path(run_dir) if run_dir else runfolder.run_dir_for(profile, model, config.seed)
    if not force and runfolder.run_status(run_dir) == "evaluated":
        from .training import check_same_config

        check_same_config(run_dir, config)
        return run_dir, False
    prepare_data(config)  # the data step: the synthetic set of a smoke run, a missing split
    run_notebook("train", run_dir / runfolder.TRAIN_NOTEBOOK, log_output=True, parameters={
        "model": model, "profile": profile, "run_dir": str(run_dir), "overrides": json.dumps(overrides),
        "force": force, "evaluate_after": evaluate})
    return run_dir, True
