"""The data folder the figures read images from, the data table, and the test images shown
(an example, the cases of the prediction and failure figures) with their ground truth and the
run's predictions."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from ..engine import runfolder
from ..engine.records import RunRecord, read_run_record
from ..errors import DataError
from ..project import REPO_ROOT, repo_path
from .profile_runs import registry_models, run_dir


DEFAULT_DATA = "shenzhen_montgomery_512"  # data/<this>: the runs' data, fetched by `lungseg book`


NO_DATA = ("no chest X-ray data found: set LUNGSEG_DATA to a data folder (images/ and masks/), "
           "e.g. `export LUNGSEG_DATA=/path/to/shenzhen_montgomery_512`, or run "
           f"`lungseg data fetch shenzhen-montgomery-512 --out data/{DEFAULT_DATA}` once with internet "
           "access (or give it a copy of the archive with --url)")


def data_root(profile: str, runs_dir: str | os.PathLike = "runs", data_dir: str = "") -> Path:
    """The data folder the figures read images from.

    ``data_dir`` when given; for runs trained on synthetic data, that synthetic folder;
    else ``$LUNGSEG_DATA``, the folder the runs were trained on (if it exists here), or
    ``data/shenzhen_montgomery_512`` (fetched by ``lungseg book``). Raises DataError with what
    to do.
    """
    from ..data.folders import resolve_data_dir

    if data_dir:
        return resolve_data_dir(repo_path(data_dir))
    records = [r for r in _records(profile, runs_dir) if r.data_root]
    synthetic = [r for r in records if r.config.get("data") == "synthetic"]
    if synthetic:
        recorded = repo_path(synthetic[0].data_root)
        return recorded if recorded.is_dir() else REPO_ROOT / "data" / recorded.name
    if os.environ.get("LUNGSEG_DATA"):
        return resolve_data_dir(None)
    recorded = [c for r in records for c in (repo_path(r.data_root), REPO_ROOT / "data" / Path(r.data_root).name)]
    for candidate in recorded + [REPO_ROOT / "data" / DEFAULT_DATA]:
        if (candidate / "images").is_dir():
            return candidate
    raise DataError(NO_DATA)


def _records(profile: str, runs_dir) -> list[RunRecord]:
    """The ``config.json`` records of the registry models' seed-0 runs of ``profile`` that exist."""
    return [r for r in (read_run_record(run_dir(profile, m, runs_dir)) for m in registry_models()) if r]


def split_file(profile: str, root: Path, runs_dir: str | os.PathLike = "runs") -> Path | None:
    """The split CSV the runs used (moved to this checkout's data/splits/ if recorded
    elsewhere), else ``data/splits/<data folder name>.csv``, else None."""
    recorded = [Path(r.split_file) for r in _records(profile, runs_dir) if r.split_file]
    for path in recorded + [REPO_ROOT / "data" / "splits" / f"{root.name}.csv"]:
        for candidate in (path, REPO_ROOT / "data" / "splits" / path.name):
            if candidate.exists():
                return candidate
    return None


@lru_cache(maxsize=4)
def _pairs(root: str) -> dict:
    from ..data.folders import find_pairs

    return {p.name: p for p in find_pairs(root).pairs}


def pairs_in(root: str | os.PathLike) -> dict:
    """``{name: Pair}`` of the usable image/mask pairs in a data folder (cached)."""
    return _pairs(str(root))


def data_table(root: Path, split: Path | None) -> pd.DataFrame:
    """Per source: pairs in each split, total, and the lung-area distribution (median and
    range of the mask fraction; from ``manifest.csv``'s ``mask_fg_fraction`` when present,
    else measured). Pairs not named by the split count as ``unsplit``."""
    from ..data.imageio import read_mask

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
    from ..data.imageio import read_image, read_mask, resize_pair

    pair = pairs_in(root)[name]
    return resize_pair(read_image(pair.image), read_mask(pair.mask), size or None)


def load_case(root: Path, run: Path, name: str, post: bool = False) -> dict:
    """Image, ground truth and the run's prediction of test image ``name``, at the
    prediction's resolution; ``post``: the prediction after the run's post-processing
    (:func:`postprocess`). Returns ``{"name", "image", "truth", "pred"}``."""
    from ..data.imageio import read_mask

    pred = read_mask(run / runfolder.PREDICTIONS / f"{name}.png")
    if post:
        pred = postprocess(run, pred).mask
    image, truth = load_pair(root, name, pred.shape[0])
    return {"name": name, "image": image, "truth": truth, "pred": pred}


def postprocess(run: Path, mask: np.ndarray):
    """The run's post-processing of a binary mask, as its evaluation applied it: the ``post_k``
    largest components (default 2), holes filled when ``post_fill_holes``."""
    from ..core.postprocess import keep_largest_components

    config = (read_run_record(run) or RunRecord()).config
    return keep_largest_components(mask, int(config.get("post_k", 2)), bool(config.get("post_fill_holes", False)))


def case_rows(root: Path, run: Path, table: pd.DataFrame, groups: dict[str, list[str]],
              metric: str = "dice_post") -> dict[str, list[dict]]:
    """Cases for :func:`lungseg_lib.report.figures.cases_figure`: each name loaded with its score
    (``metric`` from the run's per_image table), post-processed when ``metric`` ends in _post."""
    scores = table.set_index("name")[metric]
    post = metric.endswith("_post")
    return {group: [load_case(root, run, n, post) | {"score": float(scores[n])} for n in names]
            for group, names in groups.items()}


def largest_removal(table: pd.DataFrame, present: set[str]) -> str:
    """The test image (present in the data folder) whose post-processing removed the most area."""
    table = table[table["name"].isin(present)]
    if table.empty:
        raise DataError("none of the run's test images is in the data folder")
    return table.sort_values(["removed_area", "name"], ascending=[False, True])["name"].iloc[0]
