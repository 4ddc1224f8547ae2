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
from . import facts, failures, papers, profile_runs, results, tables
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
    paper = (f"improves the segmentation (reported, the paper's Table 1: Dice {raw.dice:.2f} to {post.dice:.2f}, "
             f"IoU {raw.iou:.2f} to {post.iou:.2f})")
    found = {f.metric.removeprefix("pp_gain_dice"): (f, v) for f, v in results.gain_facts(profile, MODEL, runs_dir).items()}
    if math.isnan(found[""][1]):
        return _claim(claim, paper, NOT_MEASURED, NOT_MEASURED)
    here = where(profile, runs_dir)
    g = {k: v for k, (_, v) in found.items()}
    m = {k: facts.mark(form.format(found[k][1]), found[k][0]) for k, form in
         (("", "{:+.4f}"), ("_ci_low", "{:+.4f}"), ("_ci_high", "{:+.4f}"), ("_n_changed", "{:.0f}"), ("_n", "{:.0f}"))}
    changed = f"{m['_n_changed']} of {m['_n']} images changed in at least one seed ({found[''][0].words})"
    measured = f"mean Dice change {m['']} [{m['_ci_low']}, {m['_ci_high']}] (post minus raw); {changed}"
    side = direction(g["_ci_low"], g["_ci_high"])
    if side == "better" and g[""] >= MIN_EFFECT:
        verdict = f"holds {here}: Dice {m['']}"
    elif side == "better":
        verdict = f"negligible: Dice {m['']}, below {MIN_EFFECT}; {changed}"
    elif side == "worse":
        verdict = f"does not hold {here}: Dice {m['']}"
    else:
        verdict = f"not shown: the CI contains 0; {changed}"
    return _claim(claim, paper, measured, verdict)


