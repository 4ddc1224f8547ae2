"""Robustness by intervention: perturb the test images, predict again, score what is lost.

Each perturbation is a pure function of (image, family, severity, seed) applied to the
network's input in [0, 1]. The severity parameters are those MedMNIST-C defines for its
chest X-rays (ChestMNIST; Di Salvo, Doerrich, Ledig 2024, arXiv:2406.17536, repository
francescodisalvo05/medmnistc-api, ``medmnistc/corruptions/registry.py``). Departures, by
choice: the images stay grey (MedMNIST-C converts to RGB and back, which lowers its noise
by about a third), the intensity families act on floats without 8-bit rounding, and the
pixel-sized parameters (blur kernel, pixelation factor) apply at the network's input size,
not at MedMNIST-C's 224 px. Severity 0 is the clean image.

``robustness.csv`` holds one row per image, family and severity with Dice and IoU before
and after post-processing.
"""

from __future__ import annotations

import os
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from ..files import replacing
from ..core.metrics import dice, iou

SEVERITIES = (0, 1, 2, 3, 4, 5)

#: family -> its parameter at severities 1..5 (MedMNIST-C, ChestMNIST).
FAMILIES: dict[str, tuple[float, ...]] = {
    "brightness_up": (1.1, 1.2, 1.3, 1.4, 1.5),      # x * f: lighter
    "brightness_down": (0.9, 0.8, 0.7, 0.6, 0.5),    # x * f: darker
    "contrast_up": (1.1, 1.2, 1.3, 1.4, 1.6),        # (x - mean) * f + mean
    "contrast_down": (0.9, 0.8, 0.7, 0.6, 0.4),
    "gamma_up": (1.1, 1.2, 1.3, 1.4, 1.6),           # x ** g, g > 1: darker mid-tones
    "gamma_down": (0.9, 0.8, 0.7, 0.6, 0.4),         # g < 1: lighter mid-tones
    "gaussian_noise": (0.04, 0.08, 0.12, 0.18, 0.26),  # sigma on [0, 1]
    "gaussian_blur": (3, 5, 7, 9, 11),               # kernel size; sigma = 0.15 k + 0.35
    "jpeg": (50, 30, 15, 10, 7),                     # JPEG quality
    "pixelate": (0.30, 0.25, 0.20, 0.15, 0.10),      # down by f (area), back up (nearest)
}
#: which intensity families make an image darker or lighter (the paper's failure claim).
DIRECTION = {"brightness_down": "darker", "gamma_up": "darker",
             "brightness_up": "lighter", "gamma_down": "lighter"}
REFERENCE = ("MedMNIST-C (Di Salvo, Doerrich, Ledig 2024, arXiv:2406.17536), the severity "
             "parameters of its chest X-rays (ChestMNIST)")


def check_grid(families=None, severities=None) -> tuple[list[str], list[int]]:
    """Validated families and severities (default: all); unknown ones raise a ValueError listing the valid."""
    families = list(FAMILIES) if families is None else list(families)
    severities = list(SEVERITIES) if severities is None else [int(s) for s in severities]
    bad = [f for f in families if f not in FAMILIES]
    if bad:
        raise ValueError(f"unknown perturbation famil{'y' if len(bad) == 1 else 'ies'} {', '.join(bad)}; "
                         f"valid: {', '.join(FAMILIES)}")
    bad = [s for s in severities if s not in SEVERITIES]
    if bad:
        raise ValueError(f"unknown severit{'y' if len(bad) == 1 else 'ies'} {bad}; valid: "
                         f"{', '.join(map(str, SEVERITIES))}")
    return families, severities


def perturb(image: np.ndarray, family: str, severity: int, seed: int = 0) -> np.ndarray:
    """``image`` (H, W[, 1]) in [0, 1] perturbed by ``family`` at ``severity`` (0: unchanged)."""
    check_grid([family], [severity])
    if severity == 0:
        return image
    x = np.asarray(image, dtype=np.float32)
    shape = x.shape
    x = x.reshape(shape[:2])
    p = FAMILIES[family][severity - 1]
    if family.startswith("brightness"):
        out = x * p
    elif family.startswith("contrast"):
        out = (x - x.mean()) * p + x.mean()
    elif family.startswith("gamma"):
        out = np.power(np.clip(x, 0, 1), p)
    elif family == "gaussian_noise":
        rng = np.random.default_rng([seed, severity])
        out = x + rng.normal(0.0, p, x.shape).astype(np.float32)
    elif family == "gaussian_blur":
        k = int(p)
        out = cv2.GaussianBlur(x, (k, k), 0.15 * k + 0.35, borderType=cv2.BORDER_REFLECT)
    elif family == "jpeg":
        ok, data = cv2.imencode(".jpg", np.round(np.clip(x, 0, 1) * 255).astype(np.uint8),
                                [cv2.IMWRITE_JPEG_QUALITY, int(p)])
        out = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255
    else:  # pixelate
        h, w = x.shape
        small = cv2.resize(x, (max(1, int(w * p)), max(1, int(h * p))), interpolation=cv2.INTER_AREA)
        out = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    return np.clip(out, 0.0, 1.0).astype(np.float32).reshape(shape)


