"""The one reading rule: every image the project meets, for training, evaluation and prediction
alike, and every lung mask.

Images (PNG, JPEG, TIFF, BMP at 8 or 16 bits; X-ray DICOM) become 2-D float32 in [0, 1], bright
= dense (:func:`read_xray`, :func:`to_unit`):

* 8-bit images are divided by 255 (the training PNGs);
* other integer images are divided by the full scale of the bits they use, ``2**b - 1`` with
  ``b`` the bit length of their largest value (at least 8): a 12-bit detector image stored in a
  16-bit PNG is divided by 4095, a full-range 16-bit image by 65535. No image is stretched from
  its own minimum to its maximum, so its contrast reaches the model as the file holds it;
* DICOM: :mod:`lungseg_lib.data.dicom` (modality LUT, then the VOI LUT or window as a viewer
  shows it, over that LUT's range; without one, over the stored bits' range; MONOCHROME1
  inverted);
* floating-point arrays already in [0, 1] are kept; other floats are scaled from their minimum
  to their maximum (they carry no bit depth).

Masks are binarised from the values present, not from the array's type (:func:`binarize_mask`).
Every reader raises :class:`~lungseg_lib.errors.DataError` naming the file when it cannot
return a trustworthy array; nothing is guessed silently.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..errors import DataError
from ..files import atomic_write_bytes
from .dicom import dicom_unit_image, is_dicom_file, pixel_spacing, read_dicom

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".dcm", ".dicom")
#: a mask with more than this fraction of mid-grey pixels (between a quarter and three quarters of
#: its maximum) is refused: it is an image, a probability map or a label map this rule cannot
#: read, not a lung mask (antialiased edges and JPEG noise near 0 and the maximum are fewer)
GREY_MASK_LIMIT = 0.1
LABELS_MAX = 2  # the library's own label masks: 0 background, 1 right lung, 2 left lung


@dataclass
class XRay:
    """One chest X-ray as read: ``image`` (float32 in [0, 1], bright = dense), the pixel
    spacing in mm (row, column) when known and where it came from, and the source file."""

    image: np.ndarray
    pixel_spacing: tuple[float, float] | None = None
    spacing_source: str = ""
    path: Path | None = None


def read_pixels(path: str | os.PathLike) -> np.ndarray:
    """The stored values of an image file (uint8 or uint16, grey) or a DICOM (its pixel array)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if is_dicom_file(path):
        return read_dicom(path)[1]
    if path.suffix.lower() not in IMAGE_SUFFIXES:
        raise DataError(f"{path}: not an image file this library reads (expected PNG, JPEG, TIFF, BMP "
                        "or DICOM)")
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


