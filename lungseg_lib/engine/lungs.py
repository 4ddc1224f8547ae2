"""Right and left lung from a binary lung mask: labels, areas, and plain-language warnings.

Label image: 0 background, 1 right lung, 2 left lung, in the radiological convention of a PA
chest X-ray: the patient faces the viewer, so the patient's RIGHT lung is on the image's LEFT
side. Each connected component of the mask (OpenCV, 8-connectivity) takes the label of the side
of the midline its centre lies on; the midline runs halfway between the centres of the two
largest components (the image's middle column when there are fewer). A component that lies
well across the midline (two lungs that touch in the mask) is cut at its narrowest column near
the midline.

The warnings compare each lung's area, as a fraction of the image, and the right/left ratio
with the middle 98% (1st to 99th percentile) of the training masks (:data:`TRAINING_RANGES_FILE`, made by
:func:`training_ranges` on the training split; see that file for how).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

BACKGROUND, RIGHT, LEFT = 0, 1, 2
LABEL_NAMES = {RIGHT: "right lung", LEFT: "left lung"}
CONVENTION = ("label image: 0 background, 1 right lung, 2 left lung, in the radiological "
              "convention (the patient's right lung appears on the image's left side)")
TRAINING_RANGES_FILE = Path(__file__).with_name("lung_ranges.json")  # the visible lung fields
#: the training masks' ranges per lung convention (data.conventions): each from its own data set
RANGES_FILES = {"visible": TRAINING_RANGES_FILE, "whole": Path(__file__).with_name("lung_ranges_whole.json")}
STRADDLE = 0.2  # a component with more than this share of its pixels on each side is cut
MIN_PART = 0.1  # components below this share of the largest do not set the midline


@dataclass
class LungAreas:
    """Per-lung areas of a label image: pixels always; cm² when the pixel spacing is known."""

    right_px: int
    left_px: int
    image_px: int
    right_cm2: float | None = None
    left_cm2: float | None = None
    right_left_ratio: float | None = None  # right / left pixel area; None without a left lung
    parts: int = 0  # connected components in the mask

    @property
    def right_fraction(self) -> float:
        """The right lung's share of the image area."""
        return self.right_px / self.image_px

    @property
    def left_fraction(self) -> float:
        """The left lung's share of the image area."""
        return self.left_px / self.image_px


