"""lungseg_lib.core.stats: bootstrap confidence intervals, summaries and paired comparisons."""

import math

import numpy as np
import pytest

from lungseg_lib.core.stats import bootstrap_ci, paired_comparison, summarize


def test_bootstrap_ci_brackets_the_mean_and_is_reproducible():
    values = np.random.default_rng(0).normal(0.9, 0.05, 200)
    low, high = bootstrap_ci(values)
    assert low < values.mean() < high
    assert (low, high) == bootstrap_ci(values)  # seeded
    assert high - low == pytest.approx(2 * 1.96 * values.std(ddof=1) / math.sqrt(len(values)), rel=0.15)
    narrow = bootstrap_ci(values, confidence=0.5)
    assert low < narrow[0] < narrow[1] < high


def test_bootstrap_ci_of_constant_short_and_empty_data():
    assert bootstrap_ci([0.7, 0.7, 0.7]) == pytest.approx((0.7, 0.7))  # the mean of the data, no resampling
    assert bootstrap_ci([0.3]) == (0.3, 0.3)
    low, high = bootstrap_ci([])
    assert math.isnan(low) and math.isnan(high)


def test_summarize():
    s = summarize([0.5, 0.7, 0.9, 0.9])
    assert s["mean"] == pytest.approx(0.75) and s["median"] == pytest.approx(0.8) and s["n"] == 4
    assert s["std"] == pytest.approx(np.std([0.5, 0.7, 0.9, 0.9], ddof=1))
    assert s["ci_low"] <= s["mean"] <= s["ci_high"]
    assert summarize([0.4])["std"] == 0.0


def test_paired_comparison():
    rng = np.random.default_rng(1)
    b = rng.uniform(0.8, 0.9, 50)
    better = paired_comparison(b + 0.02, b)
    assert better["mean_diff"] == pytest.approx(0.02) and better["n"] == 50
    assert better["ci_low"] == pytest.approx(0.02) and better["wilcoxon_p"] < 1e-6
    noisy = paired_comparison(b + rng.normal(0, 0.01, 50), b)
    assert noisy["ci_low"] < noisy["mean_diff"] < noisy["ci_high"]
    same = paired_comparison(b, b)
    assert same["mean_diff"] == 0 and same["wilcoxon_p"] == 1.0  # all differences zero
    with pytest.raises(ValueError, match="same length"):
        paired_comparison(b, b[:-1])
