"""Small synthetic chest-X-ray-like data sets with exact lung masks, for tests and smoke runs.

Each image is a bright thorax with two darker lung-shaped regions (the mask), rib-like
texture, noise and, optionally, dark distractor blobs outside the lungs that a
segmentation network may pick up and that post-processing should remove.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..files import write_csv
from .imageio import write_png


def _lung(yy: np.ndarray, xx: np.ndarray, cx: float, cy: float, rx: float, ry: float, tilt: float) -> np.ndarray:
    """A lung-like shape: an ellipse with a flattened, slanted base (the diaphragm)."""
    inside = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0
    base = yy <= cy + 0.75 * ry + tilt * (xx - cx)
    return inside & base


def synthetic_pair(size: int = 64, rng: np.random.Generator | None = None,
                   distractors: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return one synthetic (image uint8, mask bool) pair of ``size`` x ``size`` pixels."""
    rng = rng or np.random.default_rng()
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    thorax = ((xx - 0.5) / 0.46) ** 2 + ((yy - 0.55) / 0.5) ** 2 <= 1.0
    img = np.where(thorax, 0.75, 0.1).astype(np.float32)
    dx, dy = rng.uniform(-0.03, 0.03, 2)
    ry = rng.uniform(0.24, 0.3)
    right = _lung(yy, xx, 0.32 + dx, 0.48 + dy, rng.uniform(0.12, 0.15), ry, 0.3)
    left = _lung(yy, xx, 0.68 + dx, 0.48 + dy, rng.uniform(0.11, 0.14), ry * 0.95, -0.3)
    mask = (right | left) & thorax
    img[mask] = rng.uniform(0.25, 0.4)
    ribs = 0.06 * np.sin(2 * np.pi * (yy * rng.uniform(7, 9) + 0.2 * np.abs(xx - 0.5)))
    img += np.where(thorax, ribs, 0)
    for _ in range(distractors):
        cx, cy = rng.choice([0.1, 0.9]), rng.uniform(0.2, 0.9)
        blob = ((xx - cx) ** 2 + (yy - cy) ** 2) <= rng.uniform(0.03, 0.05) ** 2
        img[blob & ~mask] = rng.uniform(0.25, 0.4)
    img = img * rng.uniform(0.85, 1.15) + rng.normal(0, 0.03, img.shape)
    return (np.clip(img, 0, 1) * 255).astype(np.uint8), mask


def make_synthetic_dataset(out: str | os.PathLike, n: int = 40, size: int = 64, seed: int = 0,
                           distractor_fraction: float = 0.3) -> Path:
    """Write ``n`` synthetic pairs in the standard layout (images/, masks/, manifest.csv).

    Half the images come from source ``synth_a`` and half from ``synth_b`` (slightly
    darker), and labels alternate 0/1, so stratified splits have something to stratify.
    """
    out = Path(out)
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        source = "synth_a" if i % 2 == 0 else "synth_b"
        img, mask = synthetic_pair(size, rng, distractors=int(rng.random() < distractor_fraction) * 2)
        if source == "synth_b":
            img = (img * 0.85).astype(np.uint8)
        name = f"SYN_{i:04d}_{(i // 2) % 2}.png"
        write_png(out / "images" / name, img)
        write_png(out / "masks" / name, mask)
        rows.append({"file": name, "source": source, "tb_label": (i // 2) % 2,
                     "mask_fg_fraction": round(float(mask.mean()), 4)})
    write_csv(out / "manifest.csv", pd.DataFrame(rows))
    return out
