"""Tables for the book, read from run folders (``runs/<profile>/<model>/``) and data folders.

Nothing here trains or imports TensorFlow: every function reads what a run left on disk
(``config.json``, ``metrics.json``, ``per_image.csv``, ``history.csv``, ``predictions/``), so
the figure notebooks run in seconds. A model whose run does not exist is a row marked
``missing``; no number is ever filled in for it.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from . import papers
from .engine import runfolder
from .project import REPO_ROOT, relative_to_repo, repo_path
from .errors import DataError

# The values the papers REPORT live in lungseg_lib/papers.py (quoted, never measured here):
# the results table sets Table 1 of the reproduced paper beside the measured rows.
PAPER_REPORTED_SOURCE = (f"{papers.source()}, Table 1, on the paper's own data "
                         f"({papers.PAPERS[papers.REPRODUCED].data})")
REPORTED = "_reported"  # a table column marking rows of reported (quoted) values; html_table styles them

REFERENCE_MODEL = "nasnet_decoder"
PROFILE_PREFERENCE = ("paper", "cpu", "cpu-v1")  # smoke only when asked for
PROFILE_NOTES = {
    "smoke": "smoke profile: synthetic 64 px images, a few epochs (checks the pipeline, not the method)",
    "cpu": ("cpu profile (the fair protocol): the real data at 128 px, the same epochs for every model, "
            "several seeds, trained on a 2-core CPU"),
    "cpu-v1": ("cpu-v1 profile (the first cpu protocol, replaced by the fair one): the real data at "
               "128 px, one seed, 10 to 30 epochs per model, trained on a 2-core CPU"),
    "paper": ("paper profile: each model's recipe at 256 px (the input size of two of the papers, "
              "our choice for the others), trained on a GPU"),
}
DEFAULT_DATA = "shenzhen_montgomery_512"  # data/<this>: the runs' data, fetched by `lungseg book`
NO_DATA = ("no chest X-ray data found: set LUNGSEG_DATA to a data folder (images/ and masks/), "
           "e.g. `export LUNGSEG_DATA=/path/to/shenzhen_montgomery_512`, or run "
           f"`lungseg data fetch shenzhen-montgomery-512 --out data/{DEFAULT_DATA}` once with internet "
           "access (or give it a copy of the archive with --url)")
METRICS = {"dice": "Dice", "iou": "IoU"}
PARAM_SIZE = 256  # the input side of the registry's parameter counts (ModelSpec.params)


_CI = r"\[[-+]?\d+\.\d+, [-+]?\d+\.\d+\]"
_NUMERIC = re.compile(rf"[-+]?(\d[\d,]*\.?\d*(e[-+]?\d+)?|nan)( ?%| M| s| ms)?( {_CI})?|{_CI}")
_LEADING = re.compile(r"[-+]?\d+(\.\d+)?")
REPORTED_LEGEND = ("<em>Italic on a grey ground</em>: values reported by a paper, quoted as printed "
                   "(on the paper's own data); not measured here.")


def _cell(text: str) -> str:
    """One cell's HTML: escaped, a ``mean [low, high]`` CI on a second, smaller line."""
    out = html.escape(text)
    out = re.sub(rf"([-+]?\d+\.\d+) ({_CI})", r'\1<br><span class="ci">\2</span>', out)
    return re.sub(rf"^({_CI})$", r'<span class="ci">\1</span>', out)


def _best_rows(table: pd.DataFrame, column: str, how: str, measured: pd.Series) -> set:
    """Row positions holding the best leading number of ``column`` among measured rows."""
    values = {}
    for i, (text, keep) in enumerate(zip(table[column].astype(str), measured)):
        m = _LEADING.match(text)
        if keep and m:
            values[i] = float(m.group(0))
    if not values:
        return set()
    best = max(values.values()) if how == "max" else min(values.values())
    return {i for i, v in values.items() if v == best}


