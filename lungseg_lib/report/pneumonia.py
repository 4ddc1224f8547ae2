"""The pneumonia chapter: the study on ``covid_pneumonia_512`` (pneumonia films with masks of
the whole lung) read from run folders, beside the paper's Table 1 and the Shenzhen +
Montgomery study (visible lung fields).

Where the scores are: a run of profile ``cpu-pneumonia`` holds its pneumonia test scores in
its own folder; every other data set or split is an evaluation,
``RUN/evaluations/<data>-<split>/`` (:func:`lungseg_lib.engine.runfolder.evaluation_dir`);
a ``cpu`` run holds its Shenzhen + Montgomery test scores in its folder. A score folder counts
once its ``metrics.json`` exists; anything else is ``missing`` and no number is filled in.

    results_table: every model on the pneumonia test and external-site splits, Table 1 beside
    cross_set_long / cross_set_table / cross_set_matrix: seed 0, six train -> test pairs
    breakdown_table: by view and by finding group; claims_by_data: the claims per data set
    data_numbers, takeaway, results_sentence, cross_set_sentence, breakdown_sentence

The two causes of the cross-set loss (convention vs failure): :mod:`conventions_analysis`.
"""

from __future__ import annotations

import inspect
import math
import os
from pathlib import Path

import pandas as pd

from ..core.stats import summarize
from ..data.conventions import convention_of
from ..data.splits import FINDING_GROUPS, finding_group
from ..engine import runfolder
from ..project import relative_to_repo, repo_path
from . import claims, papers, profile_runs
from .results import reported_rows
from .tables import REPORTED, fmt_ci, metric_label
from .verdicts import reached

DATA, SM_DATA = "covid_pneumonia_512", "shenzhen_montgomery_512"
PROFILE, SM_PROFILE = "cpu-pneumonia", "cpu"
#: the cpu protocol trained again for its weights (params/cpu-rerun.yaml; the committed cpu runs
#: lost theirs): where it has a model's seed-0 run, that run stands for the model in the matrix
SM_RERUN = "cpu-rerun"
PROFILE_DATA = {SM_PROFILE: SM_DATA, SM_RERUN: SM_DATA, PROFILE: DATA}
TRAINED_ON = {SM_PROFILE: "Shenzhen + Montgomery", PROFILE: "pneumonia films"}
SPLIT_TITLES = {(SM_DATA, "test"): "Shenzhen + Montgomery test", (DATA, "test"): "pneumonia test",
                (DATA, "external"): "external site (Hannover)"}
#: the cross-set matrix: (training profile, data tested on, split), seed :data:`SEED` of every model
PAIRS = ((SM_PROFILE, SM_DATA, "test"), (SM_PROFILE, DATA, "test"), (SM_PROFILE, DATA, "external"),
         (PROFILE, DATA, "test"), (PROFILE, DATA, "external"), (PROFILE, SM_DATA, "test"))
SEED = 0
SPLIT_FILE = Path("data") / "splits" / f"{DATA}.csv"
#: the set's manifest as the package ships it (``data.download_covid.MANIFEST``, read here without
#: importing the downloader and its progress bars)
SHIPPED_MANIFEST = Path(__file__).resolve().parents[1] / "data" / "data_sums" / f"{DATA}.csv"
VIEWS = ("PA", "AP", "AP Supine")
NOT_MEASURED = claims.NOT_MEASURED
ARROW = " \u2192 "


def pair_label(profile: str, data: str, split: str) -> str:
    """``trained on X -> tested on Y``: one cell of the cross-set matrix in words."""
    return f"{TRAINED_ON[profile]}{ARROW}{SPLIT_TITLES[(data, split)]}"


def score_dir(run: str | os.PathLike, profile: str, data: str, split: str) -> Path:
    """The folder of a run's scores on ``data``/``split``: the run folder for its own test
    split, else ``evaluations/<data>-<split>/``."""
    own = (data, split) == (PROFILE_DATA.get(profile), "test")
    return Path(run) if own else runfolder.evaluation_dir(run, data, split)


