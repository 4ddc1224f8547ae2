"""The two causes of the cross-set loss on the pneumonia films: the convention (the whole-lung
truth reaches behind the heart and below the visible diaphragm, where a visible-field model is
not asked to draw) and failure (lung the model should see, e.g. made opaque by pneumonia).

Both regions are defined from masks, at the analysis grid: the reference model's input
(128 px, the stretched square its predictions are saved at), so a reader can check them:

- the reference visible field of an image: the convex hull of each of the two largest
  8-connected components of the raw prediction (before post-processing) of one fixed
  visible-field model: the ``cpu`` profile's best model by validation Dice
  (:func:`profile_runs.best_by_validation` ``("cpu", 1)``), seed 0 (the ``cpu-rerun`` run of
  that model when there is one: the committed ``cpu`` runs lost their weights, and the rerun's
  predicted the films; :func:`pneumonia.seed0_run`), its predictions in
  ``evaluations/covid_pneumonia_512-test/predictions/``;
- ``outside`` (convention): the whole-lung truth minus that field; ``inside`` (failure when
  missed): the truth within it.

For every seed-0 model of ``cpu`` (``cpu-rerun`` where it has one) and ``cpu-pneumonia``, its raw predictions on the pneumonia
test images (brought to the analysis grid when its input size or square rule differ) give, per
image, the truth pixels in each region and those it predicted; the recall in a region is
averaged over the images that have pixels there (bootstrap CI: :mod:`lungseg_lib.core.stats`),
and the share of missed lung pixels outside the field is pooled over the images. The truth
masks are read from the data folder each time (:mod:`lungseg_lib.data.folders`); nothing is
cached on disk.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from ..core.postprocess import CONNECTIVITY, keep_largest_components
from ..core.stats import summarize
from ..data.folders import data_set_dir, load_arrays, load_split
from ..data.imageio import from_square, read_mask, to_square
from ..engine import runfolder
from ..engine.records import read_run_record
from ..project import relative_to_repo, repo_path
from . import profile_runs
from .pneumonia import DATA, NOT_MEASURED, PROFILE, SEED, SM_PROFILE, SPLIT_FILE, TRAINED_ON, score_dir, seed0_run
from .tables import fmt_ci

NO_DATA = (f"the {DATA} data folder is not here: `lungseg data fetch covid-pneumonia-512 --out data/{DATA}`, "
           "or set LUNGSEG_DATA to a folder beside it")


def visible_field(raw: np.ndarray) -> np.ndarray:
    """The reference visible field of one raw prediction: the filled convex hull of each of its
    two largest 8-connected components (empty for an empty prediction)."""
    kept = keep_largest_components(np.asarray(raw, bool), 2).mask.astype(np.uint8)
    n, labels = cv2.connectedComponents(kept, connectivity=CONNECTIVITY)
    field = np.zeros(kept.shape, np.uint8)
    for label in range(1, n):
        points = cv2.findNonZero((labels == label).astype(np.uint8))
        cv2.fillConvexPoly(field, cv2.convexHull(points), 1)
    return field.astype(bool)


def region_counts(pred: np.ndarray, truth: np.ndarray, field: np.ndarray) -> dict[str, int]:
    """Truth pixels inside and outside ``field`` and how many of each ``pred`` covers."""
    pred, truth, field = (np.asarray(a, bool) for a in (pred, truth, field))
    inside, outside = truth & field, truth & ~field
    return {"inside_px": int(inside.sum()), "outside_px": int(outside.sum()),
            "hit_inside": int((pred & inside).sum()), "hit_outside": int((pred & outside).sum())}


def to_grid(pred: np.ndarray, shape: tuple[int, int], how: str, size: int, square: str) -> np.ndarray:
    """A square prediction made with the rule ``how`` brought to the analysis grid (``size``,
    ``square``) through the image's own ``shape``; unchanged when it is already there."""
    pred = np.asarray(pred, bool)
    if pred.shape == (size, size) and how == square:
        return pred
    back = from_square(pred.astype(np.float32), shape, how) >= 0.5
    return to_square(back.astype(np.uint8), size, square, nearest=True).astype(bool)