def html_table(table: pd.DataFrame, index: str = "Model"):
    """``table`` as HTML for gluing (IPython HTML, class ``lungseg``), its ``index`` column as
    row headers.

    Numbers are right-aligned (class ``num``); a ``mean [low, high]`` cell puts its CI on a
    second, smaller line (class ``ci``). ``table.attrs["best"]``, ``{column: "max" | "min"}``,
    sets the best leading number of each such column in bold (measured rows only). Rows whose
    ``_reported`` column (:data:`REPORTED`) is true hold a paper's reported values: class
    ``reported`` (italic on a muted ground), with a legend line under the table; so do the cells
    of the columns named in ``table.attrs["reported_columns"]``."""
    from IPython.display import HTML

    best = dict(table.attrs.get("best", {}))
    reported_columns = set(table.attrs.get("reported_columns", ()))
    reported = (table[REPORTED].fillna(False).astype(bool) if REPORTED in table
                else pd.Series(False, index=table.index)).reset_index(drop=True)
    table = table.drop(columns=[REPORTED], errors="ignore").reset_index(drop=True)
    columns = [c for c in table.columns if c != index]
    text = table.astype(object).where(table.notna(), "").astype(str)
    neutral = ("", "missing", "not reported")  # words that do not make a column of numbers text
    numeric = {c: any(_NUMERIC.fullmatch(v) for v in text[c])
               and all(_NUMERIC.fullmatch(v) or v in neutral for v in text[c]) for c in columns}
    bold = {c: _best_rows(text, c, how, ~reported) for c, how in best.items() if c in columns}
    num = {c: ' class="num"' if numeric[c] else "" for c in columns}
    head = "".join(f"<th{num[c]}>{html.escape(str(c))}</th>" for c in columns)
    lines = ['<table class="lungseg">', f"<thead><tr><th></th>{head}</tr></thead>", "<tbody>"]
    for i in range(len(text)):
        cells = []
        for c in columns:
            content = _cell(text.at[i, c])
            if i in bold.get(c, ()):  # the mean in bold, its CI as it is
                content = re.sub(r"^([^<]+)", r"<strong>\1</strong>", content, count=1)
            classes = [k for k, on in (("num", numeric[c]), ("reported", c in reported_columns)) if on]
            cells.append(f'<td class="{" ".join(classes)}">{content}</td>' if classes else f"<td>{content}</td>")
        cls = ' class="reported"' if reported[i] else ""
        lines.append(f'<tr{cls}><th>{html.escape(text.at[i, index])}</th>{"".join(cells)}</tr>')
    lines.append("</tbody></table>")
    if reported.any() or reported_columns & set(columns):
        lines.append(f'<p class="lungseg-legend">{REPORTED_LEGEND}</p>')
    return HTML("\n".join(lines))


def registry() -> pd.DataFrame:
    """The registry's models in registry order (name, title, paper, params, recipe):
    :func:`lungseg_lib.core.models.registry_table`, read without TensorFlow."""
    from .core.models import registry_table

    return registry_table()


def registry_models() -> list[str]:
    """Names of every registered model, the paper's model first."""
    return registry()["name"].tolist()


def title_of(model: str) -> str:
    """The registry title of ``model`` (ValueError naming the valid models)."""
    titles = dict(zip(registry()["name"], registry()["title"]))
    if model not in titles:
        raise ValueError(f"unknown model {model!r}; valid: {', '.join(titles)}")
    return titles[model]


def metric_label(metric: str) -> str:
    """``dice_post`` -> ``Dice (post-processed)``, ``iou`` -> ``IoU (raw)``."""
    base, _, post = metric.partition("_")
    return f"{METRICS.get(base, base)} ({'post-processed' if post else 'raw'})"


# ---------------------------------------------------------------- profiles and runs

def evaluated_models(profile: str, runs_dir: str | os.PathLike = "runs") -> list[str]:
    """Registry models with at least one evaluated seed under ``runs_dir/profile/model/``."""
    return [m for m in registry_models() if seed_dirs(profile, m, runs_dir)]


