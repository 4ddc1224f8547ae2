"""The verdict rules, fixed before any run: where a confidence interval lies against a value
or against zero, and when a difference is too small to count. The paper's claims
(:mod:`lungseg_lib.report.claims`), the paired comparisons (:mod:`lungseg_lib.report.results`),
the robustness fix experiment, the remedy screen and the default model's accuracy all judge by
these rules.

- a value "is reached" when the 95% CI of the mean lies at or above it, "is not reached" when
  the CI lies below, and is "inconclusive" otherwise;
- one model "is better" than another when the bootstrap 95% CI of their paired per-image
  difference lies above zero, "is worse" when it lies below, and there is "no clear
  difference" otherwise (intervals not adjusted for multiple comparisons);
- an improvement smaller than ``MIN_EFFECT`` (in Dice) is called negligible even when its
  CI lies above zero; a correlation counts when its p-value is below ``ALPHA``;
- scores of several seeds are averaged per image before any comparison; one model is better
  or worse than another only when the CI says so and the mean difference has that sign in
  every seed both models share, and is "not separable" otherwise.
"""

from __future__ import annotations

ALPHA = 0.05
MIN_EFFECT = 0.005  # Dice; smaller gains are reported as negligible


def direction(ci_low: float, ci_high: float) -> str:
    """``better``, ``worse`` or ``no clear difference``: where a CI of a difference lies against 0."""
    if ci_low > 0:
        return "better"
    if ci_high < 0:
        return "worse"
    return "no clear difference"


def reached(ci_low: float, ci_high: float, value: float) -> str:
    """``reached``, ``not reached`` or ``inconclusive``: where the CI of a mean lies against ``value``."""
    if ci_low >= value:
        return "reached"
    if ci_high < value:
        return "not reached"
    return "inconclusive"


def seed_direction(ci_low: float, ci_high: float, signs: str) -> str:
    """:func:`direction`, kept only when every seed's difference (``signs``: ``"+ + -"``) has
    its sign; else ``not separable``."""
    side = direction(ci_low, ci_high)
    want = {"better": "+", "worse": "-"}.get(side)
    if want is None or any(sign != want for sign in str(signs).split()):
        return "not separable"
    return side


def seed_verdict(ci_low: float, ci_high: float, signs: str) -> str:
    """:func:`seed_direction` in words for one comparison (``better`` means the first model is
    better), saying when only one seed was compared: its sign cannot disagree with another's."""
    side = seed_direction(ci_low, ci_high, signs)
    single = len(str(signs).split()) == 1 and side != "not separable"
    return side + (" (one seed: not tested across seeds)" if single else "")
