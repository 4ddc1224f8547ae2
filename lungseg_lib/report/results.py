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
from . import facts, papers
from .profile_runs import (REFERENCE_MODEL, evaluated_models, mean_per_image, model_fact, registry, run_dir, seed_dirs,
                           seed_per_image, seed_spread, title_of)
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
           "Run": f"{cite}, Table 1\n(its own data, {papers.PAPERS[papers.REPRODUCED].n_test or '?'} images)",
           REPORTED: True}
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
    """The paper's Table 1 beside ours: every registry model, its run (profile/model, the seeds and
    the test images on a second line), Dice and IoU (mean over seeds [95% bootstrap CI over the
    test images]) without and with post-processing (the seed spread: :func:`seed_table`); below
    a model, the values Table 1 of the reproduced paper reports for it
    (:func:`reported_rows`, marked in the ``_reported`` column). A run that does not exist says
    so in ``Run`` and ``missing`` in the scores. ``attrs["best"]``: the metric columns, whose
    best measured value :func:`html_table` sets in bold."""
    frame = summary_frame(profile, runs_dir)
    columns = {f"{m}{k}": f"{label} {'post' if k else 'raw'}" for m, label in METRICS.items() for k in ("", "_post")}
    rows = []
    for _, f in frame.iterrows():
        n_images = "" if f["n_images"] is None or pd.isna(f["n_images"]) else str(int(f["n_images"]))
        run = f"{f['profile']}/{f['model']}" + ("" if f["status"] == "evaluated" else f" ({f['status']})")
        row = {"Model": f["title"], "Run": run + (f"\nseeds {f['seeds']}, {n_images} images" if f["seeds"] else ""),
               "Seeds": f["seeds"], "Test images": n_images, REPORTED: False}
        for m in METRICS:
            row[columns[m]] = fmt_ci(f[f"{m}_raw"])
            row[columns[f"{m}_post"]] = fmt_ci(f[f"{m}_post"])
        row[facts.FACTS] = {label: model_fact(profile, f["model"], metric, runs_dir).identity
                            for metric, label in columns.items()}
        rows.append(row)
        rows.extend(reported_rows(f["model"], columns))
    order = ["Model", "Run", *columns.values(), REPORTED, facts.FACTS]
    table = pd.DataFrame(rows).reindex(columns=order).fillna({c: "" for c in columns.values()})
    table[facts.FACTS] = [v if isinstance(v, dict) else {} for v in table[facts.FACTS]]
    table.attrs["best"] = {c: "max" for c in columns.values()}
    return table


def seed_table(profile: str, runs_dir: str | os.PathLike = "runs") -> pd.DataFrame:
    """Per model, the post-processed Dice and IoU of each seed's test mean: the seeds, their
    mean, standard deviation and range (``one seed`` / ``missing`` where there is no spread)."""
    rows = []
    for _, f in summary_frame(profile, runs_dir).iterrows():
        row = {"Model": f["title"], "Seeds": f["seeds"] or "none", facts.FACTS: {}}
        for m, label in METRICS.items():
            spread = f[f"{m}_post_seeds"]
            row[f"{label} post, mean"] = f"{spread['mean']:.4f}" if spread["n_seeds"] else "missing"
            row[f"{label} SD (range)"] = fmt_spread(spread)
            row[facts.FACTS][f"{label} post, mean"] = model_fact(profile, f["model"], f"{m}_post", runs_dir).identity
            if spread["n_seeds"] > 1:
                row[facts.FACTS][f"{label} SD (range)"] = model_fact(
                    profile, f["model"], f"{m}_post_seed_sd", runs_dir).identity
        rows.append(row)
    return pd.DataFrame(rows)


def score_facts(profile: str, runs_dir: str | os.PathLike = "runs") -> dict[facts.Fact, float]:
    """Every model's test scores as facts (:mod:`facts`), for gluing: ``{metric}`` (the mean over
    the test images of the seed-averaged per-image scores), ``{metric}_ci_low``/``_ci_high``, and
    over the seeds' test means ``{metric}_seed_sd``/``_seed_min``/``_seed_max``/``_n_seeds``,
    for ``metric`` in dice, dice_post, iou, iou_post (NaN for runs that are missing)."""
    out = {}
    for _, row in summary_frame(profile, runs_dir).iterrows():
        for m in METRICS:
            for kind, suffix in (("raw", ""), ("post", "_post")):
                stat = row[f"{m}_{kind}"] if isinstance(row[f"{m}_{kind}"], dict) else {}
                spread = row[f"{m}_{kind}_seeds"]
                values = {"": stat.get("mean", math.nan), "_ci_low": stat.get("ci_low", math.nan),
                          "_ci_high": stat.get("ci_high", math.nan), "_seed_sd": spread["sd"],
                          "_seed_min": spread["min"], "_seed_max": spread["max"], "_n_seeds": spread["n_seeds"]}
                for key, value in values.items():
                    out[model_fact(profile, row["model"], f"{m}{suffix}{key}", runs_dir)] = float(value)
    return out