def read_predictions(folder: Path, names: list[str]) -> list[np.ndarray] | None:
    """The raw prediction PNGs ``folder/NAME.png`` of ``names``; None when one is missing."""
    paths = [folder / f"{name}.png" for name in names]
    if not all(p.exists() for p in paths):
        return None
    return [read_mask(p) for p in paths]


def reference(runs_dir: str | os.PathLike = "runs") -> tuple[str | None, Path | None]:
    """The reference visible-field model (the ``cpu`` profile's best by validation Dice of its
    committed seed-0 runs) and the seed-0 run that stands for it (:func:`pneumonia.seed0_run`:
    the ``cpu-rerun`` run, whose weights predicted the pneumonia films, when there is one);
    (None, None) until the rule can pick it."""
    best = profile_runs.best_by_validation(SM_PROFILE, 1, runs_dir=runs_dir)
    if not best:
        return None, None
    return best[0], seed0_run(SM_PROFILE, best[0], runs_dir)


def pneumonia_data_dir(data_dir: str | os.PathLike = "") -> Path | None:
    """The ``covid_pneumonia_512`` folder: ``data_dir`` when it is that set, its sibling of that
    name (the book passes the Shenzhen + Montgomery folder), else the set found by name."""
    if data_dir:
        given = repo_path(data_dir)
        for candidate in (given, given.parent / DATA):
            if candidate.name == DATA and (candidate / "images").is_dir():
                return candidate
    return data_set_dir(DATA)


class Truth:
    """The pneumonia test images on the analysis grid: names, images and truth masks, the
    originals' shapes, the grid's ``size`` and ``square`` rule, and each image's reference
    prediction and field (filled by :func:`load_reference`)."""

    def __init__(self, root: Path, split_file, size: int, square: str, side: str = "test"):
        pairs = load_split(repo_path(split_file or SPLIT_FILE), root)[side]
        images, masks = load_arrays(pairs, size, square)
        self.pairs, self.names = pairs, [p.name for p in pairs]
        self.images, self.masks = images[..., 0], masks[..., 0].astype(bool)
        self.shapes = [read_mask(p.mask).shape for p in pairs]
        self.size, self.square = size, square
        self.reference_preds: list[np.ndarray] = []  # the reference's raw predictions on this grid
        self.fields: list[np.ndarray] = []

    def on_grid(self, preds: list[np.ndarray], how: str) -> list[np.ndarray]:
        """``preds`` (made with the square rule ``how``) on this grid."""
        return [to_grid(p, s, how, self.size, self.square) for p, s in zip(preds, self.shapes)]


def input_grid(run: Path) -> tuple[int, str]:
    """A run's input size and square rule (config.json; the defaults for an older file)."""
    record = read_run_record(run)
    config = record.config if record else {}
    return int(config.get("image_size") or 128), str(config.get("square") or "stretch")