def image_seed(name: str, seed: int = 0) -> int:
    """A seed for one image's random perturbations: a function of its name, not its position."""
    return (zlib.crc32(name.encode()) + seed) % 2**32


def score_rows(names, predictions: list, truth: np.ndarray, family: str, severity: int) -> list[dict]:
    """One row per image: Dice and IoU of each :class:`~lungseg_lib.engine.inference.Prediction`'s
    raw mask and of its post-processed one."""
    rows = []
    for name, p, t in zip(names, predictions, truth):
        rows.append({"name": name, "family": family, "severity": severity,
                     "dice": dice(p.raw, t), "iou": iou(p.raw, t),
                     "dice_post": dice(p.mask, t), "iou_post": iou(p.mask, t)})
    return rows


def robustness_table(model, names: list[str], images: np.ndarray, truth: np.ndarray, families=None,
                     severities=None, seed: int = 0, clean: list | None = None,
                     batch_size: int = 8) -> pd.DataFrame:
    """Score ``model`` (a :class:`~lungseg_lib.engine.inference.TrainedModel`) on every perturbed image.

    One ``predict`` call per family and severity; severity 0 is predicted once (or taken
    from ``clean``, the evaluation's own predictions) and repeated for every family. A
    progress bar on a terminal (none in notebooks, logs and tests).
    """
    from tqdm import tqdm

    families, severities = check_grid(families, severities)
    seeds = [image_seed(n, seed) for n in names]
    rows = []
    if 0 in severities:
        clean = clean if clean is not None else model.predict(images, batch_size)
        clean_rows = score_rows(names, clean, truth, "", 0)
    grid = [(f, s) for f in families for s in severities]
    for family, severity in tqdm(grid, desc="perturbation grid", unit="setting", file=sys.stderr, disable=None):
        if severity == 0:
            rows += [{**r, "family": family} for r in clean_rows]
            continue
        batch = np.stack([perturb(im, family, severity, s) for im, s in zip(images, seeds)])
        rows += score_rows(names, model.predict(batch, batch_size), truth, family, severity)
    return pd.DataFrame(rows)


def save_example(model, name: str, image: np.ndarray, path: str | os.PathLike,
                 families=tuple(DIRECTION) + ("contrast_up", "contrast_down"), seed: int = 0) -> Path:
    """Predicted masks (after post-processing) of one image at every severity of ``families``,
    saved as ``NAME`` + one packed-bit array per ``family/severity`` (the book draws them
    without TensorFlow). The perturbed image itself is ``perturb(image, family, severity)``."""
    families, _ = check_grid(families)
    keys, batch = [], []
    for family in families:
        for severity in SEVERITIES:
            keys.append(f"{family}/{severity}")
            batch.append(perturb(image, family, severity, image_seed(name, seed)))
    masks = {k: np.packbits(p.mask) for k, p in zip(keys, model.predict(np.stack(batch)))}
    path = Path(path)
    with replacing(path) as tmp:
        np.savez_compressed(tmp, name=np.array(name), shape=np.array(image.shape[:2]), **masks)
    return path


def load_example(path: str | os.PathLike) -> tuple[str, dict[tuple[str, int], np.ndarray]]:
    """The image name and ``{(family, severity): mask}`` of a :func:`save_example` file."""
    with np.load(path) as z:
        shape = tuple(z["shape"])
        masks = {(k.split("/")[0], int(k.split("/")[1])): np.unpackbits(z[k])[: shape[0] * shape[1]]
                 .reshape(shape).astype(bool) for k in z.files if "/" in k}
        return str(z["name"]), masks


def parameter_table() -> pd.DataFrame:
    """The grid's families with their parameter at severities 1-5 and what it does."""
    how = {"brightness": "x * f", "contrast": "(x - mean) * f + mean", "gamma": "x ** g",
           "gaussian_noise": "x + N(0, sigma)", "gaussian_blur": "Gaussian kernel k, sigma = 0.15 k + 0.35",
           "jpeg": "JPEG at quality q", "pixelate": "down by f (area), up (nearest)"}
    rows = []
    for family, values in FAMILIES.items():
        rule = next(v for k, v in how.items() if family.startswith(k))
        rows.append({"Family": family.replace("_", " "), "Operation": rule,
                     **{str(i): f"{v:g}" for i, v in enumerate(values, start=1)},
                     "Direction": DIRECTION.get(family, "")})
    return pd.DataFrame(rows)
