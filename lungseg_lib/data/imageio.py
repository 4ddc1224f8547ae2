"""Read chest X-rays and lung masks from PNG/JPEG/TIFF/BMP (8 or 16 bit) or DICOM.

Every reader raises :class:`~lungseg_lib.errors.DataError` naming the file when it cannot
return a trustworthy array; nothing is guessed silently.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ..errors import DataError
from ..files import atomic_write_bytes

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".dcm")


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Return a 2-D grayscale array (uint8, uint16 or float32 for DICOM) read from ``path``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if path.suffix.lower() == ".dcm":
        return _read_dicom(path)
    data = np.fromfile(path, dtype=np.uint8)
    if data.size == 0:
        raise DataError(f"{path}: empty file")
    _check_complete(path, data)
    img = cv2.imdecode(data, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise DataError(f"{path}: unreadable or truncated image file")
    if img.dtype not in (np.uint8, np.uint16):
        raise DataError(f"{path}: unsupported pixel type {img.dtype} (need 8 or 16 bit)")
    return img


def _check_complete(path: Path, data: np.ndarray) -> None:
    """OpenCV decodes some truncated PNG/JPEG files without error: check their end markers."""
    suffix = path.suffix.lower()
    if suffix == ".png" and bytes(data[:8]) != b"\x89PNG\r\n\x1a\n":
        raise DataError(f"{path}: unreadable: not a PNG file (bad signature)")
    if suffix == ".png" and bytes(data[-12:-4]) != b"\x00\x00\x00\x00IEND":
        raise DataError(f"{path}: truncated PNG (no IEND chunk at the end of the file)")
    if suffix in (".jpg", ".jpeg") and bytes(data[-2:]) != b"\xff\xd9":
        raise DataError(f"{path}: truncated JPEG (no end-of-image marker)")


def _read_dicom(path: Path) -> np.ndarray:
    import pydicom

    try:
        ds = pydicom.dcmread(path)
        arr = ds.pixel_array.astype(np.float32)
    except Exception as exc:  # pydicom raises many exception types
        raise DataError(f"{path}: unreadable DICOM ({exc})") from exc
    if arr.ndim != 2:
        raise DataError(f"{path}: DICOM with shape {arr.shape}; need one 2-D frame")
    arr = arr * float(getattr(ds, "RescaleSlope", 1)) + float(getattr(ds, "RescaleIntercept", 0))
    if getattr(ds, "PhotometricInterpretation", "") == "MONOCHROME1":
        arr = arr.max() - arr  # bright = dense, as in every other format
    return arr


def to_unit_float(img: np.ndarray) -> np.ndarray:
    """Scale an image to float32 in [0, 1]: by 255 or 65535 for integers, min-max for floats."""
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255.0
    if img.dtype == np.uint16:
        return img.astype(np.float32) / 65535.0
    lo, hi = float(img.min()), float(img.max())
    return ((img - lo) / (hi - lo if hi > lo else 1.0)).astype(np.float32)


def binarize_mask(mask: np.ndarray, path: str | os.PathLike = "mask") -> tuple[np.ndarray, bool]:
    """Binarize a lung mask with the documented rule; return (bool mask, was_binary).

    Rule: masks whose values are only {0, 1} are read as ``> 0``; every other mask as
    ``> max/2`` (``> 127`` for 8-bit, ``> 32767`` for 16-bit), which turns antialiased
    edges into the nearer class. ``was_binary`` is False when grey values were present.
    """
    values = np.unique(mask)
    if values.size and values.max() <= 1:
        return mask > 0, True
    full = 255 if mask.dtype == np.uint8 else 65535 if mask.dtype == np.uint16 else float(values.max())
    was_binary = bool(np.isin(values, (0, full)).all())
    return mask > full / 2, was_binary


def resize_pair(image: np.ndarray, mask: np.ndarray, size: int | None) -> tuple[np.ndarray, np.ndarray]:
    """An image and its mask resized to ``size`` x ``size`` as training sees them: area
    interpolation for the image, nearest neighbour for the mask (which keeps its dtype: bool or
    0/255). ``size`` None: both unchanged."""
    if size is None:
        return image, mask
    image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    mask = cv2.resize(mask.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST).astype(mask.dtype)
    return image, mask


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """Read a lung mask as a 2-D bool array (lung = True), binarized by :func:`binarize_mask`."""
    mask, _ = binarize_mask(read_image(path), path)
    return mask


def write_png(path: str | os.PathLike, img: np.ndarray) -> None:
    """Write ``img`` as PNG atomically (temporary name in the same folder, then rename)."""
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    ok, buf = cv2.imencode(".png", img)
    if not ok:
        raise DataError(f"{path}: could not encode PNG")
    atomic_write_bytes(path, buf.tobytes())