def seed_dirs(profile: str, model: str, runs_dir: str | os.PathLike = "runs") -> dict[int, Path]:
    """``{seed: run folder}`` of the evaluated runs ``runs_dir/profile/model/seed<k>``, by seed."""
    found = {}
    for path in (repo_path(runs_dir) / profile / model).glob("seed*"):
        if path.name[4:].isdigit() and runfolder.run_status(path) == "evaluated":
            found[int(path.name[4:])] = path
    return dict(sorted(found.items()))


def best_profile(runs_dir: str | os.PathLike = "runs") -> str:
    """The first of :data:`PROFILE_PREFERENCE` with every registry model evaluated; else the
    one with the most evaluated models (earlier ones win ties); ``cpu`` when there is none.
    Smoke is never chosen by itself."""
    counts = {p: len(evaluated_models(p, runs_dir)) for p in PROFILE_PREFERENCE}
    complete = [p for p, n in counts.items() if n == len(registry_models())]
    if complete:
        return complete[0]
    best = max(PROFILE_PREFERENCE, key=lambda p: (counts[p], -PROFILE_PREFERENCE.index(p)))
    return best if counts[best] else "cpu"


def resolve_profile(profile: str, runs_dir: str | os.PathLike = "runs") -> str:
    """``auto`` -> :func:`best_profile`; any other name is checked and returned."""
    if profile == "auto":
        return best_profile(runs_dir)
    if profile not in PROFILE_NOTES:
        raise ValueError(f"unknown profile {profile!r}; valid: auto, {', '.join(PROFILE_NOTES)}")
    return profile


def run_dir(profile: str, model: str, runs_dir: str | os.PathLike = "runs", seed: int = 0) -> Path:
    """The run folder of ``model`` under ``profile`` with ``seed`` (the figures of single runs
    show seed 0)."""
    return runfolder.run_dir_for(profile, model, seed, repo_path(runs_dir))


def read_metrics(path: Path) -> dict | None:
    """``metrics.json`` of a run folder, or None when the run is not evaluated."""
    return runfolder.read_metrics(path)


def read_config(path: Path) -> dict | None:
    """``config.json`` of a run folder, or None when the run was never started."""
    return runfolder.read_config(path)


def read_per_image(path: Path) -> pd.DataFrame | None:
    """``per_image.csv`` of a run folder, or None when missing."""
    return pd.read_csv(path / runfolder.PER_IMAGE) if (path / runfolder.PER_IMAGE).exists() else None


def seed_per_image(profile: str, model: str, runs_dir: str | os.PathLike = "runs") -> pd.DataFrame | None:
    """``per_image.csv`` of every evaluated seed, stacked with a ``seed`` column (None if none)."""
    frames = [read_per_image(path).assign(seed=seed) for seed, path in seed_dirs(profile, model, runs_dir).items()]
    return pd.concat(frames, ignore_index=True) if frames else None


def mean_per_image(profile: str, model: str, runs_dir: str | os.PathLike = "runs") -> pd.DataFrame | None:
    """Per-image scores averaged over the evaluated seeds (one row per test image, the seed count
    in ``n_seeds``); the descriptive columns (source, label, brightness, ...) are the images'."""
    stacked = seed_per_image(profile, model, runs_dir)
    if stacked is None:
        return None
    keys = ["name", "source", "label"]
    scores = stacked.drop(columns="seed").groupby(keys, as_index=False, sort=False).mean(numeric_only=True)
    return scores.assign(n_seeds=stacked["seed"].nunique())


def seed_spread(profile: str, model: str, runs_dir: str | os.PathLike = "runs",
                metric: str = "dice_post") -> dict[str, float]:
    """The test mean of ``metric`` in each seed, and their mean, standard deviation and range."""
    stacked = seed_per_image(profile, model, runs_dir)
    if stacked is None:
        return {"n_seeds": 0.0, "mean": math.nan, "sd": math.nan, "min": math.nan, "max": math.nan}
    per_seed = stacked.groupby("seed")[metric].mean()
    return {"n_seeds": float(len(per_seed)), "mean": float(per_seed.mean()),
            "sd": float(per_seed.std(ddof=1)) if len(per_seed) > 1 else math.nan,
            "min": float(per_seed.min()), "max": float(per_seed.max()),
            **{f"seed{k}": float(v) for k, v in per_seed.items()}}