def label_lungs(mask: np.ndarray) -> np.ndarray:
    """The label image (uint8: 0, 1 right, 2 left; see the module docstring) of a binary mask."""
    mask = np.asarray(mask, bool)
    if mask.ndim != 2:
        raise ValueError(f"expected a 2-D mask, got shape {mask.shape}")
    n, comp, stats, centroids = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return np.zeros(mask.shape, np.uint8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    order = np.argsort(-areas, kind="stable") + 1
    big = [i for i in order[:2] if stats[i, cv2.CC_STAT_AREA] >= MIN_PART * areas.max()]
    midline = (float(np.mean([centroids[i][0] for i in big])) if len(big) == 2
               else (mask.shape[1] - 1) / 2)
    split_col = int(np.ceil(midline))  # columns < split_col lie left of the midline
    left_counts = np.bincount(comp[:, :split_col].ravel(), minlength=n)
    lut = np.where(centroids[:, 0] < midline, RIGHT, LEFT).astype(np.uint8)
    lut[0] = BACKGROUND
    labels = lut[comp]
    for i in range(1, n):
        share = left_counts[i] / stats[i, cv2.CC_STAT_AREA]
        if STRADDLE < share < 1 - STRADDLE and stats[i, cv2.CC_STAT_AREA] >= MIN_PART * areas.max():
            # two lungs joined in the mask: cut at the narrowest column near the middle
            x0, w = stats[i, cv2.CC_STAT_LEFT], stats[i, cv2.CC_STAT_WIDTH]
            part = comp == i
            per_col = part.sum(axis=0)
            window = np.arange(x0 + int(0.3 * w), x0 + int(0.7 * w) + 1)
            cut = int(window[np.argmin(per_col[window])])
            cols = np.arange(mask.shape[1])[None, :]
            labels[part & (cols < cut)] = RIGHT
            labels[part & (cols >= cut)] = LEFT
    return labels


def lung_areas(labels: np.ndarray, pixel_spacing: tuple[float, float] | None = None) -> LungAreas:
    """Areas of the right and left lung of a label image; cm² from ``pixel_spacing`` (mm, row
    and column) of this image's own pixels (scale it when the image was resized)."""
    labels = np.asarray(labels)
    right, left = int((labels == RIGHT).sum()), int((labels == LEFT).sum())
    parts = cv2.connectedComponents((labels > 0).astype(np.uint8), connectivity=8)[0] - 1
    out = LungAreas(right, left, int(labels.size), parts=int(parts),
                    right_left_ratio=right / left if left else None)
    if pixel_spacing is not None:
        mm2 = float(pixel_spacing[0]) * float(pixel_spacing[1])
        out.right_cm2, out.left_cm2 = right * mm2 / 100.0, left * mm2 / 100.0
    return out


# --------------------------------------------------------------------------- training range


def load_training_ranges(path: str | os.PathLike = TRAINING_RANGES_FILE) -> dict:
    """The committed per-lung area ranges of the training masks (see :func:`training_ranges`)."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def training_ranges(masks, names: list[str] | None = None) -> dict:
    """Per-lung area fractions and right/left ratio over training masks, with how they were made.

    ``masks``: binary lung masks (both lungs in one mask), labelled with :func:`label_lungs`.
    Returns ``{"right_fraction": {min, max, p1, p50, p99}, "left_fraction": ..., "ratio": ...,
    "n_masks", "n_two_lungs", "method"}``; masks without two lungs are counted, not used.
    """
    right, left, ratio, n, names = [], [], [], 0, list(names or [])
    for mask in masks:
        n += 1
        a = lung_areas(label_lungs(mask))
        if a.right_px and a.left_px:
            right.append(a.right_fraction)
            left.append(a.left_fraction)
            ratio.append(a.right_left_ratio)

    def summary(values):
        v = np.asarray(values, float)
        return {"min": float(v.min()), "max": float(v.max()), "p1": float(np.percentile(v, 1)),
                "p50": float(np.median(v)), "p99": float(np.percentile(v, 99))}

    if not right:
        raise ValueError("no training mask with two lungs: cannot make the ranges")
    return {"right_fraction": summary(right), "left_fraction": summary(left), "ratio": summary(ratio),
            "n_masks": n, "n_two_lungs": len(right),
            "method": ("each training mask binarized (> 127), labelled with lungseg_lib.engine.lungs.label_lungs; "
                       "per lung: its pixels / the image's pixels (unchanged by resizing); ratio: "
                       "right / left pixels; masks without two lungs are left out. A result gets a "
                       "warning outside [p1, p99], the middle 98% of the training lungs.")}


def compute_training_ranges(data_dir: str | os.PathLike, split_file: str | os.PathLike,
                            split: str = "train") -> dict:
    """:func:`training_ranges` over the ``split`` masks of a split CSV in ``data_dir``, with the
    data folder's name, the split file's name and the data fingerprint recorded."""
    from ..data.folders import fingerprint, load_split
    from ..data.imageio import read_mask

    pairs = load_split(split_file, data_dir)[split]
    ranges = training_ranges(read_mask(p.mask) for p in pairs)
    ranges.update(data=Path(data_dir).name, split_file=Path(split_file).name, split=split,
                  data_fingerprint=fingerprint(pairs))
    return ranges


# --------------------------------------------------------------------------- warnings


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def lung_warnings(areas: LungAreas, ranges: dict | None = None, post: bool = True) -> list[str]:
    """Plain-language warnings about a result: missing lungs, extra parts, and areas or a
    right/left ratio outside the training masks' range (``ranges``: default the committed one)."""
    ranges = load_training_ranges() if ranges is None else ranges
    out = []
    if not areas.right_px and not areas.left_px:
        return ["no lung found: the image may not be a frontal chest X-ray, or it differs too much "
                "from the training images"]
    if not areas.right_px or not areas.left_px:
        missing = "right" if not areas.right_px else "left"
        out.append(f"fewer than two lungs found (no {missing} lung): check the result")
    if not post and areas.parts > 2:
        out.append(f"{areas.parts} separate parts in the mask (post-processing was off)")
    for side, value in (("right", areas.right_fraction), ("left", areas.left_fraction)):
        r = ranges[f"{side}_fraction"]
        if value and not r["p1"] <= value <= r["p99"]:
            word = "smaller" if value < r["p1"] else "larger"
            out.append(f"the {side} lung covers {_pct(value)} of the image, {word} than in 99% of the "
                       f"training images (their {side} lungs: {_pct(r['p1'])} to {_pct(r['p99'])}): "
                       "check the result")
    r = ranges["ratio"]
    ratio = areas.right_left_ratio
    if ratio and areas.right_px and not r["p1"] <= ratio <= r["p99"]:
        out.append(f"right/left area ratio {ratio:.2f}, outside 98% of the training images' "
                   f"({r['p1']:.2f} to {r['p99']:.2f})")
    return out


@dataclass
class LungReport:
    """Labels, areas and warnings of one mask (what :func:`describe` returns)."""

    labels: np.ndarray
    areas: LungAreas
    warnings: list[str] = field(default_factory=list)


def ranges_for(lung: str | None) -> dict:
    """The training masks' ranges of the convention ``lung`` (the visible fields' when None or
    when its own file is missing)."""
    path = RANGES_FILES.get(lung or "visible", TRAINING_RANGES_FILE)
    return load_training_ranges(path if path.exists() else TRAINING_RANGES_FILE)


def describe(mask: np.ndarray, pixel_spacing=None, post: bool = True, ranges: dict | None = None,
             lung: str | None = None) -> LungReport:
    """Label a binary mask and compute its areas and warnings in one call (against the ranges
    of the convention ``lung`` unless ``ranges`` are given)."""
    labels = label_lungs(mask)
    areas = lung_areas(labels, pixel_spacing)
    return LungReport(labels, areas, lung_warnings(areas, ranges if ranges is not None else ranges_for(lung), post))


def main(argv: list[str] | None = None) -> int:
    """``python -m lungseg_lib.engine.lungs DATA_DIR SPLIT_CSV [whole|visible]``: rewrite the
    convention's file of :data:`RANGES_FILES` (default: the visible fields')."""
    import sys

    from ..files import write_json

    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (2, 3) or (len(args) == 3 and args[2] not in RANGES_FILES):
        print("usage: python -m lungseg_lib.engine.lungs DATA_DIR SPLIT_CSV [whole|visible]", file=sys.stderr)
        return 2
    ranges = compute_training_ranges(*args[:2])
    ranges["command"] = "python -m lungseg_lib.engine.lungs DATA_DIR data/splits/" + Path(args[1]).name + (
        f" {args[2]}" if len(args) == 3 else "")
    print(write_json(RANGES_FILES[args[2] if len(args) == 3 else "visible"], ranges))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