def load_reference(runs_dir: str | os.PathLike = "runs", data_dir: str | os.PathLike = "",
                   split_file=None, model: str | None = None) -> tuple[Truth | None, str]:
    """The truth of the pneumonia test images with each one's reference field, and the reference
    in words (``title (profile/model/seed0)``); (None, why not) when the reference model is not
    known yet, has no predictions on the pneumonia test split, or the data folder is not here.
    ``model``: another reference (tests); default the rule of the module's doc."""
    model, run = (model, seed0_run(SM_PROFILE, model, runs_dir)) if model else reference(runs_dir)
    if model is None:
        return None, (f"the reference visible-field model is not known until every {SM_PROFILE} seed-{SEED} "
                      "run is evaluated (best validation Dice)")
    if run is None:
        return None, f"the reference {profile_runs.title_of(model)} has no evaluated {SM_PROFILE} seed-{SEED} run"
    where = f"{profile_runs.title_of(model)} ({relative_to_repo(run)})"
    folder = score_dir(run, SM_PROFILE, DATA, "test")
    root = pneumonia_data_dir(data_dir)
    if not (folder / runfolder.METRICS).exists():
        return None, f"the reference {where} is not evaluated on the pneumonia test split yet " \
                     f"(lungseg evaluate {relative_to_repo(run)} --data {DATA} --split test)"
    if root is None:
        return None, NO_DATA
    size, square = input_grid(run)
    truth = Truth(root, split_file, size, square)
    preds = read_predictions(folder / runfolder.PREDICTIONS, truth.names)
    if preds is None:
        return None, f"the reference {where} lacks predictions of some pneumonia test images"
    truth.reference_preds = truth.on_grid(preds, square)
    truth.fields = [visible_field(p) for p in truth.reference_preds]
    return truth, where


def model_regions(truth: Truth, profile: str, model: str, runs_dir: str | os.PathLike = "runs") -> pd.DataFrame | None:
    """Per pneumonia test image, :func:`region_counts` of ``model``'s seed-0 run of ``profile``
    against the reference fields; None when its predictions there are not all present."""
    run = seed0_run(profile, model, runs_dir)
    if run is None:
        return None
    folder = score_dir(run, profile, DATA, "test")
    preds = read_predictions(folder / runfolder.PREDICTIONS, truth.names) \
        if (folder / runfolder.METRICS).exists() else None
    if preds is None:
        return None
    preds = truth.on_grid(preds, input_grid(run)[1])
    rows = [{"name": n, **region_counts(p, t, f)} for n, p, t, f in zip(truth.names, preds, truth.masks, truth.fields)]
    return pd.DataFrame(rows)


def region_summary(counts: pd.DataFrame | None) -> dict[str, float]:
    """Recall inside and outside the field (per image, then averaged over the images with truth
    pixels there: mean and bootstrap CI, n) and the share of missed lung pixels lying outside
    (pooled over the images); NaN for a model without counts."""
    keys = [f"{r}_{k}" for r in ("inside", "outside") for k in ("mean", "ci_low", "ci_high", "n")]
    out = dict.fromkeys([*keys, "missed_outside_share"], math.nan)
    if counts is None or not len(counts):
        return out
    for region in ("inside", "outside"):
        have = counts[counts[f"{region}_px"] > 0]
        if len(have):
            stat = summarize(have[f"hit_{region}"] / have[f"{region}_px"])
            out.update({f"{region}_{k}": float(stat[k]) for k in ("mean", "ci_low", "ci_high", "n")})
    missed_in = (counts["inside_px"] - counts["hit_inside"]).sum()
    missed_out = (counts["outside_px"] - counts["hit_outside"]).sum()
    if missed_in + missed_out:
        out["missed_outside_share"] = float(missed_out / (missed_in + missed_out))
    return out


def region_scores(runs_dir: str | os.PathLike = "runs", data_dir: str | os.PathLike = "", split_file=None,
                  model: str | None = None) -> tuple[pd.DataFrame, Truth | None, str]:
    """Every seed-0 model of ``cpu`` and ``cpu-pneumonia`` (registry order): its
    :func:`region_summary` with profile, model, title and status; the truth (None when the
    reference or the data is missing) and the reference in words, or why it is missing."""
    truth, where = load_reference(runs_dir, data_dir, split_file, model)
    rows = []
    for profile in (SM_PROFILE, PROFILE):
        for name in profile_runs.registry_models():
            counts = model_regions(truth, profile, name, runs_dir) if truth is not None else None
            status = "measured" if counts is not None else "missing: " + (
                f"no seed-{SEED} predictions on the pneumonia test split" if truth is not None else where)
            rows.append({"profile": profile, "model": name, "title": profile_runs.title_of(name),
                         "status": status, **region_summary(counts)})
    return pd.DataFrame(rows), truth, where