def rank_words(profile: str, model: str = REFERENCE_MODEL, runs_dir: str | os.PathLike = "runs",
               metric: str = "dice_post") -> str:
    """Where ``model`` ranks by its mean ``metric`` among the evaluated models, in words:
    ``"the lowest of the 8 evaluated models"``, ``"3rd of the 8 evaluated models"``."""
    means = {m: s["mean"] for m in evaluated_models(profile, runs_dir)
             if (s := summarize_mean(profile, m, runs_dir, metric)) is not None}
    if model not in means:
        return "not ranked (no evaluated run)"
    order = sorted(means, key=means.get, reverse=True)
    rank, n = order.index(model) + 1, len(order)
    if rank == n and n > 1:
        return f"the lowest of the {n} evaluated models"
    if rank == 1:
        return f"the highest of the {n} evaluated models"
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(rank if rank < 20 else rank % 10, "th")
    return f"{rank}{suffix} of the {n} evaluated models"


def summarize_mean(profile: str, model: str, runs_dir: str | os.PathLike = "runs", metric: str = "dice_post"):
    """``{"mean": ...}`` of ``model``'s seed-averaged per-image ``metric`` (None without runs)."""
    table = mean_per_image(profile, model, runs_dir)
    return None if table is None else {"mean": float(table[metric].mean())}


def measured_means(profile: str, runs_dir: str | os.PathLike = "runs") -> list[dict]:
    """Each evaluated model's mean Dice and IoU, raw and post-processed, as rows for
    :func:`lungseg_lib.report.papers.consistency_table` (``{"Source", "dice", "iou"}``, and the
    facts of the two values in ``_facts``)."""
    rows, values = [], {f.identity: v for f, v in score_facts(profile, runs_dir).items()}
    for m in evaluated_models(profile, runs_dir):
        for kind, suffix in (("raw", ""), ("post", "_post")):
            dice, iou = (model_fact(profile, m, f"{metric}{suffix}", runs_dir) for metric in ("dice", "iou"))
            rows.append({"Source": f"this build: {title_of(m)}, {kind} ({profile} run, {dice.words})",
                         "dice": values[dice.identity], "iou": values[iou.identity],
                         facts.FACTS: {"dice": dice.identity, "iou": iou.identity}})
    return rows


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


def flip_signs(signs: str) -> str:
    """``"+ + -"`` -> ``"- - +"``: per-seed signs of the opposite difference."""
    return " ".join({"+": "-", "-": "+"}.get(x, x) for x in str(signs).split())


def paired_sign(reference: str = REFERENCE_MODEL) -> str:
    """The book's one sign of a comparison with the paper's model, in words."""
    return f"{title_of(reference)} minus model"


def paired_columns(reference: str = REFERENCE_MODEL) -> dict[str, str]:
    """The paired table's column headers, which say the sign convention (:func:`paired_sign`:
    positive when the paper's model scores higher)."""
    ref = title_of(reference)
    return {"diff": f"{ref} minus model\n[95% CI]", "p": "Wilcoxon p", "signs": "Sign per seed",
            "verdict": f"{ref} is"}


def paired_table(profile: str, runs_dir: str | os.PathLike = "runs", reference: str = REFERENCE_MODEL,
                 metric: str = "dice_post") -> pd.DataFrame:
    """:func:`paired_comparisons` as text, in the book's one sign convention: the reference (the
    paper's model) minus the other model, on seed-averaged per-image scores, with its bootstrap
    95% CI and the Wilcoxon signed-rank p-value, the sign of that difference in every seed both
    have, and the seed-robust verdict (:func:`verdicts.seed_verdict`: "better" means the
    reference is better); missing runs marked. The differences are facts
    (``{reference}_minus`` of ``metric``, :func:`paired_fact`)."""
    rows, evaluated, col = [], evaluated_models(profile, runs_dir), paired_columns(reference)
    blank = {"n": "", col["p"]: "", col["signs"]: "", col["verdict"]: ""}
    for _, c in paired_comparisons(profile, runs_dir, reference, metric).iterrows():
        if pd.isna(c["mean_diff"]):
            missing = c["model"] if c["model"] not in evaluated else reference
            reason = f"missing ({missing} not evaluated)" if pd.isna(c["n"]) else \
                f"{c['n']:.0f} shared test images: too few to compare"
            rows.append({"Model": c["title"], **blank, col["diff"]: reason})
            continue
        flipped = flip_signs(c["seed_signs"])
        signs = ", ".join(f"{s}: {g}" for s, g in zip(str(c["seeds"]).split(), flipped.split()))
        rows.append({"Model": c["title"], "n": f"{c['n']:.0f}",
                     col["diff"]: f"{-c['mean_diff']:+.4f} [{-c['ci_high']:+.4f}, {-c['ci_low']:+.4f}]",
                     col["p"]: f"{c['wilcoxon_p']:.2g}", col["signs"]: signs,
                     col["verdict"]: seed_verdict(-c["ci_high"], -c["ci_low"], flipped),
                     facts.FACTS: {col["diff"]: paired_fact(profile, c["model"], reference, metric, runs_dir).identity}})
    return pd.DataFrame(rows).reindex(columns=["Model", "n", *col.values(), facts.FACTS])