def missing_message(profile: str, model: str, runs_dir: str | os.PathLike = "runs") -> str:
    """What to say (and do) when a run is not there."""
    path = run_dir(profile, model, runs_dir)
    return (f"run {relative_to_repo(path)} is {runfolder.run_status(path)}: nothing to show yet "
            f"(lungseg train --model {model} --profile {profile})")


# ---------------------------------------------------------------- Table 1

def fmt_ci(stat: dict | None, digits: int = 3) -> str:
    """``mean [ci_low, ci_high]`` of a :func:`lungseg_lib.stats.summarize` dict."""
    if not isinstance(stat, dict):
        return "missing"
    return f"{stat['mean']:.{digits}f} [{stat['ci_low']:.{digits}f}, {stat['ci_high']:.{digits}f}]"


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
    from .stats import summarize

    rows = []
    for _, spec in registry().iterrows():
        path = run_dir(profile, spec["name"], runs_dir)
        metrics = read_metrics(path) or {}
        scores = mean_per_image(profile, spec["name"], runs_dir)
        columns = {f"{m}{suffix}": f"{m}_{kind}" for m in METRICS for kind, suffix in (("raw", ""), ("post", "_post"))}
        rows.append({
            "model": spec["name"], "title": spec["title"], "profile": profile,
            "status": runfolder.run_status(path), "n_images": metrics.get("n_images"),
            "image_size": metrics.get("image_size"),
            "train_seconds": metrics.get("timings", {}).get("train_seconds"),
            "seeds": " ".join(map(str, seed_dirs(profile, spec["name"], runs_dir))),
            **{key: None if scores is None else summarize(scores[col]) for col, key in columns.items()},
            **{f"{key}_seeds": seed_spread(profile, spec["name"], runs_dir, col) for col, key in columns.items()},
        })
    return pd.DataFrame(rows)


def fmt_spread(spread: dict, digits: int = 4) -> str:
    """``sd (min-max)`` of a :func:`seed_spread` over several seeds; ``one seed`` or ``missing``."""
    if not spread["n_seeds"]:
        return "missing"
    if spread["n_seeds"] < 2:
        return "one seed"
    return f"{spread['sd']:.{digits}f} ({spread['min']:.3f}-{spread['max']:.3f})"


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


# ---------------------------------------------------------------- per-image scores

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
                       metric: str = "dice_post") -> pd.DataFrame:
    """Each registry model other than ``reference`` compared with it on the same test images:
    columns model, title, n, mean_diff (model - reference), ci_low, ci_high (bootstrap 95%),
    wilcoxon_p; NaN for a model whose per-image scores (or the reference's) are missing, and
    for runs with fewer than two test images in common (n says how many)."""
    from .stats import paired_comparison

    scores = per_image_long(profile, runs_dir, metric).pivot(index="name", columns="model", values="value")
    rows = []
    for _, spec in registry().iterrows():
        name = spec["name"]
        if name == reference:
            continue
        row = {"model": name, "title": spec["title"]}
        if name in scores and reference in scores:
            both = scores[[name, reference]].dropna()
            row.update(paired_comparison(both[name], both[reference]) if len(both) >= 2 else {"n": len(both)})
            row.update(seed_signs(profile, name, reference, runs_dir, metric))
        rows.append(row)
    columns = ["model", "title", "n", "mean_diff", "ci_low", "ci_high", "wilcoxon_p", "seeds", "seed_signs"]
    return pd.DataFrame(rows).reindex(columns=columns)


