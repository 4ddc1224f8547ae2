"""Table 1 and the comparisons of the results chapter: every model's Dice and IoU with and
without post-processing beside the values the reproduced paper reports, the seed spread, the
per-image scores, each model against the paper's on the same images, and the gain of the
post-processing layer."""

from __future__ import annotations

import math
import os

import pandas as pd

from ..core.stats import paired_comparison, summarize
from ..engine import runfolder
from ..engine.records import read_metrics
from . import papers
from .profile_runs import (REFERENCE_MODEL, evaluated_models, mean_per_image, registry, run_dir, seed_dirs, seed_per_image,
                   seed_spread, title_of)
from .tables import METRICS, REPORTED, fmt_ci, fmt_spread
from .verdicts import seed_verdict


# The values the papers REPORT live in lungseg_lib/report/papers.py (quoted, never measured here):
# the results table sets Table 1 of the reproduced paper beside the measured rows.
PAPER_REPORTED_SOURCE = (f"{papers.source()}, Table 1, on the paper's own data "
                         f"({papers.PAPERS[papers.REPRODUCED].data})")


def reported_rows(model: str, columns: dict[str, str]) -> list[dict]:
    """The rows of the reproduced paper's Table 1 set beside ``model`` (see :mod:`papers`), as
    results-table rows: the paper's row name, its values under ``columns`` (``{"dice":
    "Dice raw", "dice_post": "Dice post", ...}``), marked as reported. The paper's own model
    has one row holding its raw and its post-processed values; the other rows go under raw
    (only the paper's own model has a post-processed row)."""
    rows = [r for r in papers.table1() if r.beside == model]
    if not rows:
        return []
    cite = papers.short()
    names = " / ".join(f"\u201c{r.row}\u201d" for r in rows)
    note = "; ".join(r.note for r in rows if r.note)
    row = {"Model": f"reported: {names}" + (f" ({note})" if note else ""),
           "Run": f"{cite}, Table 1 (its own data)",
           "Test images": str(papers.PAPERS[papers.REPRODUCED].n_test or ""), REPORTED: True}
    for r in rows:
        suffix = "_post" if r.post else ""
        for metric in METRICS:
            row[columns[f"{metric}{suffix}"]] = f"{getattr(r, metric):.{r.decimals}f}"
    return [row]


def summary_frame(profile: str, runs_dir: str | os.PathLike = "runs") -> pd.DataFrame:
    """One row per registry model: the status of its seed-0 run, its evaluated seeds, raw/post
    Dice and IoU summaries (dicts: mean and bootstrap CI over the test images of the
    seed-averaged per-image scores; ``*_seeds``: the spread of the test means over seeds),
    test-set size, image size and the seed-0 training time."""
    rows = []
    for _, spec in registry().iterrows():
        path = run_dir(profile, spec["name"], runs_dir)
        metrics = read_metrics(path)
        scores = mean_per_image(profile, spec["name"], runs_dir)
        columns = {f"{m}{suffix}": f"{m}_{kind}" for m in METRICS for kind, suffix in (("raw", ""), ("post", "_post"))}
        rows.append({
            "model": spec["name"], "title": spec["title"], "profile": profile,
            "status": runfolder.run_status(path), "n_images": metrics.n_images if metrics else None,
            "image_size": metrics.image_size if metrics else None,
            "train_seconds": metrics.timings.train_seconds if metrics else None,
            "seeds": " ".join(map(str, seed_dirs(profile, spec["name"], runs_dir))),
            **{key: None if scores is None else summarize(scores[col]) for col, key in columns.items()},
            **{f"{key}_seeds": seed_spread(profile, spec["name"], runs_dir, col) for col, key in columns.items()},
        })
    return pd.DataFrame(rows)


