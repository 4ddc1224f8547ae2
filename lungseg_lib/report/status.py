"""The build's status page (notebook 09): each run's provenance with its executed training
notebook, and the timings of the book's notebooks."""

from __future__ import annotations

import json
import math
import os

import pandas as pd

from ..engine import runfolder
from ..engine.records import RunRecord, read_run_record
from ..project import relative_to_repo, repo_path
from .profile_runs import registry_models, run_dir


def run_records(profile: str, runs_dir: str | os.PathLike = "runs") -> pd.DataFrame:
    """For every registry model: run status, git commit, data fingerprint, device and the
    executed training notebook (path relative to the repository, or '')."""
    rows = []
    for model in registry_models():
        path = run_dir(profile, model, runs_dir)
        record = read_run_record(path) or RunRecord()
        env = record.environment
        notebook = path / runfolder.TRAIN_NOTEBOOK
        rows.append({"model": model, "status": runfolder.run_status(path), "git commit": env.get("git_commit", "")[:10],
                     "data fingerprint": record.data_fingerprint or "", "device": env.get("device", ""),
                     "notebook": relative_to_repo(notebook) if notebook.exists() else ""})
    return pd.DataFrame(rows)


def training_notebook_links(profile: str, runs_dir: str | os.PathLike, dest: str | os.PathLike) -> pd.DataFrame:
    """Copy each run's executed training notebook to ``dest/<profile>/<model>.ipynb`` (so the
    book can offer it as a download) and return :func:`run_records` with a MyST download link
    (relative to ``dest``'s parent) in the column ``notebook``."""
    import shutil

    records = run_records(profile, runs_dir)
    dest = repo_path(dest)
    links = []
    for model, notebook in zip(records["model"], records["notebook"]):
        if not notebook:
            links.append("missing")
            continue
        target = dest / profile / f"{model}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo_path(notebook), target)
        links.append(f"{{download}}`train.ipynb <{dest.name}/{profile}/{model}.ipynb>`")
    return records.assign(notebook=links)


PATH_PARAMETERS = ("runs_dir", "data_dir", "figures_dir", "executed_dir")


def notebook_timings(folder: str | os.PathLike, skip: tuple[str, ...] = ()) -> pd.DataFrame:
    """Notebook, start time, duration (s) and parameters (folders left out) from the papermill
    metadata of the executed notebooks in ``folder``, except the stems in ``skip``."""
    rows = []
    for path in sorted(repo_path(folder).glob("[0-9][0-9]_*.ipynb")):
        if path.stem in skip:
            continue
        meta = json.loads(path.read_text(encoding="utf-8")).get("metadata", {}).get("papermill", {})
        params = {k: v for k, v in (meta.get("parameters") or {}).items() if k not in PATH_PARAMETERS}
        rows.append({"notebook": path.stem, "start": (meta.get("start_time") or "")[:19].replace("T", " "),
                     "seconds": float(meta["duration"]) if meta.get("duration") is not None else math.nan,
                     "parameters": ", ".join(f"{k}={v}" for k, v in params.items())})
    return pd.DataFrame(rows, columns=["notebook", "start", "seconds", "parameters"])
