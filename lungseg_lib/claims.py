"""The paper's four claims, each checked against the runs of one profile.

Every verdict is computed from the measured numbers by the rules below, so the book's
"what reproduces" table changes with the runs and is never typed:

- a value "is reached" when the 95% CI of the mean lies at or above it, "is not reached" when
  the CI lies below, and is "inconclusive" otherwise;
- model A "is better" than B when the bootstrap 95% CI of the paired per-image difference
  lies above zero, "is worse" when it lies below, and there is "no clear difference" otherwise;
- the "too light or too dark" explanation is supported when the per-image score falls with the
  distance from the median brightness (Spearman rho < 0, p < 0.05).
"""

from __future__ import annotations

import math
import os

import pandas as pd

from . import results

ALPHA = 0.05
NOT_MEASURED = "not measured yet"


def direction(ci_low: float, ci_high: float) -> str:
    """``better``, ``worse`` or ``no clear difference``: where a CI of a difference lies against 0."""
    if ci_low > 0:
        return "better"
    if ci_high < 0:
        return "worse"
    return "no clear difference"


def _claim(claim: str, paper: str, measured: str, verdict: str) -> dict[str, str]:
    return {"Claim": claim, "Paper": paper, "Measured here": measured, "Verdict": verdict}


def accuracy_claim(profile: str, runs_dir: str | os.PathLike = "runs",
                   reference: str = results.REFERENCE_MODEL) -> dict[str, str]:
    """Claim 3a: the model reaches the paper's reported Dice (with post-processing)."""
    reported = results.PAPER_REPORTED[reference]["dice"]
    paper = f"Dice {reported:.2f} on its own 800/200 split"
    stat = (results.read_metrics(results.run_dir(profile, reference, runs_dir)) or {}).get("post", {}).get("dice")
    if stat is None:
        return _claim("Dice of the NASNet-Large decoder", paper, NOT_MEASURED, NOT_MEASURED)
    measured = f"Dice {results.fmt_ci(stat)} on {stat['n']} test images"
    if stat["ci_low"] >= reported:
        verdict = f"reproduces: {reported:.2f} is reached"
    elif stat["ci_high"] < reported:
        verdict = f"does not reproduce: {reported:.2f} is not reached"
    else:
        verdict = f"inconclusive: the CI contains {reported:.2f}"
    return _claim("Dice of the NASNet-Large decoder", paper, measured, verdict)


def comparison_claim(profile: str, runs_dir: str | os.PathLike = "runs",
                     reference: str = results.REFERENCE_MODEL, metric: str = "dice_post") -> dict[str, str]:
    """Claim 3b: the model outperforms the others, judged by paired per-image differences."""
    paper = "outperforms the state-of-the-art models"
    claim = "Better than every other model"
    comparisons = results.paired_comparisons(profile, runs_dir, reference, metric).dropna(subset=["mean_diff"])
    if comparisons.empty:
        return _claim(claim, paper, NOT_MEASURED, NOT_MEASURED)
    # paired_comparisons gives model - reference; the reference is "better" when that is negative.
    groups: dict[str, list[str]] = {}
    for _, c in comparisons.iterrows():
        verdict = direction(-c["ci_high"], -c["ci_low"])
        groups.setdefault(verdict, []).append(f"{c['title']} ({-c['mean_diff']:+.3f})")
    labels = {"better": "better than", "worse": "worse than", "no clear difference": "not clearly different from"}
    parts = [f"{labels[key]} {', '.join(groups[key])}" for key in labels if key in groups]
    missing = len(results.registry_models()) - 1 - len(comparisons)
    measured = (f"{results.metric_label(metric)}, NASNet minus model: " + "; ".join(parts)
                + (f"; {missing} model(s) not evaluated" if missing else ""))
    if "worse" in groups:
        verdict = f"does not reproduce: worse than {len(groups['worse'])} of {len(comparisons)} models"
    elif "no clear difference" in groups:
        verdict = f"partly: better than {len(groups.get('better', []))} of {len(comparisons)} models"
    else:
        verdict = f"reproduces: better than all {len(comparisons)} evaluated models"
    return _claim(claim, paper, measured, verdict)


def postprocessing_claim(profile: str, runs_dir: str | os.PathLike = "runs",
                         reference: str = results.REFERENCE_MODEL) -> dict[str, str]:
    """Claim 2: the post-processing layer improves the NASNet-Large decoder's segmentation."""
    paper = "improves the segmentation"
    claim = "Post-processing helps"
    table = results.read_per_image(results.run_dir(profile, reference, runs_dir))
    if table is None:
        return _claim(claim, paper, NOT_MEASURED, NOT_MEASURED)
    g = results.postprocessing_gain(table, "dice")
    measured = (f"mean Dice change {g['gain']:+.4f} [{g['ci_low']:+.4f}, {g['ci_high']:+.4f}]; "
                f"{g['n_changed']:.0f} of {g['n']:.0f} images changed")
    verdict = {"better": f"reproduces: Dice {g['gain']:+.4f}",
               "worse": f"does not reproduce: Dice {g['gain']:+.4f}",
               "no clear difference": "does not reproduce: no measurable change"}[direction(g["ci_low"], g["ci_high"])]
    return _claim(claim, paper, measured, verdict)


def failures_claim(profile: str, runs_dir: str | os.PathLike = "runs",
                   reference: str = results.REFERENCE_MODEL, metric: str = "dice_post") -> dict[str, str]:
    """Claim 4: the failures are images that are too light or too dark."""
    paper = "failures are too light or too dark images"
    claim = "Failures are light or dark images"
    table = results.read_per_image(results.run_dir(profile, reference, runs_dir))
    if table is None:
        return _claim(claim, paper, NOT_MEASURED, NOT_MEASURED)
    corr = results.failure_correlations(table, metric).set_index("feature").loc["brightness_deviation"]
    rho, p = corr["rho"], corr["p"]
    measured = f"Spearman rho of Dice with |brightness - median| {rho:+.2f} (p = {p:.2g}, {corr['n']:.0f} images)"
    if math.isnan(rho):
        verdict = "inconclusive: constant scores or brightness"
    elif rho < 0 and p < ALPHA:
        verdict = "reproduces: scores fall away from the typical brightness"
    else:
        verdict = "not supported: no fall of the score with extreme brightness"
    return _claim(claim, paper, measured, verdict)


def claims_table(profile: str, runs_dir: str | os.PathLike = "runs",
                 reference: str = results.REFERENCE_MODEL, metric: str = "dice_post") -> pd.DataFrame:
    """One row per claim of the paper: what the paper says, what the runs measure, the verdict."""
    return pd.DataFrame([
        accuracy_claim(profile, runs_dir, reference),
        comparison_claim(profile, runs_dir, reference, metric),
        postprocessing_claim(profile, runs_dir, reference),
        failures_claim(profile, runs_dir, reference, metric),
    ])
