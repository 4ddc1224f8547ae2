"""The readings of the NASNet-Large decoder's recipe (``params/cpu.yaml`` ``readings``): the
paper's "Step size: 5" read four ways, each trained with three seeds under its own profile.

The headline rule, fixed before their runs: the reading with the best mean validation Dice
over its seeds (``training.json`` ``best_val_dice``), the earlier reading on a tie; test scores
never choose it. Until every reading has every seed evaluated there is no headline, and the
book shows the profile's own runs (the first reading). Every comparison of the paper's model
with the others is computed under every reading
(:func:`lungseg_lib.report.reading_comparisons.comparison_by_reading`).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..engine import runfolder
from ..engine.records import read_metrics, read_training
from ..project import repo_path


@dataclass(frozen=True)
class Reading:
    """One reading: its name, the profile its runs are under, and what it trains (in words)."""

    name: str
    profile: str
    words: str


def reading_plan(profile: str = "cpu") -> dict | None:
    """``params/<profile>.yaml``'s ``readings`` (model, seeds, profiles by name), or None."""
    from ..engine.config import profile_params

    return profile_params(profile).get("readings") or None


def schedule_words(profile: str, model: str) -> str:
    """What a profile trains ``model`` with, in words: epochs, batches per epoch, learning rate."""
    from ..engine.config import resolve_config

    c = resolve_config(model, profile)
    steps = f"{c.steps_per_epoch} batches of {c.batch_size} per epoch" if c.steps_per_epoch else "every image per epoch"
    rate = (f"lr {c.learning_rate:g} x{c.lr_schedule['factor']:g} every {c.lr_schedule['step_epochs']:g} epochs"
            if c.lr_schedule else f"constant lr {c.learning_rate:g}")
    return f"{c.epochs} epochs, {steps}, {rate}"


def readings(profile: str = "cpu") -> list[Reading]:
    """The readings of ``profile``'s recipe-readings model, in the order the protocol lists them."""
    plan = reading_plan(profile)
    if not plan:
        return []
    return [Reading(name, p, schedule_words(p, plan["model"])) for name, p in plan["profiles"].items()]


def _seeds(reading: Reading, model: str, runs_dir) -> dict[int, Path]:
    """``{seed: run folder}`` of the reading's evaluated runs (as they are: no headline here)."""
    found = {int(p.name[4:]): p for p in (repo_path(runs_dir) / reading.profile / model).glob("seed*")
             if p.name[4:].isdigit() and runfolder.run_status(p) == "evaluated"}
    return dict(sorted(found.items()))


def _last_training_dice(path: Path) -> float:
    history = path / "history.csv"
    return float(pd.read_csv(history)["dice"].iloc[-1]) if history.exists() else math.nan


def reading_scores(profile: str = "cpu", runs_dir: str | os.PathLike = "runs") -> pd.DataFrame:
    """One row per reading: seeds evaluated (of those planned), mean validation Dice (the headline
    rule's number), mean and seed SD of the test Dice after post-processing, the last epoch's
    training Dice (mean over seeds) and the training wall time (sum and mean per run)."""
    plan, rows = reading_plan(profile), []
    for r in readings(profile):
        seeds = {s: p for s, p in _seeds(r, plan["model"], runs_dir).items() if s in plan["seeds"]}
        training = [read_training(p) for p in seeds.values()]
        tests = [m.post["dice"].mean for m in map(read_metrics, seeds.values()) if m and "dice" in m.post]
        seconds = [t.train_seconds for t in training if t and t.train_seconds]
        rows.append({"reading": r.name, "profile": r.profile, "words": r.words, "seeds": sorted(seeds),
                     "complete": set(plan["seeds"]) <= set(seeds),
                     "val_dice": _mean([t.best_val_dice for t in training if t and t.best_val_dice is not None]),
                     "test_dice": _mean(tests), "test_sd": float(np.std(tests, ddof=1)) if len(tests) > 1 else math.nan,
                     "last_train_dice": _mean([_last_training_dice(p) for p in seeds.values()]),
                     "train_hours": sum(seconds) / 3600, "hours_per_run": _mean(seconds) / 3600})
    return pd.DataFrame(rows)


def _mean(values) -> float:
    return float(np.mean(values)) if len(values) else math.nan


def headline(profile: str = "cpu", runs_dir: str | os.PathLike = "runs") -> str | None:
    """The headline reading's name by the rule (best mean validation Dice, earlier on a tie);
    None until every reading has every planned seed evaluated. Reads only the readings'
    ``training.json`` files (every page of the book asks)."""
    plan = reading_plan(profile)
    if not plan:
        return None
    means = {}
    for name, p in plan["profiles"].items():
        seeds = _seeds(Reading(name, p, ""), plan["model"], runs_dir)
        if not set(plan["seeds"]) <= set(seeds):
            return None
        values = [(read_training(seeds[s]) or None) for s in plan["seeds"]]
        if any(t is None or t.best_val_dice is None for t in values):
            return None  # an evaluated run without its training record: no rule to apply
        means[name] = _mean([t.best_val_dice for t in values])
    return max(means, key=lambda n: (means[n], -list(means).index(n)))  # the earlier reading on a tie