def results_table(profile: str, runs_dir: str | os.PathLike = "runs") -> pd.DataFrame:
    """Table 1: every registry model, Dice and IoU (mean over seeds [95% bootstrap CI over the
    test images]) without and with post-processing (the seed spread: :func:`seed_table`); below
    a model, the values Table 1 of the reproduced paper reports for it
    (:func:`reported_rows`, marked in the ``_reported`` column). A run that does not exist says
    so in ``Run`` and ``missing`` in the scores. ``attrs["best"]``: the metric columns, whose
    best measured value :func:`html_table` sets in bold."""
    frame = summary_frame(profile, runs_dir)
    columns = {f"{m}{k}": f"{label} {'post' if k else 'raw'}" for m, label in METRICS.items() for k in ("", "_post")}
    rows = []
    for _, f in frame.iterrows():
        row = {"Model": f["title"],
               "Run": f"{f['profile']}/{f['model']}" + ("" if f["status"] == "evaluated" else f" ({f['status']})"),
               "Seeds": f["seeds"],
               "Test images": "" if f["n_images"] is None or pd.isna(f["n_images"]) else str(int(f["n_images"])),
               REPORTED: False}
        for m in METRICS:
            row[columns[m]] = fmt_ci(f[f"{m}_raw"])
            row[columns[f"{m}_post"]] = fmt_ci(f[f"{m}_post"])
        rows.append(row)
        rows.extend(reported_rows(f["model"], columns))
    order = ["Model", "Run", "Seeds", "Test images", *columns.values(), REPORTED]
    table = pd.DataFrame(rows).reindex(columns=order).fillna({c: "" for c in ["Seeds", *columns.values()]})
    table.attrs["best"] = {c: "max" for c in columns.values()}
    return table


def seed_table(profile: str, runs_dir: str | os.PathLike = "runs") -> pd.DataFrame:
    """Per model, the post-processed Dice and IoU of each seed's test mean: the seeds, their
    mean, standard deviation and range (``one seed`` / ``missing`` where there is no spread)."""
    rows = []
    for _, f in summary_frame(profile, runs_dir).iterrows():
        row = {"Model": f["title"], "Seeds": f["seeds"] or "none"}
        for m, label in METRICS.items():
            spread = f[f"{m}_post_seeds"]
            row[f"{label} post, mean of seeds"] = f"{spread['mean']:.4f}" if spread["n_seeds"] else "missing"
            row[f"{label} seed SD (range)"] = fmt_spread(spread)
        rows.append(row)
    return pd.DataFrame(rows)


def metric_values(profile: str, runs_dir: str | os.PathLike = "runs") -> dict[str, float]:
    """Flat ``{f"{model}_{metric}_{raw|post}_{mean|ci_low|ci_high}": float}`` and the seed
    spread ``..._seed_{n_seeds|sd|min|max}`` for gluing (NaN for runs that are missing)."""
    out = {}
    for _, row in summary_frame(profile, runs_dir).iterrows():
        for m in METRICS:
            for kind in ("raw", "post"):
                stat = row[f"{m}_{kind}"] if isinstance(row[f"{m}_{kind}"], dict) else {}
                for key in ("mean", "ci_low", "ci_high"):
                    out[f"{row['model']}_{m}_{kind}_{key}"] = float(stat.get(key, math.nan))
                for key in ("n_seeds", "sd", "min", "max"):
                    out[f"{row['model']}_{m}_{kind}_seed_{key}"] = row[f"{m}_{kind}_seeds"][key]
    return out


def measured_means(profile: str, runs_dir: str | os.PathLike = "runs") -> list[dict]:
    """Each evaluated model's mean Dice and IoU, raw and post-processed, as rows for
    :func:`lungseg_lib.report.papers.consistency_table` (``{"Source", "dice", "iou"}``)."""
    values = metric_values(profile, runs_dir)
    return [{"Source": f"this build: {title_of(m)}, {kind} ({profile} run)",
             "dice": values[f"{m}_dice_{kind}_mean"], "iou": values[f"{m}_iou_{kind}_mean"]}
            for m in evaluated_models(profile, runs_dir) for kind in ("raw", "post")]