def accuracy_claim(profile: str, runs_dir: str | os.PathLike = "runs") -> dict[str, str]:
    """Claim 3a: the model reaches the paper's reported Dice (with post-processing)."""
    row = papers.headline()
    reported = row.dice
    n_test = papers.PAPERS[row.paper].n_test
    claim = f"Dice of the {profile_runs.title_of(MODEL)}"
    paper = (f"Dice {reported:.2f} with post-processing (reported, the paper's Table 1 and abstract), on its own "
             f"data ({n_test} test images)")
    table = profile_runs.mean_per_image(profile, MODEL, runs_dir)
    if table is None:
        return _claim(claim, paper, NOT_MEASURED, NOT_MEASURED)
    stat = summarize(table["dice_post"])
    fact = profile_runs.model_fact(profile, MODEL, "dice_post", runs_dir)
    shown = tables.fmt_ci(stat)
    mean, rest = shown.split(" ", 1)
    measured = f"Dice (post-processed) {facts.mark(mean, fact)} {rest} on {stat['n']} test images, {fact.words}"
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
                                                      "(the paper's Sec. 3.3 and Table 1)")
    if reading is not None:
        claim += f" ({reading.name} reading: {reading.words})"
    comparisons = results.paired_comparisons(profile, runs_dir, MODEL, metric,
                                             reading.profile if reading else None).dropna(subset=["mean_diff"])
    if comparisons.empty:
        return _claim(claim, paper, NOT_MEASURED, NOT_MEASURED)
    groups: dict[str, list[str]] = {}
    headline = reading is None or reading.profile == profile_runs.source_profile(profile, MODEL, runs_dir)
    for _, c in comparisons.iterrows():  # paired_comparisons gives other minus MODEL: flip it
        flipped = results.flip_signs(c["seed_signs"])
        side = seed_direction(-c["ci_high"], -c["ci_low"], flipped)
        one_seed = ", one seed" if len(flipped.split()) == 1 else ""
        diff = f"{-c['mean_diff']:+.3f}"
        if headline:  # the paired table's number (another reading's differs: not that fact)
            diff = facts.mark(diff, results.paired_fact(profile, c["model"], MODEL, metric, runs_dir))
        groups.setdefault(side, []).append(f"{c['title']} ({diff}{one_seed})")
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
    examples and names two more reasons: no similar training image, a model not robust enough).
    Two tests on the seed-averaged scores (:func:`failures.failure_facts`): the Spearman
    correlation of the score with the distance from the median brightness, and whether the
    ``n_worst`` images are more often among the lightest or darkest tenth than chance; the
    verdict holds when both say so, partly when one does."""
    claim = "Failures are light or dark images (correlation)"
    paper = ('its two failure examples, the paper\'s Fig. 5: "two worse raw images (in Fig. 5) are either too light '
             '(first row) or too dark (second row)"')
    f = failures.short_facts(failures.failure_facts(profile, MODEL, runs_dir, metric, n_worst))
    rho, p, p_extreme = (f[k][1] for k in ("rho_brightness_deviation", "p_brightness_deviation", "extreme_p"))
    if math.isnan(f["extreme_n"][1]):
        return _claim(claim, paper, NOT_MEASURED, NOT_MEASURED)
    m = {k: facts.mark(form.format(f[k][1]), f[k][0]) for k, form in (
        ("rho_brightness_deviation", "{:+.2f}"), ("p_brightness_deviation", "{:.2g}"), ("extreme_n_extreme", "{:.0f}"),
        ("extreme_n", "{:.0f}"), ("extreme_expected", "{:.1f}"), ("extreme_p", "{:.2g}"))}
    measured = (f"Spearman rho of {tables.metric_label(metric)} ({f['extreme_n'][0].words}) with |brightness - "
                f"median| {m['rho_brightness_deviation']} (p = {m['p_brightness_deviation']}); "
                f"{m['extreme_n_extreme']} of the {m['extreme_n']} worst images among the lightest or darkest 10% "
                f"({m['extreme_expected']} expected by chance, p = {m['extreme_p']})")
    return _claim(claim, paper, measured, _failures_verdict(rho, p, p_extreme, m, where(profile, runs_dir)))


def _failures_verdict(rho: float, p: float, p_extreme: float, m: dict[str, str], here: str) -> str:
    """The light-or-dark verdict from both tests: the correlation (``rho``, ``p``) and the
    worst images' extreme brightness (``p_extreme``); ``m``: the marked numbers."""
    correlated = not math.isnan(rho) and p < ALPHA and rho < 0
    extreme = not math.isnan(p_extreme) and p_extreme < ALPHA
    corr = f"the score falls away from the typical brightness (p = {m['p_brightness_deviation']})"
    worst = f"the worst images are more often the lightest or darkest (p = {m['extreme_p']})"
    if math.isnan(rho):
        return "inconclusive: constant scores or brightness"
    if correlated and extreme:
        return f"holds {here}: {corr}, and {worst}"
    if correlated:
        return (f"partly: {corr}, but the worst images are not more often the lightest or darkest "
                f"(p = {m['extreme_p']})")
    if extreme:
        return f"partly: {worst}, but the score does not fall with the distance from the typical brightness"
    if p < ALPHA:
        return "contradicted: scores rise away from the typical brightness"
    return f"not supported: neither test finds it (p = {m['p_brightness_deviation']} and {m['extreme_p']})"


def intervention_claim(profile: str, runs_dir: str | os.PathLike = "runs", metric: str = "dice_post") -> dict[str, str]:
    """Claim 4, by intervention: the same test images made darker and lighter (the model's
    seed-averaged robustness grid): does each lower the score?"""
    from ..engine.perturbations import FAMILIES
    from .perturbation_grid import drop, drop_fact, read_grid

    claim, paper = "Failures are light or dark images (intervention)", "failures are too light or too dark images"
    grid = read_grid(profile, MODEL, runs_dir)
    if grid is None:
        return _claim(claim, paper, NOT_MEASURED, NOT_MEASURED)
    s = INTERVENTION_SEVERITY
    drops = {f: drop(grid, f, s, metric) for f in (DARKER, LIGHTER)}

    def marked(f: str) -> str:  # the drop and its CI, each the robustness table's fact
        shown = {k: facts.mark(f"{drops[f][name]:+.4f}", drop_fact(profile, MODEL, f, s, metric, runs_dir, k))
                 for k, name in (("", "mean"), ("_ci_low", "ci_low"), ("_ci_high", "ci_high"))}
        return f"{shown['']} [{shown['_ci_low']}, {shown['_ci_high']}]"

    measured = "; ".join(
        f"{name} (brightness x{FAMILIES[f][s - 1]:g}): {tables.metric_label(metric)} drop {marked(f)}"
        for name, f in (("darker", DARKER), ("lighter", LIGHTER))) + f" ({drops[DARKER]['n']:.0f} images)"
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