def headline_profile(profile: str, model: str, runs_dir: str | os.PathLike = "runs") -> str | None:
    """The profile of ``profile``'s headline reading when ``model`` is its readings model and the
    rule has picked one; None otherwise."""
    try:
        plan = reading_plan(profile)
    except ValueError:  # not a profile of params/ (e.g. a test's own runs folder)
        return None
    if not plan or plan["model"] != model:
        return None
    name = headline(profile, runs_dir)
    return plan["profiles"][name] if name else None


def readings_table(profile: str = "cpu", runs_dir: str | os.PathLike = "runs") -> pd.DataFrame:
    """:func:`reading_scores` as the book shows it, one row per reading (the headline marked)."""
    scores, best = reading_scores(profile, runs_dir), headline(profile, runs_dir)
    plan = reading_plan(profile) or {"seeds": []}
    rows = []
    for s in scores.itertuples():
        seeds = f"{', '.join(map(str, s.seeds)) or 'none'} of {', '.join(map(str, plan['seeds']))}"
        rows.append({"Reading": s.reading + (" (headline)" if s.reading == best else ""),
                     "What it trains": s.words, "Runs": f"runs/{s.profile}/", "Seeds evaluated": seeds,
                     "Mean val. Dice": _fmt(s.val_dice), "Test Dice post, mean of seeds": _fmt(s.test_dice),
                     "Seed SD": _fmt(s.test_sd), "Last training Dice": _fmt(s.last_train_dice),
                     "Training time (h, all seeds)": f"{s.train_hours:.1f}" if s.train_hours else ""})
    return pd.DataFrame(rows)


def _fmt(value: float) -> str:
    return "" if value is None or math.isnan(value) else f"{value:.4f}"


def headline_sentence(profile: str = "cpu", runs_dir: str | os.PathLike = "runs") -> str:
    """Which reading the book's NASNet-Large decoder is, and why (or why there is none yet)."""
    plan = reading_plan(profile)
    if not plan:
        return f"The {profile} profile has no readings of a recipe."
    best = headline(profile, runs_dir)
    if best is None:
        waiting = [s.reading for s in reading_scores(profile, runs_dir).itertuples() if not s.complete]
        return (f"No headline reading yet: {', '.join(waiting)} still lack(s) seeds; until then the book "
                f"shows the {profile} profile's own runs (the {readings(profile)[0].name} reading).")
    scores = reading_scores(profile, runs_dir).set_index("reading")
    return (f"The headline reading is {best} (mean validation Dice {scores.loc[best, 'val_dice']:.4f} over seeds "
            f"{', '.join(map(str, plan['seeds']))}, the best of the {len(scores)} readings); wherever the book "
            f"shows the NASNet-Large decoder of the {profile} profile, these are its runs.")


def frozen_facts(profile: str = "cpu", runs_dir: str | os.PathLike = "runs", epoch: int = 4) -> dict[str, float]:
    """What the first reading's runs recorded (mean over their seeds, NaN without runs): the
    learning rate in ``epoch`` as a fraction of the first epoch's, the last epoch's learning
    rate, the first epoch after which the training Dice moves less than 0.005, and the last
    training Dice."""
    plan, first = reading_plan(profile), (readings(profile) or [None])[0]
    histories = [pd.read_csv(p / "history.csv") for p in _seeds(first, plan["model"], runs_dir).values()
                 if (p / "history.csv").exists()] if first else []
    if not histories:
        return {k: math.nan for k in ("lr_fraction", "last_lr", "frozen_from", "last_dice")}

    def frozen_from(dice: pd.Series) -> int:
        moving = [i for i in range(len(dice)) if abs(dice.iloc[-1] - dice.iloc[i]) >= 0.005]
        return (max(moving) + 2) if moving else 1  # 1-based epoch after the last that still moved

    return {"lr_fraction": _mean([h["learning_rate"].iloc[epoch - 1] / h["learning_rate"].iloc[0] for h in histories]),
            "last_lr": _mean([h["learning_rate"].iloc[-1] for h in histories]),
            "frozen_from": float(np.median([frozen_from(h["dice"]) for h in histories])),
            "last_dice": _mean([h["dice"].iloc[-1] for h in histories])}


def frozen_sentence(profile: str = "cpu", runs_dir: str | os.PathLike = "runs", epoch: int = 4) -> str:
    """What the first reading's runs recorded, in one sentence (:func:`frozen_facts`), or that
    this build has none of them."""
    first = (readings(profile) or [None])[0]
    f = frozen_facts(profile, runs_dir, epoch)
    if first is None or math.isnan(f["last_dice"]):
        return "This build has no runs of the first reading to show what they recorded,"
    return (f"In its runs of the {first.name} reading, the learning rate was {100 * f['lr_fraction']:.1f}% of its "
            f"start in epoch {epoch}, {f['last_lr']:.1e} in the last, and the training Dice stopped moving from "
            f"epoch {f['frozen_from']:.0f} on, at {f['last_dice']:.3f} (mean of its seeds),")