def _share_text(row) -> str:
    """The share of missed pixels outside, in words: ``missing``, ``none missed`` or ``x %``."""
    if row["status"] != "measured":
        return "missing"
    share = row["missed_outside_share"]
    return "none missed" if share != share else f"{100 * share:.1f} %"


def region_table(scores: pd.DataFrame) -> pd.DataFrame:
    """:func:`region_scores` as text: model, trained on, images, recall inside and outside the
    reference visible field (mean [95% CI]), the share of missed lung pixels outside."""
    rows = []
    for _, r in scores.iterrows():
        ok = r["status"] == "measured"
        stat = {region: {k: r[f"{region}_{k}"] for k in ("mean", "ci_low", "ci_high")} for region in ("inside", "outside")}
        rows.append({"Model": r["title"], "Trained on": f"{TRAINED_ON[r['profile']]} ({r['profile']})",
                     "Images": f"{r['inside_n']:.0f}" if ok else "",
                     "Recall inside the visible field": fmt_ci(stat["inside"]) if ok and r["inside_n"] == r["inside_n"] else "missing",
                     "Recall outside (behind the heart, below the visible diaphragm)":
                         fmt_ci(stat["outside"]) if ok and r["outside_n"] == r["outside_n"] else "missing",
                     "Missed lung pixels outside": _share_text(r)})
    return pd.DataFrame(rows)


def outside_share(truth: Truth | None) -> dict[str, float]:
    """How much of the whole-lung truth lies outside the reference field: mean over the images
    (and min, max) of each image's share, and the number of images; NaN without the truth."""
    if truth is None or not truth.fields:
        return {"mean": math.nan, "min": math.nan, "max": math.nan, "n": math.nan}
    shares = [(t & ~f).sum() / t.sum() for t, f in zip(truth.masks, truth.fields) if t.any()]
    return {"mean": float(np.mean(shares)), "min": float(np.min(shares)), "max": float(np.max(shares)),
            "n": float(len(shares))}


def regions_sentence(scores: pd.DataFrame, truth: Truth | None, where: str) -> str:
    """What the region split says, in words: the reference, the size of the outside region,
    and per training set the mean over its measured models of both recalls and of the share
    of misses outside."""
    if truth is None:
        return f"The convention/failure split: {NOT_MEASURED} ({where})."
    share = outside_share(truth)
    text = (f"The reference visible field is that of the {where}; outside it lies on average "
            f"{100 * share['mean']:.1f} % of the whole-lung truth of the {share['n']:.0f} pneumonia test images "
            f"(from {100 * share['min']:.1f} % to {100 * share['max']:.1f} %)")
    for profile in (SM_PROFILE, PROFILE):
        done = scores[(scores["profile"] == profile) & (scores["status"] == "measured")]
        if not len(done):
            text += f". Trained on {TRAINED_ON[profile]}: {NOT_MEASURED}"
            continue
        text += (f". Trained on {TRAINED_ON[profile]} ({len(done)} model(s), seed {SEED}), the mean recall is "
                 f"{done['inside_mean'].mean():.3f} inside the field and {done['outside_mean'].mean():.3f} outside, "
                 f"and {100 * done['missed_outside_share'].mean():.1f} % of the missed lung pixels lie outside it")
    return text + "."


def takeaway_clause(scores: pd.DataFrame) -> str:
    """For the chapter's opening: the share of the visible-field models' missed lung pixels
    that lies outside the reference field (mean over the measured ``cpu`` models); "" when
    none is measured."""
    done = scores[(scores["profile"] == SM_PROFILE) & (scores["status"] == "measured")]
    if not len(done):
        return ""
    return (f"Of the lung pixels these {len(done)} model(s) miss on the pneumonia test images, "
            f"{100 * done['missed_outside_share'].mean():.1f} % lie outside the visible field (behind the heart "
            f"or below the visible diaphragm: the other convention), the rest inside it (failures).")
