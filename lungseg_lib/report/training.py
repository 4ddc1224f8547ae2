"""The training runs as the book shows them: every run's history (the training curves) and its
cost (epochs, best epoch, wall time, the machine's load)."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

from ..engine import runfolder
from ..engine.records import RunRecord, Training, read_run_record, read_training
from ..environment import cpu_label
from .profile_runs import registry, run_folders


def history_long(profile: str, runs_dir: str | os.PathLike = "runs") -> pd.DataFrame:
    """Every run's history.csv stacked (every seed), with columns model, title (marked when the
    run is unfinished), seed, epoch and the metrics."""
    frames = []
    for _, spec in registry().iterrows():
        for seed, path in run_folders(profile, spec["name"], runs_dir).items():
            if (path / runfolder.HISTORY).exists():
                done = runfolder.run_status(path) in ("trained", "evaluated")
                title = spec["title"] + ("" if done else " (unfinished)")
                frames.append(pd.read_csv(path / runfolder.HISTORY).assign(model=spec["name"], title=title, seed=seed))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["model", "title", "seed", "epoch"])


#: the check that would have caught the frozen schedule: a run is flagged when its learning rate
#: falls below LR_FLOOR of its start before half its epochs, or when its last training Dice is
#: more than DICE_GAP below the median of the study's models (fixed 2026-12-06)
LR_FLOOR, DICE_GAP = 0.01, 0.02


def run_flag(history: pd.DataFrame, epochs: int, median_last_dice: float) -> str:
    """Why a run's training deserves a look before it is compared (empty when it does not): its
    learning rate below :data:`LR_FLOOR` of the first epoch's before half of ``epochs``, or its
    last training Dice more than :data:`DICE_GAP` below ``median_last_dice``."""
    flags = []
    if len(history) and "learning_rate" in history:
        lr = history["learning_rate"].to_numpy(float)
        low = [int(e) for e, v in zip(history["epoch"], lr) if v < LR_FLOOR * lr[0]]
        if low and low[0] <= epochs / 2:
            flags.append(f"learning rate below {LR_FLOOR:.0%} of its start from epoch {low[0]} of {epochs}")
    if len(history) and "dice" in history:
        last = float(history["dice"].iloc[-1])
        if last < median_last_dice - DICE_GAP:
            flags.append(f"last training Dice {last:.3f}, more than {DICE_GAP} below the study's median "
                         f"{median_last_dice:.3f}")
    return "; ".join(flags)


def _run_rows(profile: str, runs_dir, label: str = "") -> list[dict]:
    """The training table's rows of one profile's runs (``label`` after each model's title)."""
    rows = []
    for _, spec in registry().iterrows():
        for seed, path in run_folders(profile, spec["name"], runs_dir).items():
            info = read_training(path) or Training()
            saved = read_run_record(path) or RunRecord()
            history = pd.read_csv(path / runfolder.HISTORY) if (path / runfolder.HISTORY).exists() else pd.DataFrame()
            rows.append({"Model": spec["title"] + label, "Seed": seed, "Status": runfolder.run_status(path),
                         "Epochs": _or_blank(info.epochs_run), "Planned": saved.config.get("epochs", ""),
                         "Best epoch": _or_blank(info.best_epoch),
                         "Best val. Dice": _or_blank(info.best_val_dice, "{:.4f}"),
                         "Train time (min)": f"{info.train_seconds / 60:.1f}" if info.train_seconds else "",
                         "Mean load": f"{info.mean_load_1min:.2f}" if info.mean_load_1min else "",
                         "CPU": cpu_label(saved.environment),
                         "Parameters": f"{info.params / 1e6:.2f} M" if info.params else "",
                         "_model": spec["name"], "_history": history})
    return rows


def training_table(profile: str, runs_dir: str | os.PathLike = "runs") -> pd.DataFrame:
    """One row per run (model and seed; the runs of every reading of a recipe, for a profile with
    readings): status, epochs run, best epoch and validation Dice, wall time of training, how
    busy the machine was (mean 1-minute load average over the epochs, on a machine with the
    run's cores), parameters, and the flag of :func:`run_flag` (the median: of the profile's
    models' last training Dice, seeds averaged)."""
    from .readings import reading_plan, readings

    rows = _run_rows(profile, runs_dir)
    last = {}
    for r in rows:
        if len(r["_history"]) and "dice" in r["_history"]:
            last.setdefault(r["_model"], []).append(float(r["_history"]["dice"].iloc[-1]))
    median = float(np.median([np.mean(v) for v in last.values()])) if last else float("nan")
    for reading in readings(profile):
        if reading.profile != profile:
            rows += [r for r in _run_rows(reading.profile, runs_dir, f" (reading: {reading.name})")
                     if r["_model"] == reading_plan(profile)["model"]]
    for r in rows:
        planned = r["Planned"] if isinstance(r["Planned"], int) else len(r["_history"])
        r["Flag"] = run_flag(r.pop("_history"), planned, median)
        r.pop("_model")
    return pd.DataFrame(rows)


def _or_blank(value, form: str = "{}") -> str | int | float:
    """``value`` (formatted with ``form`` unless it is the plain ``{}``), or "" when it is None."""
    if value is None:
        return ""
    return value if form == "{}" else form.format(value)


def cost_sentence(profile: str, runs_dir: str | os.PathLike = "runs") -> str:
    """The study's cost in words: the finished runs' total training time, per CPU they were
    trained on, and the range of the machine's mean 1-minute load during their epochs."""
    runs, seconds, loads = 0, {}, []
    for _, spec in registry().iterrows():
        for path in run_folders(profile, spec["name"], runs_dir).values():
            info = read_training(path)
            if info is None or not info.train_seconds:
                continue
            cpu = cpu_label((read_run_record(path) or RunRecord()).environment) or "an unrecorded CPU"
            runs += 1
            seconds[cpu] = seconds.get(cpu, 0.0) + info.train_seconds
            if info.mean_load_1min is not None:
                loads.append(info.mean_load_1min)
    if not runs:
        return "No run of this profile has finished training yet."
    per_cpu = "; ".join(f"{s / 3600:.1f} h on {cpu}" for cpu, s in seconds.items())
    load = (f"; the mean 1-minute load average over a run's epochs was {min(loads):.1f} to {max(loads):.1f} "
            "(the training itself keeps it near the number of cores it uses: above that, other work "
            "shared the machine)") if loads else ""
    return (f"The {runs} finished runs took {sum(seconds.values()) / 3600:.1f} h of training in total "
            f"({per_cpu}){load}.")
