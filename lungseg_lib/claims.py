"""The paper's measurable claims (post-processing, accuracy, comparison, failures), each
checked against the runs of one profile.

Every verdict is computed from the measured numbers by the rules below, so the book's
"what reproduces" table changes with the runs and is never typed:

- a value "is reached" when the 95% CI of the mean lies at or above it, "is not reached" when
  the CI lies below, and is "inconclusive" otherwise;
- one model "is better" than another when the bootstrap 95% CI of their paired per-image
  difference lies above zero, "is worse" when it lies below, and there is "no clear
  difference" otherwise (intervals not adjusted for multiple comparisons);
- an improvement smaller than ``MIN_EFFECT`` (in Dice) is called negligible even when its
  CI lies above zero;
- the "too light or too dark" explanation is supported by correlation when the per-image
  score falls with the distance from the median brightness (Spearman rho < 0, p < ``ALPHA``);
- it is supported by intervention when making the same test images darker and lighter
  (``DARKER`` and ``LIGHTER`` at severity ``INTERVENTION_SEVERITY``, fixed before any grid was
  scored) each lowers the mean Dice by more than ``MIN_EFFECT``, with the paired CI of the
  drop above zero;
- scores of several seeds are averaged per image before any comparison; one model is better
  or worse than another only when the CI says so and the mean difference has that sign in
  every seed both models share, and is "not separable" otherwise.
"""

from __future__ import annotations

import math
import os

import pandas as pd

from . import failures, results
from .stats import summarize

ALPHA = 0.05
MIN_EFFECT = 0.005  # Dice; smaller gains are reported as negligible
NOT_MEASURED = "not measured yet"
MODEL = results.REFERENCE_MODEL  # the paper's model, whose claims these are
DARKER, LIGHTER = "brightness_down", "brightness_up"  # the interventions of the light/dark claim
INTERVENTION_SEVERITY = 3  # brightness x0.7 and x1.3 (robustness.FAMILIES)


def direction(ci_low: float, ci_high: float) -> str:
    """``better``, ``worse`` or ``no clear difference``: where a CI of a difference lies against 0."""
    if ci_low > 0:
        return "better"
    if ci_high < 0:
        return "worse"
    return "no clear difference"


def seed_direction(ci_low: float, ci_high: float, signs: str) -> str:
    """:func:`direction`, kept only when every seed's difference (``signs``: ``"+ + -"``) has
    its sign; else ``not separable``."""
    side = direction(ci_low, ci_high)
    want = {"better": "+", "worse": "-"}.get(side)
    if want is None or any(sign != want for sign in str(signs).split()):
        return "not separable"
    return side


def _claim(claim: str, paper: str, measured: str, verdict: str) -> dict[str, str]:
    return {"Claim": claim, "Paper": paper, "Measured": measured, "Verdict": verdict}


def postprocessing_claim(profile: str, runs_dir: str | os.PathLike = "runs") -> dict[str, str]:
    """Claim 2: the post-processing layer improves the segmentation (Dice, post minus raw)."""
    claim, paper = "Post-processing helps", "improves the segmentation"
    table = results.mean_per_image(profile, MODEL, runs_dir)
    if table is None:
        return _claim(claim, paper, NOT_MEASURED, NOT_MEASURED)
    g = results.postprocessing_gain(table, "dice")
    changed = f"{g['n_changed']:.0f} of {g['n']:.0f} images changed"
    measured = (f"mean Dice change {g['gain']:+.4f} [{g['ci_low']:+.4f}, {g['ci_high']:+.4f}] "
                f"(post minus raw); {changed}")
    side = direction(g["ci_low"], g["ci_high"])
    if side == "better" and g["gain"] >= MIN_EFFECT:
        verdict = f"reproduces: Dice {g['gain']:+.4f}"
    elif side == "better":
        verdict = f"negligible: Dice {g['gain']:+.4f}, below {MIN_EFFECT}; {changed}"
    elif side == "worse":
        verdict = f"does not reproduce: Dice {g['gain']:+.4f}"
    else:
        verdict = f"not shown: the CI contains 0; {changed}"
    return _claim(claim, paper, measured, verdict)


def accuracy_claim(profile: str, runs_dir: str | os.PathLike = "runs") -> dict[str, str]:
    """Claim 3a: the model reaches the paper's reported Dice (with post-processing)."""
    reported = results.PAPER_REPORTED[MODEL]["dice"]
    claim, paper = f"Dice of the {results.title_of(MODEL)}", f"Dice {reported:.2f} on its own 800/200 split"
    table = results.mean_per_image(profile, MODEL, runs_dir)
    if table is None:
        return _claim(claim, paper, NOT_MEASURED, NOT_MEASURED)
    stat = summarize(table["dice_post"])
    measured = (f"Dice (post-processed) {results.fmt_ci(stat)} on {stat['n']} test images, "
                f"mean of {table['n_seeds'].iloc[0]:.0f} seed(s)")
    if stat["ci_low"] >= reported:
        verdict = f"reproduces: {reported:.2f} is reached"
    elif stat["ci_high"] < reported:
        verdict = f"does not reproduce: {reported:.2f} is not reached"
    else:
        verdict = f"inconclusive: the CI contains {reported:.2f}"
    return _claim(claim, paper, measured, verdict)


