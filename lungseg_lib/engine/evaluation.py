"""Evaluate a trained run on its test split, or on any other data folder.

Writes ``metrics.json`` (Dice and IoU of the lung class with and without post-processing:
mean, median, 95% bootstrap CI; timings), ``per_image.csv``, ``roc.csv`` and
``predictions/NAME.png`` (binary, before post-processing, at the training resolution), and
the perturbation grid (``robustness.csv``, :mod:`lungseg_lib.engine.perturbations`; alone:
:func:`run_robustness`, ``lungseg robustness``). Every prediction goes through
:meth:`~lungseg_lib.engine.inference.TrainedModel.predict`. ``metrics.json`` is written last:
its presence means the evaluation is complete.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .. import files
from . import runfolder
from ..project import REPO_ROOT
from ..data.imageio import write_png
from ..core.metrics import image_metrics
from ..core.stats import summarize

REPORTED = ("dice", "iou", "precision", "recall", "hd95", "assd")


def summaries(table: pd.DataFrame, suffix: str = "") -> dict[str, dict]:
    """:func:`~lungseg_lib.core.stats.summarize` of each :data:`REPORTED` metric (column
    ``metric + suffix`` of a per-image table). HD95 and ASSD are infinite for an image whose
    prediction (or truth) is empty: their summary is over the finite values, with the number of
    infinite ones (``n_infinite``), so one empty prediction does not hide the metric; a metric
    with no finite value at all, or with an undefined (NaN) value, is left out (the per-image
    table keeps it)."""
    out = {}
    for k in REPORTED:
        values = table[f"{k}{suffix}"].to_numpy(float)
        finite = values[np.isfinite(values)]
        if len(finite) and not np.isnan(values).any():  # NaN: the metric is undefined for some image
            out[k] = summarize(finite)
            if len(finite) < len(values):
                out[k]["n_infinite"] = int(len(values) - len(finite))
    return out


def check_fingerprint(root: Path, split: dict, expected: str | None) -> None:
    """Raise DataError when the split's files under ``root`` are not the ones a run was trained on."""
    from ..data.folders import fingerprint
    from ..errors import DataError

    actual = fingerprint(sum(split.values(), []))
    if expected and actual != expected:
        raise DataError(f"{root}: data fingerprint {actual} differs from the run's {expected}; "
                        "these are not the images the run was trained and scored on")


def evaluation_pairs(run_dir: Path, data, split: str):
    """The data folder and the pairs to evaluate a run on: a side of its own split (checked
    against its fingerprint; with several data sets, the one ``data`` is), a side of another
    data set's committed split (``data/splits/<name>.csv``: a cross-set evaluation), or with
    ``split="all"`` every pair of ``data``."""
    from ..data.folders import check_folder, locate_data, resolve_data_dir

    info = files.read_json(run_dir / runfolder.CONFIG)
    if data is None:
        if "data_root" not in info:
            raise ValueError(f"{run_dir / runfolder.CONFIG}: these weights do not record the data they "
                             "were trained on (published weights): pass --data DIR, with --split all "
                             "for a folder of your own")
        root = locate_data(info["data_root"], REPO_ROOT)
    else:
        root = resolve_data_dir(data)
        if split == "all":
            scan, _ = check_folder(root)
            if scan.problems:
                print(f"{root}: skipping {len(scan.problems)} problem file(s):")
                print("\n".join(f"  {p}" for p in scan.problems))
            return root, scan.pairs
    pairs = _split_pairs(run_dir, info, root)
    if split == "all":
        return root, sum(pairs.values(), [])
    if split not in pairs:
        raise ValueError(f"{root}: its split has no {split!r} side (sides: {', '.join(pairs)})")
    return root, pairs[split]