def seed_signs(profile: str, model: str, reference: str, runs_dir: str | os.PathLike = "runs",
               metric: str = "dice_post") -> dict:
    """The sign (``+``, ``-`` or ``0``) of the mean per-image difference model - reference in
    every seed that both have, e.g. ``{"seeds": "0 1 2", "seed_signs": "+ + -"}``."""
    a, b = seed_per_image(profile, model, runs_dir), seed_per_image(profile, reference, runs_dir)
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
    """:func:`paired_comparisons` as text: mean difference (model - reference) with its
    bootstrap 95% CI and the Wilcoxon signed-rank p-value; missing runs marked."""
    rows, evaluated = [], evaluated_models(profile, runs_dir)
    for _, c in paired_comparisons(profile, runs_dir, reference, metric).iterrows():
        if pd.isna(c["mean_diff"]):
            missing = c["model"] if c["model"] not in evaluated else reference
            reason = f"missing ({missing} not evaluated)" if pd.isna(c["n"]) else \
                f"{c['n']:.0f} shared test images: too few to compare"
            rows.append({"Model": c["title"], "n": "", "Mean difference": reason, "95% CI": "", "Wilcoxon p": ""})
        else:
            rows.append({"Model": c["title"], "n": f"{c['n']:.0f}", "Mean difference": f"{c['mean_diff']:+.4f}",
                         "95% CI": f"[{c['ci_low']:+.4f}, {c['ci_high']:+.4f}]",
                         "Wilcoxon p": f"{c['wilcoxon_p']:.2g}"})
    return pd.DataFrame(rows)


def postprocessing_gain(table: pd.DataFrame, metric: str = "dice") -> dict[str, float]:
    """Mean change of ``metric`` from post-processing (post - raw) over a per_image table,
    with its bootstrap 95% CI, Wilcoxon p, and how many images changed."""
    from .stats import paired_comparison

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


# ---------------------------------------------------------------- training curves

def run_folders(profile: str, model: str, runs_dir: str | os.PathLike = "runs") -> dict[int, Path]:
    """``{seed: run folder}`` of every started run of ``model`` (finished or not), by seed."""
    found = {int(p.name[4:]): p for p in (repo_path(runs_dir) / profile / model).glob("seed*")
             if p.name[4:].isdigit() and (p / runfolder.CONFIG).exists()}
    return dict(sorted(found.items()))


def history_long(profile: str, runs_dir: str | os.PathLike = "runs") -> pd.DataFrame:
    """Every run's history.csv stacked (every seed), with columns model, title (marked when the
    run is unfinished), seed, epoch and the metrics."""
    frames = []
    for _, spec in registry().iterrows():
        for seed, path in run_folders(profile, spec["name"], runs_dir).items():
            if (path / runfolder.HISTORY).exists():
                done = runfolder.run_status(path) in ("trained", "evaluated")
                title = spec["title"] + ("" if done else " (unfinished)")
                frames.append(pd.read_csv(path / runfolder.HISTORY).assign(model=spec["name"], title=title, seed=seed))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["model", "title", "seed", "epoch"])


def training_table(profile: str, runs_dir: str | os.PathLike = "runs") -> pd.DataFrame:
    """One row per run (model and seed): status, epochs run, best epoch and validation Dice,
    wall time of training, how busy the machine was (mean 1-minute load average over the
    epochs, on a machine with the run's cores), and parameters."""
    rows = []
    for _, spec in registry().iterrows():
        for seed, path in run_folders(profile, spec["name"], runs_dir).items():
            info = runfolder.read_training(path)
            config = (read_config(path) or {}).get("config", {})
            rows.append({"Model": spec["title"], "Seed": seed, "Status": runfolder.run_status(path),
                         "Epochs": info.get("epochs_run", ""), "Planned": config.get("epochs", ""),
                         "Best epoch": info.get("best_epoch", ""),
                         "Best val. Dice": f"{info['best_val_dice']:.4f}" if "best_val_dice" in info else "",
                         "Train time (min)": f"{info['train_seconds'] / 60:.1f}" if info.get("train_seconds") else "",
                         "Mean load": f"{info['mean_load_1min']:.2f}" if info.get("mean_load_1min") else "",
                         "Parameters": f"{info['params'] / 1e6:.2f} M" if info.get("params") else ""})
    return pd.DataFrame(rows)


def training_seconds(profile: str, runs_dir: str | os.PathLike = "runs") -> dict[str, float]:
    """Total training wall time of every finished run of ``profile``, and how many runfolder."""
    total, n = 0.0, 0
    for model in registry_models():
        for path in run_folders(profile, model, runs_dir).values():
            if (path / runfolder.TRAINING).exists():
                total += runfolder.read_training(path).get("train_seconds") or 0.0
                n += 1
    return {"seconds": total, "runs": float(n)}


