"""Summary statistics for per-image scores: bootstrap confidence intervals and paired tests."""

from __future__ import annotations

import numpy as np
from scipy import stats


def bootstrap_ci(values, confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap CI of the mean (``scipy.stats.bootstrap``); (v, v) for constant data."""
    values = np.asarray(values, float)
    if len(values) < 2 or np.all(values == values[0]):
        v = float(values.mean()) if len(values) else float("nan")
        return v, v
    res = stats.bootstrap((values,), np.mean, confidence_level=confidence, n_resamples=n_resamples,
                          method="percentile", random_state=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def summarize(values) -> dict[str, float]:
    """Mean, median, standard deviation and 95% bootstrap CI of the mean."""
    values = np.asarray(values, float)
    low, high = bootstrap_ci(values)
    return {"mean": float(values.mean()), "median": float(np.median(values)),
            "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            "ci_low": low, "ci_high": high, "n": int(len(values))}


def paired_comparison(a, b) -> dict[str, float]:
    """Compare paired scores ``a`` and ``b`` (same images): mean difference a-b with its
    bootstrap CI, and the two-sided Wilcoxon signed-rank p-value (1.0 when all equal)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape:
        raise ValueError(f"paired scores need the same length, got {a.shape} and {b.shape}")
    diff = a - b
    low, high = bootstrap_ci(diff)
    p = 1.0 if np.all(diff == 0) else float(stats.wilcoxon(a, b).pvalue)
    return {"mean_diff": float(diff.mean()), "ci_low": low, "ci_high": high, "wilcoxon_p": p,
            "n": int(len(diff))}