def _split_pairs(run_dir: Path, info: dict, root: Path) -> dict:
    """The split of ``root``: the run's own for one of its data sets (fingerprint checked),
    else the data set's committed ``data/splits/<name>.csv``."""
    from ..data.folders import load_split
    from ..errors import DataError

    records = [r for r in info.get("data_sets", []) if Path(str(r.get("data_root", ""))).name == root.name]
    for record in records or [info]:
        split_file = _split_file(run_dir, record.get("split_file"))
        try:
            pairs = load_split(split_file, root) if split_file.is_file() else None
        except DataError:  # not this run's data
            pairs = None
        if pairs is not None:
            check_fingerprint(root, pairs, record.get("data_fingerprint"))
            return pairs
    committed = REPO_ROOT / "data" / "splits" / f"{root.name}.csv"
    if not committed.is_file():
        raise ValueError(f"{root}: not this run's data and no committed split ({committed}): evaluate it "
                         "with --split all")
    return load_split(committed, root)


def _split_file(run_dir: Path, recorded: str | None) -> Path:
    """The run's split CSV: as recorded (relative to the repository), else a copy of it in the
    run folder (exported and shipped models carry theirs)."""
    recorded = Path(recorded or "data/splits/none.csv")
    path = recorded if recorded.is_absolute() else REPO_ROOT / recorded
    return path if path.is_file() or not (run_dir / recorded.name).is_file() else run_dir / recorded.name


def score_images(pairs: list, images: np.ndarray, truth: np.ndarray, predictions: list,
                 folder: Path) -> pd.DataFrame:
    """One row per image (name, source, label, brightness, contrast, lung fraction, what the
    post-processing removed, :data:`REPORTED` metrics raw and ``_post``) from its
    :class:`~lungseg_lib.engine.inference.Prediction`; each raw mask is written to ``folder/NAME.png``."""
    rows = []
    for i, (pair, pred) in enumerate(zip(pairs, predictions)):
        row = {"name": pair.name, "source": pair.source, "label": pair.label,
               "brightness": float(images[i].mean()), "contrast": float(images[i].std()),
               "mask_fraction": float(truth[i].mean()), "removed_components": len(pred.post.removed_areas),
               "removed_area": int(sum(pred.post.removed_areas))}
        row.update({k: v for k, v in image_metrics(pred.raw, truth[i]).items() if k in REPORTED})
        row.update({f"{k}_post": v for k, v in image_metrics(pred.mask, truth[i]).items() if k in REPORTED})
        rows.append(row)
        write_png(folder / f"{pair.name}.png", pred.raw)
    return pd.DataFrame(rows)


def write_roc(path: Path, truth: np.ndarray, prob: np.ndarray) -> float | None:
    """``roc.csv``: at most 500 points of the ROC curve over every pixel; returns the AUC (None
    when the truth has one class only)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    y, p = truth.ravel(), prob.ravel()
    fpr, tpr, thr = roc_curve(y, p)
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), 500)).astype(int))
    files.write_csv(path, pd.DataFrame({"fpr": fpr[keep], "tpr": tpr[keep], "threshold": np.minimum(thr[keep], 1.0)}))
    return float(roc_auc_score(y, p)) if 0 < y.mean() < 1 else None


def write_grid(model, pairs: list, images: np.ndarray, truth: np.ndarray, out: Path, *, families=None,
               severities=None, seed: int = 0, clean: list | None = None, batch_size: int = 8) -> dict:
    """The perturbation grid (``robustness.csv``; severity 0 = ``clean`` when given) and the
    example image's masks (the first image by name); returns a summary with its seconds."""
    from .perturbations import check_grid, robustness_table, save_example

    families, severities = check_grid(families, severities)
    t0 = time.perf_counter()
    grid = robustness_table(model, [p.name for p in pairs], images, truth, families, severities, seed,
                            clean, batch_size)
    seconds = round(time.perf_counter() - t0, 1)
    path = files.write_csv(out / runfolder.ROBUSTNESS, grid)
    first = int(np.argmin([p.name for p in pairs]))
    save_example(model, pairs[first].name, images[first], out / runfolder.EXAMPLE, seed=seed)
    settings = len(families) * len([s for s in severities if s])
    return {"path": str(path), "rows": len(grid), "seconds": seconds,
            "predictions": len(pairs) * settings + (len(pairs) if 0 in severities and clean is None else 0)}