# ---------------------------------------------------------------- data

def data_root(profile: str, runs_dir: str | os.PathLike = "runs", data_dir: str = "") -> Path:
    """The data folder the figures read images from.

    ``data_dir`` when given; for runs trained on synthetic data, that synthetic folder;
    else ``$LUNGSEG_DATA``, the folder the runs were trained on (if it exists here), or
    ``data/shenzhen_montgomery_512`` (fetched by ``lungseg book``). Raises DataError with what
    to do.
    """
    from .data.folders import resolve_data_dir

    if data_dir:
        return resolve_data_dir(repo_path(data_dir))
    configs = [c for c in (read_config(run_dir(profile, m, runs_dir)) for m in registry_models()) if c]
    synthetic = [c for c in configs if c["config"].get("data") == "synthetic"]
    if synthetic:
        recorded = repo_path(synthetic[0]["data_root"])
        return recorded if recorded.is_dir() else REPO_ROOT / "data" / recorded.name
    if os.environ.get("LUNGSEG_DATA"):
        return resolve_data_dir(None)
    recorded = [c for conf in configs for c in (repo_path(conf["data_root"]),
                                                  REPO_ROOT / "data" / Path(conf["data_root"]).name)]
    for candidate in recorded + [REPO_ROOT / "data" / DEFAULT_DATA]:
        if (candidate / "images").is_dir():
            return candidate
    raise DataError(NO_DATA)


def split_file(profile: str, root: Path, runs_dir: str | os.PathLike = "runs") -> Path | None:
    """The split CSV the runs used (moved to this checkout's data/splits/ if recorded
    elsewhere), else ``data/splits/<data folder name>.csv``, else None."""
    recorded = [Path(c["split_file"]) for c in (read_config(run_dir(profile, m, runs_dir))
                                                for m in registry_models()) if c]
    for path in recorded + [REPO_ROOT / "data" / "splits" / f"{root.name}.csv"]:
        for candidate in (path, REPO_ROOT / "data" / "splits" / path.name):
            if candidate.exists():
                return candidate
    return None


@lru_cache(maxsize=4)
def _pairs(root: str) -> dict:
    from .data.folders import find_pairs

    return {p.name: p for p in find_pairs(root).pairs}


def pairs_in(root: str | os.PathLike) -> dict:
    """``{name: Pair}`` of the usable image/mask pairs in a data folder (cached)."""
    return _pairs(str(root))


def data_table(root: Path, split: Path | None) -> pd.DataFrame:
    """Per source: pairs in each split, total, and the lung-area distribution (median and
    range of the mask fraction; from ``manifest.csv``'s ``mask_fg_fraction`` when present,
    else measured). Pairs not named by the split count as ``unsplit``."""
    from .data.imageio import read_mask

    pairs = pairs_in(root)
    assignment = {}
    if split is not None:
        table = pd.read_csv(split, dtype=str)
        assignment = {Path(f).stem: s for f, s in zip(table["file"], table["split"])}
    manifest = root / "manifest.csv"
    known = {}
    if manifest.exists() and "mask_fg_fraction" in (m := pd.read_csv(manifest)).columns:
        known = {Path(f).stem: float(v) for f, v in zip(m["file"], m["mask_fg_fraction"])}
    rows = [{"source": p.source, "split": assignment.get(name, "unsplit"),
             "mask_fraction": known.get(name) if name in known else float(read_mask(p.mask).mean())}
            for name, p in pairs.items()]
    return summarize_data(pd.DataFrame(rows))


def split_counts(root: Path, split: Path | None) -> dict[str, float]:
    """Number of pairs of the data folder in each split (``unsplit`` for the rest), as floats."""
    assignment = {}
    if split is not None:
        table = pd.read_csv(split, dtype=str)
        assignment = {Path(f).stem: s for f, s in zip(table["file"], table["split"])}
    counts = pd.Series([assignment.get(name, "unsplit") for name in pairs_in(root)]).value_counts()
    return {s: float(counts.get(s, 0)) for s in ("train", "val", "test", "unsplit")}


