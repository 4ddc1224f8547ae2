"""The paper's measurable claims (post-processing, accuracy, comparison, failures), each
checked against the runs of one profile.

Every verdict is computed from the measured numbers by the rules below, so the book's
claims table changes with the runs and is never typed. A verdict says where it was measured
("holds on <data> at <size> px"): a claim that holds on other data, at another input size,
is not the paper's result reproduced.

The rules of :mod:`lungseg_lib.report.verdicts` (CIs against a value or zero, ``MIN_EFFECT``,
``ALPHA``, the sign in every seed), and for the failures claim:

- the "too light or too dark" explanation is supported by correlation when the per-image
  score falls with the distance from the median brightness (Spearman rho < 0, p < ``ALPHA``);
- it is supported by intervention when making the same test images darker and lighter
  (``DARKER`` and ``LIGHTER`` at severity ``INTERVENTION_SEVERITY``, fixed before any grid was
  scored) each lowers the mean Dice by more than ``MIN_EFFECT``, with the paired CI of the
  drop above zero;
"""

from __future__ import annotations

import math
import os

import pandas as pd

from ..core.stats import summarize
from ..engine.records import RunRecord, read_metrics, read_run_record
from . import failures, papers, profile_runs, results, tables
from .verdicts import ALPHA, MIN_EFFECT, direction, reached, seed_direction

NOT_MEASURED = "not measured yet"
MODEL = profile_runs.REFERENCE_MODEL  # the paper's model, whose claims these are
DARKER, LIGHTER = "brightness_down", "brightness_up"  # the interventions of the light/dark claim
INTERVENTION_SEVERITY = 3  # brightness x0.7 and x1.3 (robustness.FAMILIES)


def _claim(claim: str, paper: str, measured: str, verdict: str) -> dict[str, str]:
    return {"Claim": claim, "Paper": paper, "Measured": measured, "Verdict": verdict}


def where(profile: str, runs_dir: str | os.PathLike = "runs") -> str:
    """``on <data folder> data at <size> px``: what the paper's model's run was measured on."""
    from pathlib import Path

    path = profile_runs.run_dir(profile, MODEL, runs_dir)
    recorded = read_run_record(path) or RunRecord()
    metrics = read_metrics(path)
    size = (metrics.image_size if metrics else None) or recorded.config.get("image_size")
    synthetic = recorded.config.get("data") == "synthetic"
    data = "synthetic" if synthetic else recorded.data_root or "unrecorded"
    name = "synthetic" if data == "synthetic" else Path(str(data)).name
    return f"on {name} data at {size} px" if size else f"on {name} data"


def postprocessing_claim(profile: str, runs_dir: str | os.PathLike = "runs") -> dict[str, str]:
    """Claim 2: the post-processing layer improves the segmentation (Dice, post minus raw)."""
    raw, post = papers.row(papers.REPRODUCED, "Nastnetlarge-net"), papers.row(papers.REPRODUCED, "Nastnetlarge-net-Post")
    claim = "Post-processing helps"
    paper = (f"improves the segmentation (reported, Table 1: Dice {raw.dice:.2f} to {post.dice:.2f}, "
             f"IoU {raw.iou:.2f} to {post.iou:.2f})")
    table = profile_runs.mean_per_image(profile, MODEL, runs_dir)
    if table is None:
        return _claim(claim, paper, NOT_MEASURED, NOT_MEASURED)
    here = where(profile, runs_dir)
    g = results.postprocessing_gain(table, "dice")
    changed = f"{g['n_changed']:.0f} of {g['n']:.0f} images changed"
    measured = (f"mean Dice change {g['gain']:+.4f} [{g['ci_low']:+.4f}, {g['ci_high']:+.4f}] "
                f"(post minus raw); {changed}")
    side = direction(g["ci_low"], g["ci_high"])
    if side == "better" and g["gain"] >= MIN_EFFECT:
        verdict = f"holds {here}: Dice {g['gain']:+.4f}"
    elif side == "better":
        verdict = f"negligible: Dice {g['gain']:+.4f}, below {MIN_EFFECT}; {changed}"
    elif side == "worse":
        verdict = f"does not hold {here}: Dice {g['gain']:+.4f}"
    else:
        verdict = f"not shown: the CI contains 0; {changed}"
    return _claim(claim, paper, measured, verdict)


