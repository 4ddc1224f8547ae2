"""The failure analysis: which test images a model fails on, and why.

Tests the paper's explanation that the failures are "too light or too dark" (Spearman
correlations with brightness, and the brightness of the worst images), and describes the
failures (under- or over-segmentation; scores by TB label and source). Reads per_image.csv
tables only.
"""

from __future__ import annotations

import math
import os

import pandas as pd

from . import facts, profile_runs, tables

FEATURES = ("brightness", "contrast", "brightness_deviation")


def failure_correlations(table: pd.DataFrame | None, metric: str = "dice_post") -> pd.DataFrame:
    """Spearman correlation of ``metric`` with brightness, contrast and |brightness - median|
    (the paper's "too light or too dark" explanation predicts a negative correlation with
    the last one). ``table`` None (a missing run): NaN rows."""
    from scipy.stats import spearmanr

    rows = []
    for name in FEATURES:
        rho = p = math.nan
        values = None if table is None else (table["brightness"] - table["brightness"].median()).abs() \
            if name == "brightness_deviation" else table[name]
        if values is not None and values.nunique() > 1 and table[metric].nunique() > 1:
            res = spearmanr(values, table[metric])
            rho, p = float(res.statistic), float(res.pvalue)
        rows.append({"feature": name, "rho": rho, "p": p,
                     "n": float(len(table)) if table is not None else math.nan})
    return pd.DataFrame(rows)


def correlation_table(corr: pd.DataFrame, identities: dict[str, str] | None = None) -> pd.DataFrame:
    """:func:`failure_correlations` as text: feature, Spearman rho, p-value, images;
    ``identities`` (of :func:`failure_facts`, by metric name) marks rho and p as facts."""
    names = {"brightness": "brightness (mean intensity)", "contrast": "contrast (intensity std)",
             "brightness_deviation": "|brightness - median brightness|"}
    identities = identities or {}

    def marks(feature: str) -> dict:
        found = {c: identities.get(f"failure_{k}_{feature}") for c, k in (("Spearman rho", "rho"), ("p", "p"))}
        return {c: v for c, v in found.items() if v}

    return pd.DataFrame({"Feature": [names[f] for f in corr["feature"]],
                         "Spearman rho": [f"{r:+.3f}" for r in corr["rho"]],
                         "p": [f"{p:.2g}" for p in corr["p"]], "Images": [f"{n:.0f}" for n in corr["n"]],
                         facts.FACTS: [marks(f) for f in corr["feature"]]})


def failure_facts(profile: str, model: str, runs_dir: str | os.PathLike = "runs", metric: str = "dice_post",
                  n_worst: int = 10) -> dict[facts.Fact, float]:
    """The failure analysis of ``model``'s seed-averaged per-image ``metric`` as facts (named
    ``failure_`` + ``rho_<feature>``, ``p_<feature>``, ``extreme_<key>``, ``mode_<key>``, of ``metric``):
    the correlations of :func:`failure_correlations`, the extreme-brightness test of
    :func:`extreme_brightness` and the failure modes of :func:`failure_modes` over the
    ``n_worst`` images. The failure chapter and the claims table read these, so they agree."""
    from .profile_runs import mean_per_image

    table = mean_per_image(profile, model, runs_dir)
    values = {}
    for _, row in failure_correlations(table, metric).iterrows():
        values[f"rho_{row['feature']}"], values[f"p_{row['feature']}"] = row["rho"], row["p"]
    values |= {f"extreme_{k}": v for k, v in extreme_brightness(table, metric, n_worst).items()}
    values |= {f"mode_{k}": v for k, v in failure_modes(table, metric, n_worst).items()}
    return {profile_runs.model_fact(profile, model, f"failure_{k}", runs_dir, score=metric): float(v)
            for k, v in values.items()}


def short_facts(found: dict[facts.Fact, float]) -> dict[str, tuple[facts.Fact, float]]:
    """``{name without the ``failure_`` prefix: (fact, value)}`` of :func:`failure_facts`."""
    return {f.metric.removeprefix("failure_"): (f, v) for f, v in found.items()}


def extreme_brightness(table: pd.DataFrame | None, metric: str = "dice_post", n_worst: int = 10,
                       tail: float = 0.1) -> dict[str, float]:
    """How many of the ``n_worst`` images by ``metric`` are among the ``tail`` lightest or
    darkest of the test set, against the ``2 * tail * n`` expected by chance (one-sided
    binomial p-value). ``table`` None (a missing run): NaN values."""
    from scipy.stats import binomtest

    if table is None:
        return dict.fromkeys(["n_extreme", "n", "expected", "p"], math.nan)
    low, high = table["brightness"].quantile([tail, 1 - tail])
    worst = table.sort_values([metric, "name"]).head(n_worst)
    k = int(((worst["brightness"] < low) | (worst["brightness"] > high)).sum())
    n = len(worst)
    p = binomtest(k, n, 2 * tail, alternative="greater").pvalue if n else math.nan
    return {"n_extreme": float(k), "n": float(n), "expected": float(2 * tail * n), "p": float(p)}


def failure_modes(table: pd.DataFrame | None, metric: str = "dice_post", n_worst: int = 10) -> dict[str, float]:
    """Of the ``n_worst`` images by ``metric``, how many under-segment (recall below precision:
    the prediction is smaller than the manual mask) and how many over-segment (larger).
    ``table`` None (a missing run): NaN values."""
    suffix = "_post" if metric.endswith("_post") else ""
    if table is None or f"recall{suffix}" not in table or f"precision{suffix}" not in table:
        return dict.fromkeys(["n", "n_under", "n_over", "recall", "precision"], math.nan)
    worst = table.sort_values([metric, "name"]).head(n_worst)
    recall, precision = worst[f"recall{suffix}"], worst[f"precision{suffix}"]
    return {"n": float(len(worst)), "n_under": float((recall < precision).sum()),
            "n_over": float((precision < recall).sum()),
            "recall": float(recall.mean()), "precision": float(precision.mean())}


def _group_keys(column: pd.Series) -> pd.Series:
    """Group keys as text: labels read as floats (a blank makes pandas do that) become "0"/"1",
    and blanks become "unknown"."""
    numeric = pd.to_numeric(column, errors="coerce")
    if numeric.notna().any() and (numeric.dropna() % 1 == 0).all():
        column = numeric.astype("Int64")
    return column.astype("string").fillna("unknown").replace("", "unknown")


GROUPS = {"label": {"0": "normal", "1": "tuberculosis"}, "source": {}}


def group_table(table: pd.DataFrame | None, metric: str = "dice_post") -> pd.DataFrame:
    """``metric`` by image group (TB label, source): images, mean [95% CI], and the two-sided
    Mann-Whitney U p-value between the two groups of each kind (blank with other than two).
    ``table`` None (a missing run): one row saying so."""
    from scipy.stats import mannwhitneyu

    from ..core.stats import summarize

    label = tables.metric_label(metric)
    if table is None:
        return pd.DataFrame([{"Group": "missing run", "Images": "", label: "missing", "Mann-Whitney p": ""}])
    rows = []
    for column, names in GROUPS.items():
        groups = {k: g[metric].to_numpy() for k, g in table.groupby(_group_keys(table[column]))}
        p = mannwhitneyu(*groups.values()).pvalue if len(groups) == 2 else math.nan
        for key, values in groups.items():
            rows.append({"Group": f"{column}: {names.get(key, key)}", "Images": f"{len(values)}",
                         label: tables.fmt_ci(summarize(values)),
                         "Mann-Whitney p": "" if math.isnan(p) else f"{p:.2g}"})
    return pd.DataFrame(rows)