def example_name(root: Path, split: Path | None, name: str = "") -> str:
    """``name`` if given (checked), else the first test image of the split present in ``root``
    (the first image when there is no split)."""
    pairs = pairs_in(root)
    if name:
        if name not in pairs:
            raise DataError(f"{root}: no image/mask pair named {name!r}")
        return name
    if split is not None:
        table = pd.read_csv(split, dtype=str)
        tests = sorted(Path(f).stem for f, s in zip(table["file"], table["split"]) if s == "test")
        present = [t for t in tests if t in pairs]
        if present:
            return present[0]
    return sorted(pairs)[0]


def summarize_data(frame: pd.DataFrame) -> pd.DataFrame:
    """The data table from one row per pair (source, split, mask_fraction), with a total row."""
    splits = [s for s in ("train", "val", "test", "unsplit") if s in set(frame["split"])]
    out = []
    for source, group in list(frame.groupby("source", sort=True)) + [("all", frame)]:
        row = {"Source": source}
        row.update({s.capitalize(): int((group["split"] == s).sum()) for s in splits})
        q = group["mask_fraction"].quantile([0.0, 0.5, 1.0]).tolist()
        row.update({"Total": len(group), "Lung area, median": f"{100 * q[1]:.1f}%",
                    "Lung area, range": f"{100 * q[0]:.1f}% to {100 * q[2]:.1f}%"})
        out.append(row)
    return pd.DataFrame(out)