def accuracy_claim(profile: str, runs_dir: str | os.PathLike = "runs") -> dict[str, str]:
    """Claim 3a: the model reaches the paper's reported Dice (with post-processing)."""
    row = papers.headline()
    reported = row.dice
    n_test = papers.PAPERS[row.paper].n_test
    claim = f"Dice of the {profile_runs.title_of(MODEL)}"
    paper = (f"Dice {reported:.2f} with post-processing (reported, Table 1 and abstract), on its own "
             f"data ({n_test} test images)")
    table = profile_runs.mean_per_image(profile, MODEL, runs_dir)
    if table is None:
        return _claim(claim, paper, NOT_MEASURED, NOT_MEASURED)
    stat = summarize(table["dice_post"])
    measured = (f"Dice (post-processed) {tables.fmt_ci(stat)} on {stat['n']} test images, "
                f"mean of {table['n_seeds'].iloc[0]:.0f} seed(s)")
    here = where(profile, runs_dir)
    verdict = {"reached": f"reached {here}: the CI lies at or above {reported:.2f} (the paper's data differ)",
               "not reached": f"not reached {here}: the CI lies below {reported:.2f} (the paper's data differ)",
               "inconclusive": f"inconclusive {here}: the CI contains {reported:.2f}"}[
        reached(stat["ci_low"], stat["ci_high"], reported)]
    return _claim(claim, paper, measured, verdict)


def comparison_claim(profile: str, runs_dir: str | os.PathLike = "runs", metric: str = "dice_post",
                     reading=None) -> dict[str, str]:
    """Claim 3b: the model outperforms the others, judged by paired per-image differences
    (given here as the paper's model minus the other model); ``reading``: the paper's model
    trained by that reading of its recipe (:class:`lungseg_lib.report.readings.Reading`)."""
    claim, paper = "Better than every other model", ("has \"a higher IoU and dice score than other models\" "
                                                      "(Sec. 3.3, Table 1)")
    if reading is not None:
        claim += f" ({reading.name} reading: {reading.words})"
    comparisons = results.paired_comparisons(profile, runs_dir, MODEL, metric,
                                             reading.profile if reading else None).dropna(subset=["mean_diff"])
    if comparisons.empty:
        return _claim(claim, paper, NOT_MEASURED, NOT_MEASURED)
    groups: dict[str, list[str]] = {}
    for _, c in comparisons.iterrows():  # paired_comparisons gives other minus MODEL: flip it
        flipped = " ".join({"+": "-", "-": "+"}.get(x, x) for x in str(c["seed_signs"]).split())
        side = seed_direction(-c["ci_high"], -c["ci_low"], flipped)
        one_seed = ", one seed" if len(flipped.split()) == 1 else ""
        groups.setdefault(side, []).append(f"{c['title']} ({-c['mean_diff']:+.3f}{one_seed})")
    labels = {"better": "better than", "worse": "worse than", "not separable": "not separable from"}
    missing = len(profile_runs.registry_models()) - 1 - len(comparisons)
    measured = (f"{tables.metric_label(metric)}, {profile_runs.title_of(MODEL)} minus the other model: "
                + "; ".join(f"{labels[key]} {', '.join(groups[key])}" for key in labels if key in groups)
                + (f"; {missing} model(s) not evaluated" if missing else ""))
    n, n_better = len(comparisons), len(groups.get("better", []))
    here = where(profile, runs_dir)
    if "worse" in groups:
        verdict = f"does not hold {here}: worse than {len(groups['worse'])} of {n} models"
    elif missing:
        verdict = f"incomplete: better than {n_better} of the {n} models evaluated so far"
    elif n_better == n:
        verdict = f"holds {here}: better than all {n} other models"
    elif n_better:
        verdict = f"partly: better than {n_better} of {n} models, not separable from the rest"
    else:
        verdict = "not shown: not separable from any model"
    return _claim(claim, paper, measured, verdict)


