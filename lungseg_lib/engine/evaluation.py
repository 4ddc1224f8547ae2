"""Evaluate a trained run on its test split, or on any other data folder.

Writes ``metrics.json`` (Dice and IoU of the lung class with and without post-processing:
mean, median, 95% bootstrap CI; timings), ``per_image.csv``, ``roc.csv`` and
``predictions/NAME.png`` (binary, before post-processing, at the training resolution).
``metrics.json`` is written last: its presence means the evaluation is complete.
"""

from __future__ import annotations

import os
from collections.abc import Callable
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .. import files
from . import runfolder
from ..project import REPO_ROOT
from ..data.imageio import write_png
from ..core.metrics import image_metrics
from ..core.postprocess import THRESHOLD, PostResult
from ..core.stats import summarize

REPORTED = ("dice", "iou", "precision", "recall", "hd95", "assd")


def summaries(table: pd.DataFrame, suffix: str = "") -> dict[str, dict]:
    """:func:`~lungseg_lib.report.stats.summarize` of each :data:`REPORTED` metric (column
    ``metric + suffix`` of a per-image table) whose values are all finite: HD95 and ASSD are
    infinite for an image whose prediction (or truth) is empty, and a mean over them would be
    meaningless, so such a metric is left out of ``metrics.json`` (the per-image table keeps it)."""
    return {k: summarize(table[f"{k}{suffix}"]) for k in REPORTED if np.isfinite(table[f"{k}{suffix}"]).all()}


def check_fingerprint(root: Path, split: dict, expected: str | None) -> None:
    """Raise DataError when the split's files under ``root`` are not the ones a run was trained on."""
    from ..data.folders import fingerprint
    from ..errors import DataError

    actual = fingerprint(sum(split.values(), []))
    if expected and actual != expected:
        raise DataError(f"{root}: data fingerprint {actual} differs from the run's {expected}; "
                        "these are not the images the run was trained and scored on")


def evaluation_pairs(run_dir: Path, data, split: str):
    """The data folder and the pairs to evaluate a run on: its own split, or all of ``data``."""
    from ..data.folders import check_folder, load_split, locate_data, resolve_data_dir

    info = files.read_json(run_dir / runfolder.CONFIG)
    split_file = _split_file(run_dir, info.get("split_file"))
    if data is None:
        if "data_root" not in info:
            raise ValueError(f"{run_dir / runfolder.CONFIG}: these weights do not record the data they "
                             "were trained on (published weights): pass --data DIR, with --split all "
                             "for a folder of your own")
        root = locate_data(info["data_root"], REPO_ROOT)
        pairs = load_split(split_file, root)
        check_fingerprint(root, pairs, info.get("data_fingerprint"))
        return root, (sum(pairs.values(), []) if split == "all" else pairs[split])
    root = resolve_data_dir(data)
    if split != "all":
        # the run's own data at another place (e.g. the default model's): its split, checked
        from ..errors import DataError

        try:
            pairs = load_split(split_file, root) if split_file.is_file() else None
        except DataError:  # not the run's data
            pairs = None
        if pairs is None:
            raise ValueError("evaluating on another data folder needs --split all (its split is unknown)")
        check_fingerprint(root, pairs, info.get("data_fingerprint"))
        return root, pairs[split]
    scan, _ = check_folder(root)
    if scan.problems:
        print(f"{root}: skipping {len(scan.problems)} problem file(s):")
        print("\n".join(f"  {p}" for p in scan.problems))
    return root, scan.pairs


def _split_file(run_dir: Path, recorded: str | None) -> Path:
    """The run's split CSV: as recorded (relative to the repository), else a copy of it in the
    run folder (exported and shipped models carry theirs)."""
    recorded = Path(recorded or "data/splits/none.csv")
    path = recorded if recorded.is_absolute() else REPO_ROOT / recorded
    return path if path.is_file() or not (run_dir / recorded.name).is_file() else run_dir / recorded.name