def read_xray(path: str | os.PathLike) -> XRay:
    """Read one chest X-ray file by the module's rule, with the DICOM pixel spacing when known."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if is_dicom_file(path):
        ds, arr = read_dicom(path)
        photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
        if arr.ndim == 3 and photometric in ("RGB", "YBR_FULL", "YBR_FULL_422"):
            image = to_unit(arr if photometric == "RGB" else arr[..., 0])
        else:
            image = dicom_unit_image(ds, arr, path)
        return XRay(image, *pixel_spacing(ds), path)
    return XRay(to_unit(read_pixels(path)), None, "", path)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """An image file as float32 in [0, 1] by the module's rule (:func:`read_xray`'s image)."""
    return read_xray(path).image


def full_scale(img: np.ndarray) -> int:
    """The full scale an integer image is divided by: 255 for 8-bit, else ``2**b - 1`` for the
    bit length ``b`` of its largest value, at least 8 bits."""
    if img.dtype == np.uint8:
        return 255
    top = int(img.max()) if img.size else 0
    return 2 ** max(8, top.bit_length()) - 1


def to_unit(img) -> np.ndarray:
    """An image array as float32 in [0, 1] by the module's rule (colour arrays are made grey;
    ValueError for other shapes, negative integers and non-finite values)."""
    img = np.asarray(img)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim == 3 and img.shape[2] in (3, 4):
        img = cv2.cvtColor(np.ascontiguousarray(img[..., :3]), cv2.COLOR_RGB2GRAY)
    if img.ndim != 2:
        raise ValueError(f"expected a 2-D grey image, got shape {img.shape}")
    if img.dtype == bool:
        return img.astype(np.float32)
    if img.dtype.kind in "ui":
        if img.size and int(img.min()) < 0:
            raise ValueError("the image holds negative integers: pass it as floats (scaled from "
                             "its minimum to its maximum) or shift it to start at 0")
        return (img.astype(np.float64) / full_scale(img)).astype(np.float32)
    img = img.astype(np.float32)
    if not np.isfinite(img).all():
        raise ValueError("the image holds NaN or infinite values")
    lo, hi = (float(img.min()), float(img.max())) if img.size else (0.0, 1.0)
    if lo >= 0 and hi <= 1:
        return img
    return ((img - lo) / (hi - lo if hi > lo else 1.0)).astype(np.float32)


def binarize_mask(mask: np.ndarray, path: str | os.PathLike = "mask") -> tuple[np.ndarray, bool]:
    """Lung = True by the values the mask holds; return (bool mask, was_binary).

    * labels up to :data:`LABELS_MAX` (0/1 masks, the library's 0/1/2 right/left labels): ``> 0``;
    * two values, 0 and any other (0/255, 0/4095, 0/65535 in 8 or 16 bits): the other value;
    * grey values (antialiased edges, resized or JPEG masks): ``> max / 2``, when at most
      :data:`GREY_MASK_LIMIT` of the pixels are mid-grey; ``was_binary`` False.

    Anything else is ambiguous (an image, a probability map, a label map with more classes):
    a DataError naming the file.
    """
    values = np.unique(mask)
    if not values.size or (values.max() <= LABELS_MAX and np.array_equal(values, np.round(values))):
        return mask > 0, True
    top = float(values.max())
    if values.size == 2 and values.min() == 0:
        return mask == top, True
    grey = float(np.mean((mask > top / 4) & (mask < 3 * top / 4)))
    if grey > GREY_MASK_LIMIT:
        raise DataError(f"{path}: not a lung mask this library can read: {values.size} values, "
                        f"{100 * grey:.0f}% of the pixels mid-grey (between a quarter and three quarters "
                        f"of the maximum {top:g}); expected 0/1, 0/1/2 labels, or 0 and one other value "
                        f"(e.g. 0/255), with at most {100 * GREY_MASK_LIMIT:.0f}% mid-grey edge pixels")
    return mask > top / 2, False


def read_mask(path: str | os.PathLike) -> np.ndarray:
    """Read a lung mask as a 2-D bool array (lung = True), binarized by :func:`binarize_mask`."""
    mask, _ = binarize_mask(read_pixels(path), path)
    return mask


SQUARE_RULES = ("stretch", "pad")
SQUARE_RULE = "stretch"  # the default rule (every run before the pneumonia set was square or stretched)


def to_square(image: np.ndarray, size: int, how: str = SQUARE_RULE, nearest: bool = False) -> np.ndarray:
    """An image brought to the model's ``size`` x ``size`` input, for training, evaluation and
    prediction alike (area interpolation; ``nearest`` for masks). ``stretch``: both sides to
    ``size``, the aspect ratio not kept; ``pad``: the longer side to ``size``, the shorter one
    centred between zeros. A model records its rule (config ``square``)."""
    if how not in SQUARE_RULES:
        raise ValueError(f"unknown square rule {how!r}; valid: {', '.join(SQUARE_RULES)}")
    if image.shape[:2] == (size, size):
        return image
    interpolation = cv2.INTER_NEAREST if nearest else cv2.INTER_AREA
    if how == "stretch":
        return cv2.resize(image, (size, size), interpolation=interpolation)
    (h, w), (top, left) = _padded(image.shape[:2], size)
    out = np.zeros((size, size), image.dtype)
    out[top:top + h, left:left + w] = cv2.resize(image, (w, h), interpolation=interpolation)
    return out


def _padded(shape: tuple[int, int], size: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """(height, width) of an image of ``shape`` inside a padded ``size`` square, and its offset."""
    scale = size / max(shape)
    h, w = max(1, round(shape[0] * scale)), max(1, round(shape[1] * scale))
    return (h, w), ((size - h) // 2, (size - w) // 2)


def from_square(probability: np.ndarray, shape: tuple[int, ...], how: str = SQUARE_RULE) -> np.ndarray:
    """A ``size`` x ``size`` map (P(lung)) taken back to an image of ``shape`` (linear), the
    inverse of :func:`to_square` with the same rule."""
    h, w = shape[:2]
    if probability.shape[:2] == (h, w):
        return probability
    probability = np.asarray(probability, np.float32)
    if how == "pad":
        (ph, pw), (top, left) = _padded((h, w), probability.shape[0])
        probability = probability[top:top + ph, left:left + pw]
    return cv2.resize(probability, (w, h), interpolation=cv2.INTER_LINEAR)


def resize_pair(image: np.ndarray, mask: np.ndarray, size: int | None,
                how: str = SQUARE_RULE) -> tuple[np.ndarray, np.ndarray]:
    """An image and its mask brought to ``size`` x ``size`` as training sees them: both by
    :func:`to_square` with the rule ``how``, the mask with nearest neighbours (it keeps its
    dtype: bool or 0/255). ``size`` None: both unchanged."""
    if size is None:
        return image, mask
    square_mask = to_square(mask.astype(np.uint8), size, how, nearest=True).astype(mask.dtype)
    return to_square(image, size, how), square_mask


def write_png(path: str | os.PathLike, img: np.ndarray) -> None:
    """Write ``img`` as PNG atomically (temporary name in the same folder, then rename)."""
    if img.dtype == bool:
        img = img.astype(np.uint8) * 255
    ok, buf = cv2.imencode(".png", img)
    if not ok:
        raise DataError(f"{path}: could not encode PNG")
    atomic_write_bytes(path, buf.tobytes())