def failures_claim(profile: str, runs_dir: str | os.PathLike = "runs", metric: str = "dice_post",
                   n_worst: int = 10) -> dict[str, str]:
    """Claim 4: the failures are images that are too light or too dark (the paper shows two
    examples and names two more reasons: no similar training image, a model not robust enough)."""
    claim = "Failures are light or dark images (correlation)"
    paper = ('its two failure examples, Fig. 5: "two worse raw images (in Fig. 5) are either too light '
             '(first row) or too dark (second row)"')
    table = profile_runs.mean_per_image(profile, MODEL, runs_dir)
    if table is None:
        return _claim(claim, paper, NOT_MEASURED, NOT_MEASURED)
    corr = failures.failure_correlations(table, metric).set_index("feature").loc["brightness_deviation"]
    extreme = failures.extreme_brightness(table, metric, n_worst)
    rho, p = corr["rho"], corr["p"]
    measured = (f"Spearman rho of {tables.metric_label(metric)} with |brightness - median| {rho:+.2f} "
                f"(p = {p:.2g}, {corr['n']:.0f} images); {extreme['n_extreme']:.0f} of the "
                f"{extreme['n']:.0f} worst images among the lightest or darkest 10% "
                f"({extreme['expected']:.1f} expected by chance, p = {extreme['p']:.2g})")
    if math.isnan(rho):
        verdict = "inconclusive: constant scores or brightness"
    elif p >= ALPHA:
        verdict = f"not supported: no significant fall of the score with extreme brightness (p = {p:.2g})"
    elif rho < 0:
        verdict = f"holds {where(profile, runs_dir)}: scores fall away from the typical brightness"
    else:
        verdict = "contradicted: scores rise away from the typical brightness"
    return _claim(claim, paper, measured, verdict)


def intervention_claim(profile: str, runs_dir: str | os.PathLike = "runs", metric: str = "dice_post") -> dict[str, str]:
    """Claim 4, by intervention: the same test images made darker and lighter (the model's
    seed-averaged robustness grid): does each lower the score?"""
    from ..engine.perturbations import FAMILIES
    from .perturbation_grid import drop, read_grid

    claim, paper = "Failures are light or dark images (intervention)", "failures are too light or too dark images"
    grid = read_grid(profile, MODEL, runs_dir)
    if grid is None:
        return _claim(claim, paper, NOT_MEASURED, NOT_MEASURED)
    s = INTERVENTION_SEVERITY
    drops = {f: drop(grid, f, s, metric) for f in (DARKER, LIGHTER)}
    measured = "; ".join(
        f"{name} (brightness x{FAMILIES[f][s - 1]:g}): {tables.metric_label(metric)} drop {d['mean']:+.4f} "
        f"[{d['ci_low']:+.4f}, {d['ci_high']:+.4f}]" for name, f, d in
        (("darker", DARKER, drops[DARKER]), ("lighter", LIGHTER, drops[LIGHTER]))) + f" ({drops[DARKER]['n']:.0f} images)"
    hurt = [f for f, d in drops.items() if d["ci_low"] > 0 and d["mean"] > MIN_EFFECT]
    if len(hurt) == 2:
        verdict = f"supported: darker and lighter images each lose more than {MIN_EFFECT} Dice"
    elif hurt:
        which = "darker" if hurt == [DARKER] else "lighter"
        verdict = f"partly: only {which} images lose more than {MIN_EFFECT} Dice"
    else:
        verdict = f"not supported: neither darker nor lighter images lose more than {MIN_EFFECT} Dice"
    return _claim(claim, paper, measured, verdict)


def claims_table(profile: str, runs_dir: str | os.PathLike = "runs", metric: str = "dice_post") -> pd.DataFrame:
    """One row per measurable claim of the paper (in the order of the book's introduction):
    what the paper says, what the runs of ``profile`` measure, and the verdict; the comparison
    with the other models once per reading of the paper's recipe when the profile has readings."""
    from .readings import readings

    comparisons = [comparison_claim(profile, runs_dir, metric, r) for r in readings(profile)] or [
        comparison_claim(profile, runs_dir, metric)]  # one row per reading of the recipe, if it has readings
    table = pd.DataFrame([
        postprocessing_claim(profile, runs_dir),
        accuracy_claim(profile, runs_dir),
        *comparisons,
        failures_claim(profile, runs_dir, metric),
        intervention_claim(profile, runs_dir, metric),
    ])
    return table.rename(columns={"Measured": f"Measured ({profile} profile)"})