def load_pair(root: Path, name: str, size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Image (float in [0, 1]) and ground-truth mask (bool) of ``name`` in a data folder,
    resized to ``size`` x ``size`` as in training (area for the image, nearest for the mask)."""
    from .data.imageio import read_image, read_mask, resize_pair, to_unit_float

    pair = pairs_in(root)[name]
    return resize_pair(to_unit_float(read_image(pair.image)), read_mask(pair.mask), size or None)


def load_case(root: Path, run: Path, name: str, post_k: int | None = None) -> dict:
    """Image, ground truth and the run's prediction of test image ``name``, at the
    prediction's resolution; ``post_k``: keep that many largest components of the prediction.
    Returns ``{"name", "image", "truth", "pred"}``."""
    from .data.imageio import read_mask
    from .core.postprocess import keep_largest_components

    pred = read_mask(run / runfolder.PREDICTIONS / f"{name}.png")
    if post_k:
        pred = keep_largest_components(pred, post_k).mask
    image, truth = load_pair(root, name, pred.shape[0])
    return {"name": name, "image": image, "truth": truth, "pred": pred}


def post_k(run: Path) -> int:
    """The number of components the run's post-processing keeps (config ``post_k``, default 2)."""
    return int(((read_config(run) or {}).get("config") or {}).get("post_k", 2))


def case_rows(root: Path, run: Path, table: pd.DataFrame, groups: dict[str, list[str]],
              metric: str = "dice_post") -> dict[str, list[dict]]:
    """Cases for :func:`lungseg_lib.figures.cases_figure`: each name loaded with its score
    (``metric`` from the run's per_image table), post-processed when ``metric`` ends in _post."""
    scores = table.set_index("name")[metric]
    k = post_k(run) if metric.endswith("_post") else None
    return {group: [load_case(root, run, n, k) | {"score": float(scores[n])} for n in names]
            for group, names in groups.items()}


def largest_removal(table: pd.DataFrame, present: set[str]) -> str:
    """The test image (present in the data folder) whose post-processing removed the most area."""
    table = table[table["name"].isin(present)]
    if table.empty:
        raise DataError("none of the run's test images is in the data folder")
    return table.sort_values(["removed_area", "name"], ascending=[False, True])["name"].iloc[0]


def param_table(profile: str, runs_dir: str | os.PathLike = "runs") -> pd.DataFrame:
    """Every model: paper, parameters at 256 px with the paper's widths, parameters of the
    run of ``profile`` (its widths and size), and the paper recipe (loss, optimizer, lr, batch, epochs)."""
    reg = registry()
    ours = []
    for name in reg["name"]:
        info = runfolder.read_training(run_dir(profile, name, runs_dir))
        ours.append(f"{info['params'] / 1e6:.2f} M" if info else "missing")
    return pd.DataFrame({
        "Model": reg["title"], "Paper": reg["paper"],
        f"Parameters ({PARAM_SIZE} px)": [f"{p / 1e6:.2f} M" for p in reg["params"]],
        f"Parameters ({profile} run)": ours, "Loss": reg["loss"], "Optimizer": reg["optimizer"],
        "Learning rate": [f"{v:g}" for v in reg["lr"]], "Batch": reg["batch"], "Epochs": reg["epochs"]})


# ---------------------------------------------------------------- status

def run_records(profile: str, runs_dir: str | os.PathLike = "runs") -> pd.DataFrame:
    """For every registry model: run status, git commit, data fingerprint, device and the
    executed training notebook (path relative to the repository, or '')."""
    rows = []
    for model in registry_models():
        path = run_dir(profile, model, runs_dir)
        info = read_config(path) or {}
        env = info.get("environment", {})
        notebook = path / runfolder.TRAIN_NOTEBOOK
        rows.append({"model": model, "status": runfolder.run_status(path), "git commit": env.get("git_commit", "")[:10],
                     "data fingerprint": info.get("data_fingerprint", ""), "device": env.get("device", ""),
                     "notebook": relative_to_repo(notebook) if notebook.exists() else ""})
    return pd.DataFrame(rows)


def training_notebook_links(profile: str, runs_dir: str | os.PathLike, dest: str | os.PathLike) -> pd.DataFrame:
    """Copy each run's executed training notebook to ``dest/<profile>/<model>.ipynb`` (so the
    book can offer it as a download) and return :func:`run_records` with a MyST download link
    (relative to ``dest``'s parent) in the column ``notebook``."""
    import shutil

    records = run_records(profile, runs_dir)
    dest = repo_path(dest)
    links = []
    for model, notebook in zip(records["model"], records["notebook"]):
        if not notebook:
            links.append("missing")
            continue
        target = dest / profile / f"{model}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo_path(notebook), target)
        links.append(f"{{download}}`train.ipynb <{dest.name}/{profile}/{model}.ipynb>`")
    return records.assign(notebook=links)


def markdown_table(table: pd.DataFrame) -> str:
    """A pipe table (MyST/GFM) of ``table``'s values as text."""
    cells = table.astype(str).map(lambda v: v.replace("|", "\\|"))
    lines = ["| " + " | ".join(map(str, table.columns)) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(row) + " |" for row in cells.itertuples(index=False)]
    return "\n".join(lines)


def dict_table(values: dict, key: str, value: str) -> pd.DataFrame:
    """A two-column table of a dict."""
    return pd.DataFrame({key: list(values), value: [str(v) for v in values.values()]})


PATH_PARAMETERS = ("runs_dir", "data_dir", "figures_dir", "executed_dir")


def notebook_timings(folder: str | os.PathLike, skip: tuple[str, ...] = ()) -> pd.DataFrame:
    """Notebook, start time, duration (s) and parameters (folders left out) from the papermill
    metadata of the executed notebooks in ``folder``, except the stems in ``skip``."""
    rows = []
    for path in sorted(repo_path(folder).glob("[0-9][0-9]_*.ipynb")):
        if path.stem in skip:
            continue
        meta = json.loads(path.read_text()).get("metadata", {}).get("papermill", {})
        params = {k: v for k, v in (meta.get("parameters") or {}).items() if k not in PATH_PARAMETERS}
        rows.append({"notebook": path.stem, "start": (meta.get("start_time") or "")[:19].replace("T", " "),
                     "seconds": float(meta["duration"]) if meta.get("duration") is not None else math.nan,
                     "parameters": ", ".join(f"{k}={v}" for k, v in params.items())})
    return pd.DataFrame(rows, columns=["notebook", "start", "seconds", "parameters"])