def read_scores(folder: str | os.PathLike) -> pd.DataFrame | None:
    """``per_image.csv`` of a score folder with its names as text (``000001`` stays a name, not
    the number 1); None when it is not there."""
    path = Path(folder) / runfolder.PER_IMAGE
    return pd.read_csv(path, dtype={"name": str, "source": str, "label": str}) if path.exists() else None


def seed_scores(profile: str, model: str, data: str, split: str, runs_dir: str | os.PathLike = "runs",
                seeds=None) -> pd.DataFrame | None:
    """``per_image.csv`` of every evaluated seed (only ``seeds`` when given) scored on
    ``data``/``split``, stacked with a ``seed`` column; None when there is none."""
    frames = []
    for seed, run in profile_runs.seed_dirs(profile, model, runs_dir).items():
        folder = score_dir(run, profile, data, split)
        if (seeds is None or seed in seeds) and (folder / runfolder.METRICS).exists():
            table = read_scores(folder)
            if table is not None:
                frames.append(table.assign(seed=seed))
    return pd.concat(frames, ignore_index=True) if frames else None


def mean_scores(profile: str, model: str, data: str, split: str, runs_dir: str | os.PathLike = "runs",
                seeds=None) -> pd.DataFrame | None:
    """Per-image scores on ``data``/``split`` averaged over the evaluated seeds (one row per
    image, ``n_seeds`` and the ``seeds`` in words); None when no seed is scored there."""
    stacked = seed_scores(profile, model, data, split, runs_dir, seeds)
    if stacked is None:
        return None
    numeric = stacked.drop(columns=["seed"]).select_dtypes("number").columns
    scores = stacked.groupby("name", as_index=False, sort=False)[list(numeric)].mean()
    found = sorted(stacked["seed"].unique())
    return scores.assign(n_seeds=len(found), seeds=" ".join(map(str, found)))


# ---------------------------------------------------------------- the results table

def _measured_row(model: str, title: str, runs_dir, metrics) -> dict:
    """One model's row of :func:`results_table`."""
    run = profile_runs.run_dir(PROFILE, model, runs_dir)
    status = runfolder.run_status(run)
    row = {"Model": title, "Run": f"{PROFILE}/{model}" + ("" if status == "evaluated" else f" ({status})"),
           REPORTED: False}
    for split, images in (("test", "Test images"), ("external", "External images")):
        scores = mean_scores(PROFILE, model, DATA, split, runs_dir)
        row[images] = "" if scores is None else str(len(scores))
        row[f"Seeds, {split}"] = "" if scores is None else scores["seeds"].iloc[0]
        for m in metrics:
            row[f"{metric_label(m)}, {split}"] = fmt_ci(None if scores is None else summarize(scores[m]))
    return row


def results_table(runs_dir: str | os.PathLike = "runs", metrics=("dice_post", "iou_post")) -> pd.DataFrame:
    """Every registry model of the ``cpu-pneumonia`` profile: Dice and IoU after post-processing
    (per-image scores averaged over the evaluated seeds; mean [95% bootstrap CI over images]) on
    the pneumonia test split and on the external-site split, with the seeds; below a model, the
    values the paper's Table 1 reports for it on its own RSNA pneumonia films
    (:func:`results.reported_rows`, marked reported: its post-processed row under the test
    columns, every raw row under ``Reported ... raw``). Missing runs say ``missing``."""
    columns = {"dice": "Reported Dice (raw)", "iou": "Reported IoU (raw)",
               "dice_post": f"{metric_label('dice_post')}, test", "iou_post": f"{metric_label('iou_post')}, test"}
    rows = []
    for _, spec in profile_runs.registry().iterrows():
        rows.append(_measured_row(spec["name"], spec["title"], runs_dir, metrics))
        rows.extend(reported_rows(spec["name"], columns))
    scored = [f"{metric_label(m)}, {s}" for s in ("test", "external") for m in metrics]
    order = ["Model", "Run", "Seeds, test", "Test images", *scored[:len(metrics)], "Seeds, external",
             "External images", *scored[len(metrics):], columns["dice"], columns["iou"], REPORTED]
    table = pd.DataFrame(rows).reindex(columns=order)
    table = table.fillna({c: "" for c in order if c not in ("Model", REPORTED)})
    table.attrs["best"] = {c: "max" for c in scored}
    table.attrs["reported_columns"] = [columns["dice"], columns["iou"]]
    return table


