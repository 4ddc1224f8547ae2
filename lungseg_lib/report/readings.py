"""The readings of the NASNet-Large decoder's recipe (``params/cpu.yaml`` ``readings``): the
paper's "Step size: 5" read four ways, each trained with three seeds under its own profile.

The headline rule, fixed before their runs: the reading with the best mean validation Dice
over its seeds (``training.json`` ``best_val_dice``), the earlier reading on a tie; test scores
never choose it. Until every reading has every seed evaluated there is no headline, and the
book shows the profile's own runs (the first reading). Every comparison of the paper's model
with the others is computed under every reading (:func:`comparison_by_reading`).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..engine.records import read_metrics, read_training
from . import profile_runs


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
    return profile_runs.seed_dirs(reading.profile, model, runs_dir, headline=False)


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
    None until every reading has every planned seed evaluated."""
    scores = reading_scores(profile, runs_dir)
    if scores.empty or not scores["complete"].all():
        return None
    return str(scores.loc[scores["val_dice"].idxmax(), "reading"])  # idxmax: the first of equals


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


SIDES = {"better": "better", "worse": "worse", "not separable": "not separable"}


def _sides(profile: str, reading: Reading, model: str, runs_dir, metric: str) -> dict[str, tuple[str, float]]:
    """``{other model: (side, mean difference)}``: the readings model under ``reading`` against
    every other model of ``profile`` (model minus other), by the seed rule of
    :func:`lungseg_lib.report.verdicts.seed_direction`; missing runs left out."""
    from .results import paired_comparisons
    from .verdicts import seed_direction

    out = {}
    for _, c in paired_comparisons(profile, runs_dir, model, metric, reference_profile=reading.profile).iterrows():
        if pd.isna(c["mean_diff"]):
            continue
        flipped = " ".join({"+": "-", "-": "+"}.get(x, x) for x in str(c["seed_signs"]).split())
        out[c["model"]] = (seed_direction(-c["ci_high"], -c["ci_low"], flipped), -float(c["mean_diff"]))
    return out


def comparison_by_reading(profile: str = "cpu", runs_dir: str | os.PathLike = "runs",
                          metric: str = "dice_post") -> pd.DataFrame:
    """One row per other model: the readings model against it under every reading (``worse
    (-0.042)``: its mean per-image difference, readings model minus other, and the seed rule's
    side), and across the readings: ``worse under every reading``, ``better under every
    reading``, ``not separable under every reading``, or ``depends on the reading`` naming
    which side each reading gives; ``incomplete`` while a reading's runs are missing."""
    plan = reading_plan(profile)
    model, rows = plan["model"], []
    sides = {r.name: _sides(profile, r, model, runs_dir, metric) for r in readings(profile)}
    for other in profile_runs.registry_models():
        if other == model:
            continue
        row = {"Model": profile_runs.title_of(other)}
        for name, by_model in sides.items():
            side = by_model.get(other)
            row[name] = f"{side[0]} ({side[1]:+.3f})" if side else "missing"
        row["Across readings"] = across(
            {name: by_model[other][0] for name, by_model in sides.items() if other in by_model}, list(sides))
        rows.append(row)
    return pd.DataFrame(rows)


def across(sides: dict[str, str], names: list[str]) -> str:
    """The verdict across readings from each reading's side (``names``: every reading)."""
    if set(sides) != set(names):
        missing = [n for n in names if n not in sides]
        return f"incomplete ({', '.join(missing)} not evaluated)"
    if len(set(sides.values())) == 1:
        return f"{next(iter(sides.values()))} under every reading"
    groups: dict[str, list[str]] = {}
    for name, side in sides.items():
        groups.setdefault(side, []).append(name)
    return "depends on the reading: " + "; ".join(f"{side} under {', '.join(n)}" for side, n in groups.items())


def size_ranking(profile: str = "cpu", large: str = "cpu-256", runs_dir: str | os.PathLike = "runs",
                 seed: int = 0) -> tuple[pd.DataFrame, str]:
    """The input-size check: the models ``params/<large>.yaml`` plans, their seed-``seed`` test
    Dice (after post-processing) at ``profile``'s size and at ``large``'s (the paper's model with
    the headline reading at both), ranked at each; and a sentence saying whether the ranking at
    the larger size is the ranking at the smaller one (or what is still missing)."""
    from ..engine.config import profile_params
    from ..engine.records import read_metrics

    rows = []
    for model in profile_params(large).get("plan_models") or []:
        row = {"model": model, "Model": profile_runs.title_of(model)}
        for name, p in (("small", profile), ("large", large)):
            path = profile_runs.seed_dirs(p, model, runs_dir).get(seed)
            metrics = read_metrics(path) if path else None
            row[name] = metrics.post["dice"].mean if metrics else math.nan
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty or table[["small", "large"]].isna().any().any():
        sizes = {k: f"{profile_params(p)['image_size']} px" for k, p in (("small", profile), ("large", large))}
        missing = [f"{r.Model} at {sizes[k]}" for r in table.itertuples() for k, v in (("small", r.small), ("large", r.large))
                   if math.isnan(v)]
        return table, f"Not measured yet: {', '.join(missing)} missing."
    for col in ("small", "large"):
        table[f"rank_{col}"] = table[col].rank(ascending=False, method="min").astype(int)
    order = {c: " > ".join(table.sort_values(c, ascending=False)["Model"]) for c in ("small", "large")}
    same = order["small"] == order["large"]
    return table, (f"The ranking at the larger input size {'is' if same else 'is not'} the ranking at the smaller "
                   f"one (seed {seed}, test Dice after post-processing): {order['large']} at the larger size"
                   + ("" if same else f", {order['small']} at the smaller"))
