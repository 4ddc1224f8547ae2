"""Intensity normalisation of the model's input (config key ``normalize``): none, or CLAHE.

CLAHE (contrast-limited adaptive histogram equalisation, OpenCV) equalises the histogram tile
by tile, so an image made lighter, darker or flatter in contrast by another scanner or export
comes to the model closer to what it was trained on. It is a remedy tried for the default
model (book: "Use it on your own images"); the parameters are OpenCV's usual ones, our choice.
A model trained with it gets it everywhere its input is prepared: after augmentation in
training, on the validation images, and before every prediction (evaluation, robustness grid,
``lungseg predict``, :func:`lungseg_lib.segment`).
"""

from __future__ import annotations

import cv2
import numpy as np

NORMALIZATIONS = (None, "clahe")
CLAHE_CLIP_LIMIT = 2.0  # OpenCV's default clip limit
CLAHE_TILES = 8  # tiles across the image (8 x 8)


def clahe(image: np.ndarray) -> np.ndarray:
    """CLAHE of one float image in [0, 1] (quantised to 8 bits, as the data are), same shape."""
    image = np.asarray(image, np.float32)
    u8 = np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
    op = cv2.createCLAHE(clipLimit=CLAHE_CLIP_LIMIT, tileGridSize=(CLAHE_TILES, CLAHE_TILES))
    return (op.apply(u8.reshape(u8.shape[:2])).astype(np.float32) / 255.0).reshape(image.shape)


def normalize(images: np.ndarray, how: str | None) -> np.ndarray:
    """``images`` (one image ``(H, W[, 1])`` or a batch ``(N, H, W[, 1])``, floats in [0, 1])
    normalised by ``how`` (one of :data:`NORMALIZATIONS`); None returns them unchanged."""
    if how is None:
        return images
    if how != "clahe":
        raise ValueError(f"normalize {how!r}; valid: {', '.join(str(n).lower() for n in NORMALIZATIONS)}")
    images = np.asarray(images, np.float32)
    if images.ndim == 2 or (images.ndim == 3 and images.shape[-1] == 1):
        return clahe(images)
    return np.stack([clahe(x) for x in images])