# ---------------------------------------------------------------- the cross-set matrix

def seed0_run(profile: str, model: str, runs_dir: str | os.PathLike = "runs") -> Path | None:
    """The evaluated seed-:data:`SEED` run that stands for ``model`` trained with ``profile``
    in the cross-set matrix and the region split: for ``cpu``, the ``cpu-rerun`` run when there
    is one (its weights made the cross-set evaluations), else the profile's own (for the
    NASNet-Large decoder, its headline reading's: :func:`profile_runs.seed_dirs`); None."""
    if profile == SM_PROFILE and (rerun := profile_runs.seed_dirs(SM_RERUN, model, runs_dir).get(SEED)):
        return rerun
    return profile_runs.seed_dirs(profile, model, runs_dir).get(SEED)


def _cell(profile: str, model: str, data: str, split: str, runs_dir, metric: str) -> dict:
    """One model's seed-:data:`SEED` score on one train -> test pair, or why it is missing."""
    run = seed0_run(profile, model, runs_dir)
    folder = None if run is None else score_dir(run, profile, data, split)
    scores = read_scores(folder) if folder is not None and (folder / runfolder.METRICS).exists() else None
    cell = {"model": model, "title": profile_runs.title_of(model), "profile": profile,
            "trained_on": TRAINED_ON[profile], "tested_on": SPLIT_TITLES[(data, split)],
            "pair": pair_label(profile, data, split), "truth": convention_of(data),
            "run": "" if run is None else str(relative_to_repo(run)), "n": math.nan,
            "mean": math.nan, "ci_low": math.nan, "ci_high": math.nan}
    if scores is not None:
        stat = summarize(scores[metric])
        cell.update(n=float(stat["n"]), mean=stat["mean"], ci_low=stat["ci_low"], ci_high=stat["ci_high"],
                    status="measured")
    elif run is None:
        cell["status"] = f"missing: no evaluated seed-{SEED} run of {profile}"
    else:
        cell["status"] = f"missing: lungseg evaluate {cell['run']} --data {data} --split {split}"
    return cell


def cross_set_long(runs_dir: str | os.PathLike = "runs", metric: str = "dice_post") -> pd.DataFrame:
    """The cross-set matrix as a long table: for every registry model and every pair of
    :data:`PAIRS` (seed :data:`SEED`), the mean ``metric`` over the images with its bootstrap CI,
    n, the convention of the truth (``truth``) and ``status`` (``measured`` or why missing)."""
    return pd.DataFrame([_cell(p, m, d, s, runs_dir, metric) for m in profile_runs.registry_models()
                         for p, d, s in PAIRS])


def cross_set_table(long: pd.DataFrame, metric: str = "dice_post") -> pd.DataFrame:
    """:func:`cross_set_long` as text: model, trained on, tested on, the truth's convention,
    mean [95% CI] (``missing`` where not measured), n and the run folder."""
    text = [fmt_ci(r.to_dict()) if r["status"] == "measured" else "missing" for _, r in long.iterrows()]
    return pd.DataFrame({"Model": long["title"], "Trained on": long["trained_on"], "Tested on": long["tested_on"],
                         "Truth": [f"{t} lung" for t in long["truth"]], f"Mean {metric_label(metric)}": text,
                         "n": [f"{n:.0f}" if n == n else "" for n in long["n"]], "Run": long["run"]})