def comparison_claim(profile: str, runs_dir: str | os.PathLike = "runs", metric: str = "dice_post") -> dict[str, str]:
    """Claim 3b: the model outperforms the others, judged by paired per-image differences
    (given here as the paper's model minus the other model)."""
    claim, paper = "Better than every other model", "outperforms the state-of-the-art models"
    comparisons = results.paired_comparisons(profile, runs_dir, MODEL, metric).dropna(subset=["mean_diff"])
    if comparisons.empty:
        return _claim(claim, paper, NOT_MEASURED, NOT_MEASURED)
    groups: dict[str, list[str]] = {}
    for _, c in comparisons.iterrows():  # paired_comparisons gives other minus MODEL: flip it
        flipped = " ".join({"+": "-", "-": "+"}.get(x, x) for x in str(c["seed_signs"]).split())
        side = seed_direction(-c["ci_high"], -c["ci_low"], flipped)
        groups.setdefault(side, []).append(f"{c['title']} ({-c['mean_diff']:+.3f})")
    labels = {"better": "better than", "worse": "worse than", "not separable": "not separable from"}
    missing = len(results.registry_models()) - 1 - len(comparisons)
    measured = (f"{results.metric_label(metric)}, {results.title_of(MODEL)} minus the other model: "
                + "; ".join(f"{labels[key]} {', '.join(groups[key])}" for key in labels if key in groups)
                + (f"; {missing} model(s) not evaluated" if missing else ""))
    n, n_better = len(comparisons), len(groups.get("better", []))
    if "worse" in groups:
        verdict = f"does not reproduce: worse than {len(groups['worse'])} of {n} models"
    elif missing:
        verdict = f"incomplete: better than {n_better} of the {n} models evaluated so far"
    elif n_better == n:
        verdict = f"reproduces: better than all {n} other models"
    elif n_better:
        verdict = f"partly: better than {n_better} of {n} models, not separable from the rest"
    else:
        verdict = "not shown: not separable from any model"
    return _claim(claim, paper, measured, verdict)


def failures_claim(profile: str, runs_dir: str | os.PathLike = "runs", metric: str = "dice_post",
                   n_worst: int = 10) -> dict[str, str]:
    """Claim 4: the failures are images that are too light or too dark."""
    claim, paper = "Failures are light or dark images (correlation)", "failures are too light or too dark images"
    table = results.mean_per_image(profile, MODEL, runs_dir)
    if table is None:
        return _claim(claim, paper, NOT_MEASURED, NOT_MEASURED)
    corr = failures.failure_correlations(table, metric).set_index("feature").loc["brightness_deviation"]
    extreme = failures.extreme_brightness(table, metric, n_worst)
    rho, p = corr["rho"], corr["p"]
    measured = (f"Spearman rho of {results.metric_label(metric)} with |brightness - median| {rho:+.2f} "
                f"(p = {p:.2g}, {corr['n']:.0f} images); {extreme['n_extreme']:.0f} of the "
                f"{extreme['n']:.0f} worst images among the lightest or darkest 10% "
                f"({extreme['expected']:.1f} expected by chance, p = {extreme['p']:.2g})")
    if math.isnan(rho):
        verdict = "inconclusive: constant scores or brightness"
    elif p >= ALPHA:
        verdict = f"not supported: no significant fall of the score with extreme brightness (p = {p:.2g})"
    elif rho < 0:
        verdict = "reproduces: scores fall away from the typical brightness"
    else:
        verdict = "contradicted: scores rise away from the typical brightness"
    return _claim(claim, paper, measured, verdict)


def intervention_claim(profile: str, runs_dir: str | os.PathLike = "runs", metric: str = "dice_post") -> dict[str, str]:
    """Claim 4, by intervention: the same test images made darker and lighter (the model's
    seed-averaged robustness grid): does each lower the score?"""
    from .robustness import FAMILIES
    from .robustness_report import drop, read_grid

    claim, paper = "Failures are light or dark images (intervention)", "failures are too light or too dark images"
    grid = read_grid(profile, MODEL, runs_dir)
    if grid is None:
        return _claim(claim, paper, NOT_MEASURED, NOT_MEASURED)
    s = INTERVENTION_SEVERITY
    drops = {f: drop(grid, f, s, metric) for f in (DARKER, LIGHTER)}
    measured = "; ".join(
        f"{name} (brightness x{FAMILIES[f][s - 1]:g}): {results.metric_label(metric)} drop {d['mean']:+.4f} "
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
    what the paper says, what the runs of ``profile`` measure, and the verdict."""
    table = pd.DataFrame([
        postprocessing_claim(profile, runs_dir),
        accuracy_claim(profile, runs_dir),
        comparison_claim(profile, runs_dir, metric),
        failures_claim(profile, runs_dir, metric),
        intervention_claim(profile, runs_dir, metric),
    ])
    return table.rename(columns={"Measured": f"Measured ({profile} profile)"})