def paired_fact(profile: str, model: str, reference: str = REFERENCE_MODEL, metric: str = "dice_post",
                runs_dir: str | os.PathLike = "runs") -> facts.Fact:
    """The fact of the paired difference, ``reference`` minus ``model``, in ``metric``."""
    return model_fact(profile, model, f"{reference}_minus", runs_dir, score=metric)


def postprocessing_gain(table: pd.DataFrame, metric: str = "dice") -> dict[str, float]:
    """Mean change of ``metric`` from post-processing (post - raw) over a per_image table,
    with its bootstrap 95% CI, Wilcoxon p, and how many images changed."""
    c = paired_comparison(table[f"{metric}_post"], table[metric])
    changed = table[f"{metric}_post"] != table[metric]
    return {"gain": c["mean_diff"], "ci_low": c["ci_low"], "ci_high": c["ci_high"],
            "wilcoxon_p": c["wilcoxon_p"], "n": float(c["n"]), "n_changed": float(changed.sum()),
            "n_removed": float((table["removed_components"] > 0).sum())}


GAIN_KEYS = {"gain": "", "ci_low": "_ci_low", "ci_high": "_ci_high", "wilcoxon_p": "_wilcoxon_p",
             "n": "_n", "n_changed": "_n_changed", "n_removed": "_n_removed"}


def gain_facts(profile: str, model: str, runs_dir: str | os.PathLike = "runs",
               metric: str = "dice") -> dict[facts.Fact, float]:
    """:func:`postprocessing_gain` of ``model``'s seed-averaged per-image scores as facts
    (``pp_gain_{metric}``, ``..._ci_low``, ``..._n_changed``...; NaN when the run is missing).
    An image counts as changed (or as having components removed) when it did in any seed."""
    table = mean_per_image(profile, model, runs_dir)
    g = postprocessing_gain(table, metric) if table is not None else dict.fromkeys(GAIN_KEYS, math.nan)
    return {model_fact(profile, model, f"pp_gain_{metric}{suffix}", runs_dir): float(g[key])
            for key, suffix in GAIN_KEYS.items()}


def gain_table(profile: str, runs_dir: str | os.PathLike = "runs", metric: str = "dice") -> pd.DataFrame:
    """:func:`gain_facts` for every registry model (missing runs marked), its cells marked as facts."""
    rows = []
    gain = f"Mean {METRICS[metric]} gain [95% CI]"
    columns = {"Images with components removed": "_n_removed", "Images changed": "_n_changed", gain: ""}
    for _, spec in registry().iterrows():
        g = {f.metric.removeprefix(f"pp_gain_{metric}"): (f, v) for f, v in gain_facts(
            profile, spec["name"], runs_dir, metric).items()}
        row = {"Model": spec["title"]}
        if math.isnan(g[""][1]):
            row.update({"Images with components removed": "", "Images changed": "", gain: "missing"})
        else:
            row.update({"Images with components removed": f"{g['_n_removed'][1]:.0f} of {g['_n'][1]:.0f}",
                        "Images changed": f"{g['_n_changed'][1]:.0f}",
                        gain: f"{g[''][1]:+.4f} [{g['_ci_low'][1]:+.4f}, {g['_ci_high'][1]:+.4f}]",
                        facts.FACTS: {c: g[k][0].identity for c, k in columns.items()}})
        rows.append(row)
    return pd.DataFrame(rows).reindex(columns=["Model", *columns, facts.FACTS])


def rank_cases(table: pd.DataFrame, metric: str, n: int, present: set[str] | None = None) -> dict[str, list[str]]:
    """Names of the ``n`` best, median and worst images by ``metric`` (only those in ``present``
    when given: the images that exist in the data folder)."""
    if present is not None:
        table = table[table["name"].isin(present)]
    ordered = table.sort_values([metric, "name"], ascending=[False, True])["name"].tolist()
    mid = max(0, (len(ordered) - n) // 2)
    return {"best": ordered[:n], "median": ordered[mid:mid + n], "worst": ordered[::-1][:n]}
