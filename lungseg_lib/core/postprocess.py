"""The paper's post-processing layer: keep the largest connected components (the two lungs)."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy import ndimage


@dataclass
class PostResult:
    """A cleaned mask and the bounding boxes (x, y, w, h) and areas of the removed components."""

    mask: np.ndarray
    removed_boxes: list[tuple[int, int, int, int]] = field(default_factory=list)
    removed_areas: list[int] = field(default_factory=list)


CONNECTIVITY = 8  # OpenCV's default; the paper names the function but not the connectivity
THRESHOLD = 0.5  # a pixel is lung when the model's P(lung) is above this (our choice: the usual one)


def keep_largest_components(mask: np.ndarray, k: int = 2, fill_holes: bool = False) -> PostResult:
    """Keep the ``k`` largest :data:`CONNECTIVITY`-connected components of a binary mask.

    Components are labelled with ``cv2.connectedComponentsWithStats``; ties in area are
    broken by label order (top-to-bottom, left-to-right scan), so the result is
    deterministic. An empty mask stays empty; a mask with ``<= k`` components is unchanged
    (apart from optional hole filling).
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    mask = np.asarray(mask, bool)
    if mask.ndim != 2:
        raise ValueError(f"expected a 2-D mask, got shape {mask.shape}")
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=CONNECTIVITY)
    areas = stats[1:, cv2.CC_STAT_AREA]
    order = np.argsort(-areas, kind="stable")  # label 1.. sorted by area, ties by label
    keep, drop = order[:k] + 1, order[k:] + 1
    out = np.isin(labels, keep)
    if fill_holes:
        out = ndimage.binary_fill_holes(out)
    boxes = [tuple(int(v) for v in stats[i, :4]) for i in drop]
    return PostResult(out, boxes, [int(stats[i, cv2.CC_STAT_AREA]) for i in drop])

