"""Segment chest X-rays in one call: ``segment(image_or_path)`` -> :class:`Segmentation`.

>>> from lungseg_lib import segment, load_model          # doctest: +SKIP
>>> result = segment("chest.png")                          # the default model  # doctest: +SKIP
>>> result.labels, result.areas.right_cm2, result.warnings  # doctest: +SKIP
>>> other = segment(array, model=load_model("runs/cpu/unet/seed0"), pixel_spacing=0.14)  # doctest: +SKIP

:func:`predict_images` is ``lungseg predict`` for X-rays: many files in batches, a label mask
and an overlay per image, and one CSV of areas and warnings for the call.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .engine import lungs
from .errors import DataError
from .data.imageio import XRay, read_xray, to_unit
from .data.inputs import expand_inputs, spacing_pair

CSV_NAME = "lungs.csv"
PROGRESS_MIN = 4  # a progress bar from this many images on
_MODELS: dict = {}


@dataclass
class Segmentation:
    """The result for one image, at the image's own size.

    ``labels``: uint8, 0 background, 1 right lung, 2 left lung (radiological convention: the
    patient's right lung on the image's left); ``probability``: float32 P(lung) per pixel;
    ``areas``: per-lung pixels and, with a pixel spacing, cm²; ``warnings``: plain language;
    ``lung``: the convention drawn (``whole`` or ``visible``, :mod:`lungseg_lib.data.conventions`;
    None when the model's data did not say)."""

    labels: np.ndarray
    probability: np.ndarray
    areas: lungs.LungAreas
    warnings: list[str] = field(default_factory=list)
    pixel_spacing: tuple[float, float] | None = None
    spacing_source: str = ""
    source: str = "array"
    image: np.ndarray | None = field(default=None, repr=False)
    lung: str | None = None

    @property
    def mask(self) -> np.ndarray:
        """Both lungs as one bool mask."""
        return self.labels > 0

    def overlay(self) -> np.ndarray:
        """An 8-bit BGR picture of the image with the right lung in orange, the left in blue,
        and a legend naming the convention drawn."""
        from .data.conventions import DESCRIPTIONS
        from .engine.inference import overlay

        legend = f"{self.lung} lung: {DESCRIPTIONS[self.lung]}" if self.lung else None
        return overlay(self.image, self.labels, legend=legend)

    def row(self) -> dict:
        """One CSV row: sizes, spacing, areas, ratio and warnings."""
        a = self.areas
        h, w = self.labels.shape
        return {"lung": self.lung or "", "height": h, "width": w,
                "spacing_row_mm": self.pixel_spacing[0] if self.pixel_spacing else None,
                "spacing_col_mm": self.pixel_spacing[1] if self.pixel_spacing else None,
                "spacing_source": self.spacing_source,
                "right_lung_px": a.right_px, "left_lung_px": a.left_px,
                "right_lung_cm2": _round(a.right_cm2), "left_lung_cm2": _round(a.left_cm2),
                "right_left_ratio": _round(a.right_left_ratio, 4), "warning": "; ".join(self.warnings)}


def _round(x, digits=2):
    return None if x is None else round(float(x), digits)


def load_model(run_or_path: str | os.PathLike | None = None):
    """Load a model: None for the default model, a run folder, an exported or fetched model
    folder, a ``.keras`` file in such a folder, or the name of published weights (fetched once).
    Returns a :class:`lungseg_lib.engine.inference.TrainedModel`; each one is loaded once per process."""
    from .engine.inference import TrainedModel
    from .engine.weights import model_folder

    folder = model_folder(run_or_path).resolve()
    if folder not in _MODELS:
        _MODELS[folder] = TrainedModel(folder)
    return _MODELS[folder]


def _spacing_pair(pixel_spacing) -> tuple[float, float]:
    """(row, column) in mm from one number or a pair; ValueError unless positive and finite."""
    pair = spacing_pair(pixel_spacing)
    if pair is None:
        raise ValueError(f"pixel_spacing {pixel_spacing!r}: expected one positive number in mm, or two (row, column)")
    return pair


def _as_xray(image, pixel_spacing) -> XRay:
    """A path read by the one reading rule (:func:`~lungseg_lib.data.imageio.read_xray`), or an
    array scaled by it (:func:`~lungseg_lib.data.imageio.to_unit`), with ``pixel_spacing``."""
    if isinstance(image, XRay):
        x = image
    elif isinstance(image, (str, os.PathLike)):
        x = read_xray(image)
    else:
        x = XRay(to_unit(image))
    if pixel_spacing is not None:
        x = XRay(x.image, _spacing_pair(pixel_spacing), "given", x.path)
    return x


def segment_xrays(xrays: list[XRay], model, post: bool = True, batch_size: int = 8,
                  lung: str | None = None) -> list[Segmentation]:
    """Segment read X-rays in one model call (batches of ``batch_size``) through the model's one
    prediction path (:meth:`~lungseg_lib.engine.inference.TrainedModel.predict`, drawing the
    convention ``lung``), then label the right and left lung and measure them."""
    drawn = model.lungs[model.channel(lung)] if model.lungs else lung
    out = []
    for x, pred in zip(xrays, model.predict([x.image for x in xrays], batch_size, post, lung)):
        report = lungs.describe(pred.mask, x.pixel_spacing, post=post, lung=drawn)
        out.append(Segmentation(report.labels, pred.probability, report.areas, report.warnings, x.pixel_spacing,
                                x.spacing_source, str(x.path) if x.path else "array", x.image, drawn))
    return out


def segment(image, model=None, *, post: bool = True, pixel_spacing=None, lung: str | None = None) -> Segmentation:
    """Segment one chest X-ray: a file path (PNG, JPEG, TIFF, DICOM...) or an array.

    ``model``: a loaded model (:func:`load_model`), anything :func:`load_model` accepts, or
    None for the default model. ``pixel_spacing``: mm per pixel (one number, or row and
    column) of this image, to get areas in cm²; DICOM files bring their own. Files and arrays
    follow the one reading rule (:mod:`lungseg_lib.data.imageio`): 8-bit divided by 255, other
    integers by the full scale of the bits they use, floats in [0, 1] as they are. ``lung``:
    ``"whole"`` (the lung behind the heart and opaque lung included) or ``"visible"`` (the
    visible lung fields), for a model that draws both; None: the whole lung, or the one
    convention a model draws."""
    if model is None or isinstance(model, (str, os.PathLike)):
        model = load_model(model)
    return segment_xrays([_as_xray(image, pixel_spacing)], model, post=post, lung=lung)[0]


# --------------------------------------------------------------------------- many files


@dataclass
class PredictSummary:
    """What :func:`predict_images` did: the CSV, its rows, and the failures (file, reason)."""

    csv: Path
    table: pd.DataFrame
    failures: list[tuple[str, str]]

    @property
    def n_ok(self) -> int:
        """Images segmented."""
        return int((self.table["status"] == "ok").sum()) if len(self.table) else 0


def _progress(total: int, enabled: bool):
    """A tqdm bar on stderr (a plain counter when tqdm is missing); None when not enabled."""
    if not enabled:
        return None
    try:
        from tqdm import tqdm

        return tqdm(total=total, unit="image", file=sys.stderr, dynamic_ncols=True)
    except ImportError:
        class Plain:
            def __init__(self):
                self.n = 0

            def update(self, k):
                self.n += k
                print(f"{self.n}/{total} images", file=sys.stderr, flush=True)

            def close(self):
                pass

            @staticmethod
            def write(text):
                print(text, file=sys.stderr)

        return Plain()


def _unique_stem(path: Path, used: set) -> str:
    stem = path.stem or path.name
    name, k = stem, 2
    while name in used:
        name, k = f"{stem}-{k}", k + 1
    used.add(name)
    return name


def _read_input(path, pixel_spacing) -> XRay | dict:
    """One input read as an X-ray (``pixel_spacing`` replacing its own), or its failed row."""
    import cv2

    try:
        x = read_xray(path)
    except (DataError, ValueError, OSError, cv2.error) as exc:
        reason = str(exc)
        reason = reason[len(f"{path}: "):] if reason.startswith(f"{path}: ") else reason
        return {"file": str(path), "status": "failed", "error": reason}
    if pixel_spacing is not None:
        x = XRay(x.image, pixel_spacing, "--pixel-spacing", path)
    return x


CSV_COLUMNS = ["file", "status", "mask", "overlay", "lung", "height", "width", "spacing_row_mm", "spacing_col_mm",
               "spacing_source", "right_lung_px", "left_lung_px", "right_lung_cm2", "left_lung_cm2",
               "right_left_ratio", "warning", "error"]


def _write_result(x: XRay, result: Segmentation, out: Path, used: set) -> dict:
    """Write one image's label mask and overlay into ``out``; return its CSV row."""
    from .data.imageio import write_png

    stem = _unique_stem(x.path, used)
    write_png(out / f"{stem}_mask.png", result.labels)
    write_png(out / f"{stem}_overlay.png", result.overlay())
    return {"file": str(x.path), "status": "ok", "mask": f"{stem}_mask.png", "overlay": f"{stem}_overlay.png",
            **result.row(), "error": ""}


def predict_images(inputs: list, out: str | os.PathLike, model=None, *, post: bool = True,
                   batch_size: int = 8, pixel_spacing=None, progress: bool | None = None,
                   lung: str | None = None) -> PredictSummary:
    """Segment files, folders and glob patterns of chest X-rays into ``out``.

    Per image: ``NAME_mask.png`` (label image, see :data:`lungseg_lib.engine.lungs.CONVENTION`) and
    ``NAME_overlay.png``, both at the image's original size (``NAME-2_...`` when two inputs
    share a name). For the call: ``lungs.csv`` with one row per input, failed ones included.
    An unreadable file is recorded with its reason and the others are processed.
    ``pixel_spacing`` (mm) replaces every file's own; ``progress``: None = a bar from
    :data:`PROGRESS_MIN` images on; ``lung``: the convention drawn (:func:`segment`), named in
    the CSV's ``lung`` column and each overlay's legend."""
    from .files import write_csv

    if batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {batch_size}")
    if pixel_spacing is not None:
        pixel_spacing = _spacing_pair(pixel_spacing)
    if model is None or isinstance(model, (str, os.PathLike)):
        model = load_model(model)
    out = Path(out)
    files, problems = expand_inputs(inputs)
    rows = [{"file": item, "status": "failed", "error": why} for item, why in problems]
    failures = list(problems)
    bar = _progress(len(files), len(files) >= PROGRESS_MIN if progress is None else progress)
    say = bar.write if bar is not None else (lambda text: print(text, file=sys.stderr))
    for item, why in problems:
        say(f"lungseg: error: {item}: {why}")
    used: set = set()
    for start in range(0, len(files), batch_size):
        chunk = files[start:start + batch_size]
        read = [_read_input(path, pixel_spacing) for path in chunk]
        for x in read:
            if not isinstance(x, XRay):
                failures.append((x["file"], x["error"]))
                say(f"lungseg: error: {x['file']}: {x['error']}")
        xrays = [x for x in read if isinstance(x, XRay)]
        results = iter(segment_xrays(xrays, model, post=post, batch_size=batch_size, lung=lung))
        rows += [x if not isinstance(x, XRay) else _write_result(x, next(results), out, used)
                 for x in read]  # rows in the order of the inputs
        if bar is not None:
            bar.update(len(chunk))
    if bar is not None:
        bar.close()
    table = pd.DataFrame(rows, columns=CSV_COLUMNS)
    for col in ("height", "width", "right_lung_px", "left_lung_px"):
        table[col] = table[col].astype("Int64")
    out.mkdir(parents=True, exist_ok=True)
    csv = write_csv(out / CSV_NAME, table)
    return PredictSummary(csv, table, failures)