def score_images(pairs: list, images: np.ndarray, truth: np.ndarray, prob: np.ndarray,
                 post: Callable[[np.ndarray], PostResult], predictions: Path) -> tuple[pd.DataFrame, float]:
    """One row per image (name, source, label, brightness, contrast, lung fraction, what the
    post-processing ``post`` removed, :data:`REPORTED` metrics raw and ``_post``); each raw prediction is
    written to ``predictions/NAME.png``. Returns the table and the post-processing's seconds."""
    rows, post_seconds = [], 0.0
    for i, pair in enumerate(pairs):
        raw = prob[i] > THRESHOLD
        t0 = time.perf_counter()
        cleaned = post(raw)
        post_seconds += time.perf_counter() - t0
        row = {"name": pair.name, "source": pair.source, "label": pair.label,
               "brightness": float(images[i].mean()), "contrast": float(images[i].std()),
               "mask_fraction": float(truth[i].mean()), "removed_components": len(cleaned.removed_areas),
               "removed_area": int(sum(cleaned.removed_areas))}
        row.update({k: v for k, v in image_metrics(raw, truth[i]).items() if k in REPORTED})
        row.update({f"{k}_post": v for k, v in image_metrics(cleaned.mask, truth[i]).items() if k in REPORTED})
        rows.append(row)
        write_png(predictions / f"{pair.name}.png", raw)
    return pd.DataFrame(rows), post_seconds


def write_roc(path: Path, truth: np.ndarray, prob: np.ndarray) -> float | None:
    """``roc.csv``: at most 500 points of the ROC curve over every pixel; returns the AUC (None
    when the truth has one class only)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    y, p = truth.ravel(), prob.ravel()
    fpr, tpr, thr = roc_curve(y, p)
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), 500)).astype(int))
    files.write_csv(path, pd.DataFrame({"fpr": fpr[keep], "tpr": tpr[keep], "threshold": np.minimum(thr[keep], 1.0)}))
    return float(roc_auc_score(y, p)) if 0 < y.mean() < 1 else None


def score_grid(model, pairs: list, images: np.ndarray, truth: np.ndarray, prob: np.ndarray, out: Path,
               batch_size: int) -> float:
    """The perturbation grid (``robustness.csv``, severity 0 = ``prob``) and the example image's
    masks; returns its seconds."""
    from .robustness import robustness_table, save_example

    t0 = time.perf_counter()
    grid = robustness_table(model, [p.name for p in pairs], images, truth, clean_prob=prob, batch_size=batch_size)
    seconds = round(time.perf_counter() - t0, 1)
    files.write_csv(out / runfolder.ROBUSTNESS, grid)
    first = int(np.argmin([p.name for p in pairs]))  # the example image: the first by name
    save_example(model, pairs[first].name, images[first], out / runfolder.EXAMPLE)
    return seconds


def evaluate(run_dir: str | os.PathLike, data: str | None = None, split: str = "test",
             out: str | os.PathLike | None = None, batch_size: int = 8, robustness: bool = True,
             fill_holes: bool | None = None) -> dict:
    """Evaluate the run in ``run_dir``; results go to ``out`` (default: the run folder).

    With ``robustness`` the perturbation grid of :mod:`lungseg_lib.engine.robustness` is scored
    too (``robustness.csv``; its severity-0 rows are this evaluation's own predictions).
    ``fill_holes``: override the run's post-processing option ``post_fill_holes`` (recorded in
    ``metrics.json``).
    """
    from ..data.folders import load_arrays, portable_path
    from .inference import TrainedModel

    run_dir = Path(run_dir)
    out = Path(out) if out else run_dir
    model = TrainedModel(run_dir, fill_holes=fill_holes)
    root, pairs = evaluation_pairs(run_dir, data, split)
    if not pairs:
        raise ValueError(f"{root}: no image/mask pairs to evaluate")
    images, masks = load_arrays(pairs, model.size)
    t0 = time.perf_counter()
    prob = model.probability(images, batch_size)
    infer_ms = 1000 * (time.perf_counter() - t0) / len(pairs)
    truth = masks[..., 0] > 0.5
    table, post_seconds = score_images(pairs, images, truth, prob, model.postprocess, out / runfolder.PREDICTIONS)
    files.write_csv(out / runfolder.PER_IMAGE, table)
    auc = write_roc(out / runfolder.ROC, truth, prob)
    robust_seconds = score_grid(model, pairs, images, truth, prob, out, batch_size) if robustness else None
    training = runfolder.read_training(run_dir)
    metrics = {
        "model": model.config.model, "profile": model.config.profile,
        "run_dir": portable_path(run_dir, REPO_ROOT), "data_root": portable_path(root, REPO_ROOT), "split": split,
        "n_images": len(pairs), "image_size": model.size,
        "post_k": model.post_k, "post_fill_holes": model.fill_holes,
        "raw": summaries(table), "post": summaries(table, "_post"), "roc_auc": auc,
        "timings": {"train_seconds": training.get("train_seconds"), "epochs_run": training.get("epochs_run"),
                    "inference_ms_per_image": infer_ms, "post_ms_per_image": 1000 * post_seconds / len(pairs),
                    "robustness_seconds": robust_seconds},
        "training": training,
    }
    files.write_json(out / runfolder.METRICS, metrics)
    return metrics