def per_image_long(profile: str, runs_dir: str | os.PathLike = "runs",
                   metric: str = "dice_post") -> pd.DataFrame:
    """Long table (model, title, name, value) of one per-image metric, averaged over each model's
    evaluated seeds."""
    frames = []
    for _, spec in registry().iterrows():
        table = mean_per_image(profile, spec["name"], runs_dir)
        if table is not None:
            frames.append(pd.DataFrame({"model": spec["name"], "title": spec["title"],
                                        "name": table["name"], "value": table[metric]}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["model", "title", "name", "value"])


def paired_comparisons(profile: str, runs_dir: str | os.PathLike = "runs", reference: str = REFERENCE_MODEL,
                       metric: str = "dice_post", reference_profile: str | None = None) -> pd.DataFrame:
    """Each registry model other than ``reference`` compared with it on the same test images:
    columns model, title, n, mean_diff (model - reference), ci_low, ci_high (bootstrap 95%),
    wilcoxon_p; NaN for a model whose per-image scores (or the reference's) are missing, and
    for runs with fewer than two test images in common (n says how many). ``reference_profile``:
    the reference's runs from that profile as they are (a reading of its recipe), not the
    headline reading's."""
    scores = per_image_long(profile, runs_dir, metric).pivot(index="name", columns="model", values="value")
    if reference_profile is not None:
        ref = mean_per_image(reference_profile, reference, runs_dir, headline=False)
        scores = scores.drop(columns=[reference], errors="ignore")
        if ref is not None:
            scores = scores.join(ref.set_index("name")[metric].rename(reference), how="outer")
    rows = []
    for _, spec in registry().iterrows():
        name = spec["name"]
        if name == reference:
            continue
        row = {"model": name, "title": spec["title"]}
        if name in scores and reference in scores:
            both = scores[[name, reference]].dropna()
            row.update(paired_comparison(both[name], both[reference]) if len(both) >= 2 else {"n": len(both)})
            row.update(seed_signs(profile, name, reference, runs_dir, metric, reference_profile))
        rows.append(row)
    columns = ["model", "title", "n", "mean_diff", "ci_low", "ci_high", "wilcoxon_p", "seeds", "seed_signs"]
    return pd.DataFrame(rows).reindex(columns=columns)


def seed_signs(profile: str, model: str, reference: str, runs_dir: str | os.PathLike = "runs",
               metric: str = "dice_post", reference_profile: str | None = None) -> dict:
    """The sign (``+``, ``-`` or ``0``) of the mean per-image difference model - reference in
    every seed that both have, e.g. ``{"seeds": "0 1 2", "seed_signs": "+ + -"}`` (the reference
    from ``reference_profile`` as it is, when given)."""
    a = seed_per_image(profile, model, runs_dir)
    b = seed_per_image(reference_profile or profile, reference, runs_dir, headline=reference_profile is None)
    shared = sorted(set(a["seed"]) & set(b["seed"])) if a is not None and b is not None else []
    signs = []
    for seed in shared:
        pair = a[a.seed == seed].set_index("name")[metric].to_frame("a").join(
            b[b.seed == seed].set_index("name")[metric].to_frame("b"), how="inner")
        diff = float((pair["a"] - pair["b"]).mean())
        signs.append("+" if diff > 0 else "-" if diff < 0 else "0")
    return {"seeds": " ".join(map(str, shared)), "seed_signs": " ".join(signs)}


def paired_table(profile: str, runs_dir: str | os.PathLike = "runs", reference: str = REFERENCE_MODEL,
                 metric: str = "dice_post") -> pd.DataFrame:
    """:func:`paired_comparisons` as text: mean difference (model - reference) on seed-averaged
    per-image scores with its bootstrap 95% CI and the Wilcoxon signed-rank p-value, the sign of
    the difference in every seed both have, and the seed-robust verdict
    (:func:`verdicts.seed_verdict`); missing runs marked."""
    rows, evaluated = [], evaluated_models(profile, runs_dir)
    blank = {"n": "", "95% CI": "", "Wilcoxon p": "", "Sign per seed": "", "Verdict": ""}
    for _, c in paired_comparisons(profile, runs_dir, reference, metric).iterrows():
        if pd.isna(c["mean_diff"]):
            missing = c["model"] if c["model"] not in evaluated else reference
            reason = f"missing ({missing} not evaluated)" if pd.isna(c["n"]) else \
                f"{c['n']:.0f} shared test images: too few to compare"
            rows.append({"Model": c["title"], **blank, "Mean difference": reason})
        else:
            signs = ", ".join(f"{s}: {g}" for s, g in zip(str(c["seeds"]).split(), str(c["seed_signs"]).split()))
            rows.append({"Model": c["title"], "n": f"{c['n']:.0f}", "Mean difference": f"{c['mean_diff']:+.4f}",
                         "95% CI": f"[{c['ci_low']:+.4f}, {c['ci_high']:+.4f}]",
                         "Wilcoxon p": f"{c['wilcoxon_p']:.2g}", "Sign per seed": signs,
                         "Verdict": seed_verdict(c["ci_low"], c["ci_high"], c["seed_signs"])})
    return pd.DataFrame(rows).reindex(columns=["Model", "n", "Mean difference", "95% CI", "Wilcoxon p",
                                               "Sign per seed", "Verdict"])


def postprocessing_gain(table: pd.DataFrame, metric: str = "dice") -> dict[str, float]:
    """Mean change of ``metric`` from post-processing (post - raw) over a per_image table,
    with its bootstrap 95% CI, Wilcoxon p, and how many images changed."""
    c = paired_comparison(table[f"{metric}_post"], table[metric])
    changed = table[f"{metric}_post"] != table[metric]
    return {"gain": c["mean_diff"], "ci_low": c["ci_low"], "ci_high": c["ci_high"],
            "wilcoxon_p": c["wilcoxon_p"], "n": float(c["n"]), "n_changed": float(changed.sum()),
            "n_removed": float((table["removed_components"] > 0).sum())}


def gain_table(profile: str, runs_dir: str | os.PathLike = "runs", metric: str = "dice") -> pd.DataFrame:
    """:func:`postprocessing_gain` for every registry model (missing runs marked)."""
    rows = []
    for _, spec in registry().iterrows():
        table = mean_per_image(profile, spec["name"], runs_dir)
        row = {"Model": spec["title"]}
        if table is None:
            row.update({"Images with removed components": "", "Images changed": "",
                        f"Mean {METRICS[metric]} gain": "missing", "95% CI": ""})
        else:
            g = postprocessing_gain(table, metric)
            row.update({"Images with removed components": f"{g['n_removed']:.0f} of {g['n']:.0f}",
                        "Images changed": f"{g['n_changed']:.0f}",
                        f"Mean {METRICS[metric]} gain": f"{g['gain']:+.4f}",
                        "95% CI": f"[{g['ci_low']:+.4f}, {g['ci_high']:+.4f}]"})
        rows.append(row)
    return pd.DataFrame(rows)


def rank_cases(table: pd.DataFrame, metric: str, n: int, present: set[str] | None = None) -> dict[str, list[str]]:
    """Names of the ``n`` best, median and worst images by ``metric`` (only those in ``present``
    when given: the images that exist in the data folder)."""
    if present is not None:
        table = table[table["name"].isin(present)]
    ordered = table.sort_values([metric, "name"], ascending=[False, True])["name"].tolist()
    mid = max(0, (len(ordered) - n) // 2)
    return {"best": ordered[:n], "median": ordered[mid:mid + n], "worst": ordered[::-1][:n]}