def _model_and_data(run_dir: Path, data, split: str, fill_holes: bool | None = None):
    """The run's model (drawing the data's lung convention when it draws several), the data
    folder, its pairs and their arrays at the model's input size and square rule."""
    from ..data.conventions import convention_of
    from ..data.folders import load_arrays
    from .inference import TrainedModel

    root, pairs = evaluation_pairs(run_dir, data, split)
    if not pairs:
        raise ValueError(f"{root}: no image/mask pairs to evaluate")
    model = TrainedModel(run_dir, fill_holes=fill_holes, lung=convention_of(root.name))
    images, masks = load_arrays(pairs, model.size, model.config.square)
    return model, root, pairs, images, masks[..., 0].astype(bool)


def run_robustness(run_dir: str | os.PathLike, data: str | None = None, split: str = "test",
                   out: str | os.PathLike | None = None, families=None, severities=None,
                   seed: int = 0) -> dict:
    """``lungseg robustness``: write ``robustness.csv`` for a trained run; return a summary."""
    run_dir = Path(run_dir)
    model, _, pairs, images, truth = _model_and_data(run_dir, data, split)
    return write_grid(model, pairs, images, truth, Path(out or run_dir), families=families,
                      severities=severities, seed=seed)


def evaluate(run_dir: str | os.PathLike, data: str | None = None, split: str = "test",
             out: str | os.PathLike | None = None, batch_size: int = 8, robustness: bool = True,
             fill_holes: bool | None = None) -> dict:
    """Evaluate the run in ``run_dir``; results go to ``out`` (default: the run folder).

    With ``robustness`` the perturbation grid of :mod:`lungseg_lib.engine.perturbations` is scored
    too (``robustness.csv``; its severity-0 rows are this evaluation's own predictions).
    ``fill_holes``: override the run's post-processing option ``post_fill_holes`` (recorded in
    ``metrics.json``).
    """
    from ..data.conventions import convention_of
    from ..data.folders import portable_path

    run_dir = Path(run_dir)
    out = Path(out) if out else run_dir
    model, root, pairs, images, truth = _model_and_data(run_dir, data, split, fill_holes)
    t0 = time.perf_counter()
    predictions = model.predict(images, batch_size)
    predict_ms = 1000 * (time.perf_counter() - t0) / len(pairs)
    table = score_images(pairs, images, truth, predictions, out / runfolder.PREDICTIONS)
    files.write_csv(out / runfolder.PER_IMAGE, table)
    auc = write_roc(out / runfolder.ROC, truth, np.stack([p.probability for p in predictions]))
    grid = write_grid(model, pairs, images, truth, out, clean=predictions, batch_size=batch_size) if robustness else {}
    training = runfolder.read_training(run_dir)
    metrics = {
        "model": model.config.model, "profile": model.config.profile,
        "run_dir": portable_path(run_dir, REPO_ROOT), "data_root": portable_path(root, REPO_ROOT), "split": split,
        "n_images": len(pairs), "image_size": model.size,
        # the convention the model drew and the one the data's masks follow (data.conventions)
        "lung": model.lungs[model.channel()] if model.lungs else None, "truth_lung": convention_of(root.name),
        "post_k": model.post_k, "post_fill_holes": model.fill_holes,
        "raw": summaries(table), "post": summaries(table, "_post"), "roc_auc": auc,
        "timings": {"train_seconds": training.get("train_seconds"), "epochs_run": training.get("epochs_run"),
                    "inference_ms_per_image": predict_ms, "robustness_seconds": grid.get("seconds")},
        "training": training,
    }
    files.write_json(out / runfolder.METRICS, metrics)
    return metrics
