"""The new default model's selection (``params/select.yaml`` ``selection``, fixed before any
candidate's run): every candidate scored on validation images only, the rule applied, the
choice named.

A candidate is a ``(profile, model)`` whose seed-0 run was evaluated on each data set's
validation split (``lungseg evaluate RUN --data NAME --split val``: ``RUN/evaluations/NAME-val/``,
clean scores and the perturbation grid) and timed at the final input size
(``scripts/time_candidates.py``: ``bench/selection/timing.json``). It qualifies when every
family's mean Dice after post-processing at severity 3 reaches the floor on every validation
split, its time per image is within the limit and its weights (float32, or float16 when that
fits) within the size limit; the choice is the qualifying candidate with the best mean clean
validation Dice, or, when none qualifies, the one with the highest worst-family Dice at severity
3 (its shortfall said). No TensorFlow.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pandas as pd

from ..engine import runfolder
from ..engine.records import read_metrics, read_training
from ..files import read_json
from ..project import repo_path
from . import profile_runs

TIMING = Path("bench") / "selection" / "timing.json"
SEVERITY = 3


def rule(profile: str = "select") -> dict:
    """The selection rule of ``params/<profile>.yaml`` (candidates, validation sets, limits)."""
    from ..engine.config import profile_params

    return profile_params(profile)["selection"]


def _val_scores(run: Path, data: str) -> dict:
    """Clean validation Dice (post) and the worst family's mean Dice at :data:`SEVERITY` (with
    its name) of one run on one data set's validation split; NaN when not evaluated."""
    folder = runfolder.evaluation_dir(run, data, "val")
    metrics = read_metrics(folder)
    out = {"clean": metrics.post["dice"].mean if metrics and "dice" in metrics.post else math.nan,
           "worst": math.nan, "worst_family": ""}
    grid = folder / runfolder.ROBUSTNESS
    if grid.exists():
        g = pd.read_csv(grid)
        by_family = g[g.severity == SEVERITY].groupby("family")["dice_post"].mean()
        if len(by_family):
            out.update(worst=float(by_family.min()), worst_family=str(by_family.idxmin()))
    return out


def candidate_scores(profile: str = "select", runs_dir: str | os.PathLike = "runs",
                     timing: str | os.PathLike = TIMING) -> pd.DataFrame:
    """One row per candidate: each validation set's clean Dice and worst family at severity 3,
    the time per image, the size of its weights, whether it qualifies (and why not)."""
    r = rule(profile)
    times = read_json(repo_path(timing)) if repo_path(timing).exists() else {}
    rows = []
    for cand_profile, model in r["candidates"]:
        run = repo_path(runs_dir) / cand_profile / model / "seed0"
        row = {"candidate": f"{cand_profile}/{model}", "Model": profile_runs.title_of(model)}
        for data in r["validation"]:
            s = _val_scores(run, data)
            row.update({f"clean {data}": s["clean"], f"worst s{SEVERITY} {data}": s["worst"],
                        f"worst family {data}": s["worst_family"]})
        params = (read_training(run).params if read_training(run) else None) or math.nan
        row["MB float32"], row["ms per image"] = 4 * params / 1e6, times.get(row["candidate"], {}).get("median", math.nan)
        rows.append(row)
    table = pd.DataFrame(rows)
    return _judge(table, r) if len(table) else table


def _judge(table: pd.DataFrame, r: dict) -> pd.DataFrame:
    """Add ``mean clean``, ``worst``, ``qualifies`` (with the reasons it does not) and ``chosen``."""
    sets = list(r["validation"])
    table["mean clean"] = table[[f"clean {d}" for d in sets]].mean(axis=1, skipna=False)
    table["worst"] = table[[f"worst s{SEVERITY} {d}" for d in sets]].min(axis=1, skipna=False)

    def why_not(row) -> str:
        reasons = []
        if math.isnan(row["worst"]) or math.isnan(row["mean clean"]):
            return "not measured yet"
        if row["worst"] < r["floor_severity3"]:
            reasons.append(f"a family at severity {SEVERITY} below {r['floor_severity3']}")
        if math.isnan(row["ms per image"]):
            reasons.append("not timed yet")
        elif row["ms per image"] > r["max_ms_per_image"]:
            reasons.append(f"over {r['max_ms_per_image']:g} ms per image")
        if row["MB float32"] / 2 > r["max_mb"]:  # float16 allowed
            reasons.append(f"over {r['max_mb']:g} MB even in float16")
        return "; ".join(reasons)

    table["not qualifying because"] = table.apply(why_not, axis=1)
    table["chosen"] = False
    measured = table[table["not qualifying because"] != "not measured yet"]
    if len(measured) == len(table):
        ok = table[table["not qualifying because"] == ""]
        best = ok["mean clean"].idxmax() if len(ok) else table["worst"].idxmax()
        table.loc[best, "chosen"] = True
    return table


def choice_sentence(profile: str = "select", runs_dir: str | os.PathLike = "runs",
                    timing: str | os.PathLike = TIMING) -> str:
    """The rule's outcome in words (or what it is still waiting for)."""
    table = candidate_scores(profile, runs_dir, timing)
    if table.empty or not table["chosen"].any():
        waiting = table.loc[table["not qualifying because"] == "not measured yet", "candidate"].tolist() if len(
            table) else []
        return f"No choice yet: {', '.join(waiting) or 'no candidate'} not measured on every validation split."
    c = table[table["chosen"]].iloc[0]
    qualified = c["not qualifying because"] == ""
    return (f"The rule chooses {c['Model']} ({c['candidate']}): mean clean validation Dice {c['mean clean']:.4f}, "
            f"worst family at severity {SEVERITY} {c['worst']:.3f}"
            + ("" if qualified else f" (no candidate qualifies; it misses: {c['not qualifying because']})") + ".")
