"""The paper's model against the others under every reading of its recipe
(:mod:`lungseg_lib.report.readings`), the verdict across the readings, and the input-size check
(the ranking at 256 px beside the ranking at 128 px)."""

from __future__ import annotations

import math
import os

import pandas as pd

from . import profile_runs
from .readings import Reading, reading_plan, readings


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
    if not plan:
        return pd.DataFrame(columns=["Model", "Across readings"])
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


SIZE_CHECKS = {"cpu": "cpu-256"}  # a profile -> the same protocol at a larger input size


def size_ranking(profile: str = "cpu", large: str | None = None, runs_dir: str | os.PathLike = "runs",
                 seed: int = 0) -> tuple[pd.DataFrame, str]:
    """The input-size check: the models ``params/<large>.yaml`` plans, their seed-``seed`` test
    Dice (after post-processing) at ``profile``'s size and at ``large``'s (the paper's model with
    the headline reading at both), ranked at each; and a sentence saying whether the ranking at
    the larger size is the ranking at the smaller one (or what is still missing)."""
    from ..engine.config import profile_params
    from ..engine.records import read_metrics

    large = large or SIZE_CHECKS.get(profile)
    if large is None:
        return pd.DataFrame(columns=["Model"]), f"The {profile} profile has no input-size check."
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


def verdict_sentence(profile: str = "cpu", runs_dir: str | os.PathLike = "runs", metric: str = "dice_post") -> str:
    """The comparison across readings in one sentence: the other models grouped by the verdict
    across the readings (:func:`comparison_by_reading`)."""
    table = comparison_by_reading(profile, runs_dir, metric)
    if table.empty:
        return f"The {profile} profile has no readings of the paper's recipe."
    groups: dict[str, list[str]] = {}
    for row in table.itertuples():
        verdict = row[-1].split(":")[0].split(" (")[0]  # "depends on the reading: ..." -> its head
        groups.setdefault(verdict, []).append(row.Model)
    parts = [f"{verdict} against {', '.join(models)}" for verdict, models in groups.items()]
    verdicts = "; ".join(parts).replace("incomplete against", "not yet compared under every reading with")
    return (f"Under the {len(readings(profile))} readings of its schedule, the NASNet-Large decoder is "
            f"{verdicts}.")


def protocol_values(profile: str = "cpu") -> dict[str, str | float]:
    """The numbers the method chapter says about the readings' protocol and the training flag,
    for gluing: when the readings were written, their seeds, the flag's thresholds, the input
    sizes of the size check and the NASNet-Large encoder's output at the smaller size."""
    from ..core.models import get_spec
    from ..engine.config import profile_params
    from .training import DICE_GAP, LR_FLOOR

    plan = reading_plan(profile) or {"seeds": [], "written": ""}
    large = SIZE_CHECKS.get(profile)
    small_px = int(profile_params(profile).get("image_size", 0) or 0)
    models = profile_params(large).get("plan_models", []) if large else []
    seeds = [str(s) for s in plan["seeds"]]
    return {"written": str(plan.get("written", "")),
            "seeds": ", ".join(seeds[:-1]) + (" and " if len(seeds) > 1 else "") + (seeds[-1] if seeds else ""),
            "lr_floor_pct": 100 * LR_FLOOR, "dice_gap": DICE_GAP, "small_px": float(small_px),
            "large_px": float(profile_params(large)["image_size"]) if large else math.nan,
            "encoder_side": float(small_px // 16), "size_models": ", ".join(get_spec(m).title for m in models)}