def cross_set_matrix(long: pd.DataFrame) -> pd.DataFrame:
    """Models (registry order, titles) x the six pairs (:data:`PAIRS` order, as
    ``(trained_on, tested_on)`` columns): the mean score, NaN where not measured."""
    frame = long.pivot(index="title", columns=["trained_on", "tested_on"], values="mean")
    order = [(TRAINED_ON[p], SPLIT_TITLES[(d, s)]) for p, d, s in PAIRS]
    titles = list(dict.fromkeys(long["title"]))
    return frame.reindex(index=titles, columns=pd.MultiIndex.from_tuples(order)).astype(float)


# ---------------------------------------------------------------- by view and finding

def image_info(manifest: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per image of the set (``name`` = file stem): patient, view, finding group, licence and
    source URL, from ``manifest`` (a data folder's ``manifest.csv``) or the shipped manifest."""
    if manifest is None:
        manifest = pd.read_csv(SHIPPED_MANIFEST, dtype=str, keep_default_na=False)
    info = manifest.fillna("").astype(str).copy()
    info["name"] = [Path(f).stem for f in info["file"]]
    info["finding_group"] = info["finding"].map(finding_group)
    return info.set_index("name", drop=False)


def split_names(side: str, split_file: str | os.PathLike | None = None) -> list[str]:
    """The image names (stems) on one side of the committed pneumonia split."""
    table = pd.read_csv(repo_path(split_file or SPLIT_FILE), dtype=str)
    return [Path(f).stem for f in table.loc[table["split"] == side, "file"]]


def breakdown_table(split: str = "test", profile: str = PROFILE, runs_dir: str | os.PathLike = "runs",
                    metric: str = "dice_post", manifest: pd.DataFrame | None = None,
                    split_file: str | os.PathLike | None = None) -> pd.DataFrame:
    """Per view (PA, AP, AP Supine: the manifest's ``view``) and per finding group
    (:func:`lungseg_lib.data.splits.finding_group`), then all images: the images of ``split``
    in the group and every registry model's mean ``metric`` there [95% bootstrap CI] (per-image
    scores averaged over the evaluated seeds of ``profile``); ``missing`` where not scored.
    Groups without an image on this side are left out."""
    info = image_info(manifest).loc[split_names(split, split_file)]
    groups = [("View", v, info["view"] == v) for v in VIEWS]
    groups += [("Finding", g, info["finding_group"] == g) for g in FINDING_GROUPS]
    groups.append(("All", "all images", pd.Series(True, index=info.index)))
    scores = {spec["title"]: mean_scores(profile, spec["name"], DATA, split, runs_dir)
              for _, spec in profile_runs.registry().iterrows()}
    rows = []
    for kind, name, member in groups:
        names = set(info.index[member])
        if not names:
            continue
        row = {"Group": f"{kind}: {name}" if kind != "All" else name, "Images": str(len(names))}
        for title, table in scores.items():
            values = None if table is None else table.loc[table["name"].astype(str).isin(names), metric]
            row[title] = fmt_ci(summarize(values)) if values is not None and len(values) else "missing"
        rows.append(row)
    return pd.DataFrame(rows)


def breakdown_sentence(split: str = "test", runs_dir: str | os.PathLike = "runs", metric: str = "dice_post",
                       model: str = profile_runs.REFERENCE_MODEL, manifest: pd.DataFrame | None = None) -> str:
    """The view and the finding group where ``model`` (``cpu-pneumonia``, mean of its seeds)
    scores lowest and highest on ``split``, in words."""
    scores = mean_scores(PROFILE, model, DATA, split, runs_dir)
    title = profile_runs.title_of(model)
    if scores is None:
        return f"The {title}'s breakdown on the pneumonia {split} split: {NOT_MEASURED}."
    info = image_info(manifest)
    table = scores.assign(view=info.loc[scores["name"].astype(str), "view"].to_numpy(),
                          finding=info.loc[scores["name"].astype(str), "finding_group"].to_numpy())
    parts = []
    for column, what in (("view", "view"), ("finding", "finding group")):
        means = table.groupby(column)[metric].agg(["mean", "size"]).sort_values("mean")
        low, high = means.iloc[0], means.iloc[-1]
        parts.append(f"by {what}, lowest on {means.index[0]} ({low['mean']:.3f}, {low['size']:.0f} images) and "
                     f"highest on {means.index[-1]} ({high['mean']:.3f}, {high['size']:.0f} images)")
    return (f"On the pneumonia {split} split the {title} ({PROFILE}, {seed_words(scores['seeds'].iloc[0])}) "
            f"scores {metric_label(metric)} " + "; ".join(parts) + ".")


# ---------------------------------------------------------------- claims and the prose

def claims_by_data(runs_dir: str | os.PathLike = "runs", metric: str = "dice_post") -> pd.DataFrame:
    """The paper's claims (:func:`claims.claims_table`) on each data set, stacked with a
    ``Data`` column: Shenzhen + Montgomery (``cpu``), then the pneumonia films (``cpu-pneumonia``)."""
    frames = []
    for profile in (SM_PROFILE, PROFILE):
        table = claims.claims_table(profile, runs_dir, metric)
        table = table.rename(columns={f"Measured ({profile} profile)": "Measured"})
        table.insert(1, "Data", f"{TRAINED_ON[profile]} ({profile})")
        frames.append(table)
    return pd.concat(frames, ignore_index=True)


def data_numbers(split_file: str | os.PathLike | None = None) -> dict[str, float]:
    """The data set's counts for the prose (from the shipped manifest and the committed
    split): images and patients in all and on each side, the input size, the seed of the
    cross-set matrix and the bootstrap CI's level; the same keys whatever runs exist."""
    from ..core.stats import bootstrap_ci
    from ..engine.config import profile_params

    info = image_info()
    split = pd.read_csv(repo_path(split_file or SPLIT_FILE), dtype=str)
    split["patient"] = [info.loc[Path(f).stem, "patient"] for f in split["file"]]
    out = {"n_images": float(len(info)), "n_patients": float(info["patient"].nunique())}
    for side in ("train", "val", "test", "external"):
        rows = split[split["split"] == side]
        out[f"n_{side}_images"] = float(len(rows))
        out[f"n_{side}_patients"] = float(rows["patient"].nunique())
    out["size"] = float(profile_params(PROFILE)["image_size"])
    out["seed"] = float(SEED)
    out["ci_percent"] = 100 * float(inspect.signature(bootstrap_ci).parameters["confidence"].default)
    out["n_models"] = float(len(profile_runs.registry_models()))
    out["reported_dice"] = float(papers.headline().dice)
    return out


def seed_words(seeds: str) -> str:
    """``"0"`` -> ``seed 0``, ``"0 1 2"`` -> ``seeds 0, 1, 2``."""
    found = str(seeds).split()
    return f"seed{'s' if len(found) > 1 else ''} {', '.join(found)}"


def square_rule(profile: str = PROFILE) -> str:
    """How ``profile`` brings a non-square film to the square input, in words (its ``square``)."""
    from ..engine.config import profile_params

    rule = profile_params(profile).get("square") or "stretch"
    return {"pad": "pad (the longer side to the input size, the shorter one centred between zeros)",
            "stretch": "stretch (both sides to the input size, the aspect ratio not kept)"}.get(rule, rule)


def _headline_scores(split: str, runs_dir, metric: str, model: str = profile_runs.REFERENCE_MODEL):
    scores = mean_scores(PROFILE, model, DATA, split, runs_dir)
    return None if scores is None else (summarize(scores[metric]), scores["seeds"].iloc[0])


def results_sentence(runs_dir: str | os.PathLike = "runs", metric: str = "dice_post",
                     model: str = profile_runs.REFERENCE_MODEL) -> str:
    """``model``'s (``cpu-pneumonia``) mean ``metric`` on the test and external-site splits
    against the paper's reported Dice (inside, above or below its CI), in words."""
    title, reported = profile_runs.title_of(model), papers.headline().dice
    parts = []
    for split, words in (("test", "pneumonia test split"), ("external", "external-site split")):
        found = _headline_scores(split, runs_dir, metric, model)
        if found is None:
            parts.append(f"on the {words}: {NOT_MEASURED}")
            continue
        stat, seeds = found
        side = {"reached": "at or above", "not reached": "below",
                "inconclusive": "around"}[reached(stat["ci_low"], stat["ci_high"], reported)]
        parts.append(f"on the {words} {fmt_ci(stat)} ({stat['n']} images, {seed_words(seeds)}; the CI lies "
                     f"{side} the paper's reported {reported:.2f})")
    return f"The {title} ({PROFILE}), {metric_label(metric)}: " + "; ".join(parts) + "."


def _pair_means(long: pd.DataFrame, profile: str) -> tuple[dict[str, float], int]:
    """The mean over models of each pair of ``profile``, over the models measured on all its pairs."""
    rows = long[long["profile"] == profile].pivot(index="model", columns="pair", values="mean").dropna()
    return rows.mean().to_dict(), len(rows)


def cross_set_sentence(long: pd.DataFrame) -> str:
    """What the cross-set matrix says, in words: per training set, the mean over the models
    measured on all three of its pairs (seed :data:`SEED`), own test split first."""
    parts = []
    for profile in (SM_PROFILE, PROFILE):
        means, n = _pair_means(long, profile)
        pairs = [pair_label(p, d, s) for p, d, s in PAIRS if p == profile]
        if not n:
            parts.append(f"trained on {TRAINED_ON[profile]}: {NOT_MEASURED} (no model has all three scores)")
            continue
        values = ", ".join(f"{means[p]:.3f} on the {p.split(ARROW)[1]}" for p in pairs)
        parts.append(f"trained on {TRAINED_ON[profile]} ({profile}, {n} model(s) measured on all three): {values}")
    return f"Mean over models, seed {SEED}: " + "; ".join(parts) + "."


def takeaway(runs_dir: str | os.PathLike = "runs", metric: str = "dice_post", long: pd.DataFrame | None = None,
             regions: str = "") -> str:
    """The chapter's opening, from the numbers: the paper's model on pneumonia films (test,
    external site) against the paper's reported Dice, the loss of the visible-field models on
    these films, and ``regions``: a clause on the share of their misses that is convention
    (:func:`conventions_analysis.takeaway_clause`). Each part is left out until measured."""
    title, reported = profile_runs.title_of(profile_runs.REFERENCE_MODEL), papers.headline().dice
    parts = []
    found = _headline_scores("test", runs_dir, metric)
    if found is not None:
        external = _headline_scores("external", runs_dir, metric)
        parts.append(f"On pneumonia films with whole-lung masks, the {title} reaches a {metric_label(metric)} of "
                     f"{fmt_ci(found[0])} on the test split ({seed_words(found[1])}), where the paper reports "
                     f"{reported:.2f} on its own pneumonia films"
                     + (f", and {fmt_ci(external[0])} on the external site." if external else "."))
    long = cross_set_long(runs_dir, metric) if long is None else long
    means, n = _pair_means(long, SM_PROFILE)
    if n:
        own, other = means[pair_label(*PAIRS[0])], means[pair_label(*PAIRS[1])]
        parts.append(f"Models trained on the visible lung fields of Shenzhen + Montgomery fall from {own:.3f} on "
                     f"their own test split to {other:.3f} on these films (mean of {n}, seed {SEED}).")
    parts += [regions] if regions else []
    if not parts:
        done = len(profile_runs.evaluated_models(PROFILE, runs_dir))
        return (f"Not measured yet: the {title}'s runs on pneumonia films and the cross-set evaluations are "
                f"not there ({done} of {len(profile_runs.registry_models())} models of the {PROFILE} profile "
                "evaluated so far); this chapter fills in as the runs land.")
    return " ".join(parts)
