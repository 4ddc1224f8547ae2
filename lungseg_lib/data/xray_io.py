"""Read users' chest X-rays: files, folders and glob patterns; PNG, JPEG, TIFF, BMP (8 or 16
bit) and X-ray DICOM, with the pixel spacing when the file knows it.

Every X-ray comes back as a 2-D float32 image in [0, 1] where bright means dense (as in the
training PNGs):

* 8-bit files are divided by 255, exactly as the training images were;
* 16-bit and floating-point files are scaled from their own minimum to their maximum (a 12-bit
  detector image stored in 16 bits would otherwise look almost black to the model);
* DICOM: the modality LUT (rescale slope and intercept) is applied, then the VOI LUT or the
  window (``pydicom.pixels.apply_modality_lut`` and ``apply_voi_lut``: what a DICOM viewer
  shows), scaled to [0, 1] over the window's output range; MONOCHROME1 images (bright = air)
  are inverted. Without a VOI LUT or window, the data's own minimum and maximum are used.

A file that is not a chest X-ray this code can read (a CT DICOM, a multi-frame volume, a text
file, a truncated PNG) raises one :class:`~lungseg_lib.errors.DataError` naming the file.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError

#: suffixes read as X-ray image files (DICOM files may also have no suffix at all).
XRAY_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".dcm", ".dicom")
_GLOB_CHARS = set("*?[")
#: DICOM modalities that are certainly not a projection X-ray (refused by name; CT has its own
#: message). Others (CR, DX, RG, and OT/SC exports of X-rays) are read.
NOT_XRAY = {"MR": "magnetic resonance", "US": "ultrasound", "NM": "nuclear medicine", "PT": "PET",
            "OCT": "optical coherence tomography", "OP": "ophthalmic photography", "ES": "endoscopy",
            "SM": "slide microscopy", "ECG": "electrocardiogram", "SR": "a structured report"}


@dataclass
class XRay:
    """One chest X-ray as read: ``image`` (float32 in [0, 1], bright = dense), the pixel
    spacing in mm (row, column) when known and where it came from, and the source file."""

    image: np.ndarray
    pixel_spacing: tuple[float, float] | None = None
    spacing_source: str = ""
    path: Path | None = None


# --------------------------------------------------------------------------- finding files


def is_dicom_file(path: str | os.PathLike) -> bool:
    """True when the file has the DICOM preamble (``DICM`` at byte 128) or a DICOM suffix."""
    path = Path(path)
    if path.suffix.lower() in (".dcm", ".dicom"):
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:] == b"DICM"


def dicom_modality(path: str | os.PathLike) -> str:
    """The Modality (0008,0060) of a DICOM file, read without its pixel data ('' if unknown)."""
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["Modality"])
    except Exception:  # pydicom raises many types on non-DICOM input
        return ""
    return str(ds.get("Modality", "") or "")


def is_ct_series_folder(path: str | os.PathLike) -> bool:
    """True for a folder of DICOM files whose first file has Modality CT (a CT series, read as
    a volume by ``lungseg predict``); a folder of X-ray files is not one."""
    path = Path(path)
    if not path.is_dir():
        return False
    files = sorted(p for p in path.iterdir() if p.is_file())
    if any(p.suffix.lower() in XRAY_SUFFIXES and p.suffix.lower() not in (".dcm", ".dicom") for p in files):
        return False
    first = next((p for p in files if is_dicom_file(p)), None)
    return first is not None and dicom_modality(first) == "CT"


def _folder_images(folder: Path) -> list[Path]:
    """The X-ray files directly in ``folder``: known suffixes, or DICOM files without one."""
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                  and (p.suffix.lower() in XRAY_SUFFIXES or (not p.suffix and is_dicom_file(p))))


def expand_inputs(items: list[str | os.PathLike]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Expand files, folders and glob patterns into a list of files, in the order given.

    A folder gives its X-ray files (not its subfolders), sorted by name; a pattern with ``*``,
    ``?`` or ``[`` (``**`` for subfolders) gives its matches, sorted. Returns ``(files,
    problems)``: a problem is ``(item, reason)`` for a missing file, an empty folder or a
    pattern without matches. A file named twice is kept once.
    """
    files: list[Path] = []
    problems: list[tuple[str, str]] = []
    for item in items:
        text = str(item)
        path = Path(text).expanduser()
        if path.is_dir():
            found = _folder_images(path)
            if not found:
                problems.append((text, "folder holds no X-ray files (PNG, JPEG, TIFF, BMP or DICOM)"))
        elif path.exists():
            found = [path]
        elif _GLOB_CHARS & set(text):
            found = sorted(Path(p) for p in glob.glob(os.path.expanduser(text), recursive=True)
                           if Path(p).is_file())
            if not found:
                problems.append((text, "no file matches this pattern"))
        else:
            found = []
            problems.append((text, "file not found"))
        for p in found:
            if p not in files:
                files.append(p)
    return files, problems


# --------------------------------------------------------------------------- reading


def read_xray(path: str | os.PathLike) -> XRay:
    """Read one chest X-ray file (see the module's docstring for the intensity rules)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if is_dicom_file(path):
        return _read_dicom_xray(path)
    if path.suffix.lower() not in XRAY_SUFFIXES:
        raise DataError(f"{path}: not an image file this command reads (expected PNG, JPEG, TIFF, BMP "
                        "or DICOM)")
    from .imageio import read_image

    img = read_image(path)  # DataError naming the file when unreadable or truncated
    return XRay(unit_image(img), None, "", path)


def unit_image(img: np.ndarray) -> np.ndarray:
    """An image array as float32 in [0, 1]: 8-bit divided by 255 (as in training), 16-bit,
    other integers and floats scaled from their minimum to their maximum."""
    img = np.asarray(img)
    if img.ndim == 3 and img.shape[2] in (3, 4):
        import cv2

        img = cv2.cvtColor(img[..., :3], cv2.COLOR_RGB2GRAY)
    if img.ndim != 2:
        raise ValueError(f"expected a 2-D grey image, got shape {img.shape}")
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255.0
    if img.dtype == bool:
        return img.astype(np.float32)
    img = img.astype(np.float32)
    if not np.isfinite(img).all():
        raise ValueError("the image holds NaN or infinite values")
    lo, hi = float(img.min()), float(img.max())
    return ((img - lo) / (hi - lo if hi > lo else 1.0)).astype(np.float32)


def _spacing(ds) -> tuple[tuple[float, float] | None, str]:
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value = ds.get(keyword)
        try:
            row, col = (float(v) for v in value)
        except (TypeError, ValueError):
            continue
        if row > 0 and col > 0:
            return (row, col), keyword
    return None, ""


def _voi_range(ds) -> tuple[float, float] | None:
    """The output range of the VOI LUT or window that ``apply_voi_lut`` applies (None if none):
    a VOI LUT's own bit depth, else the window's output range as pydicom computes it."""
    if ds.get("VOILUTSequence"):
        bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
        return 0.0, float(2 ** bits - 1)
    if "WindowWidth" not in ds and "WindowCenter" not in ds:
        return None
    bits = int(ds.BitsStored)
    if ds.get("ModalityLUTSequence"):
        lo, hi = 0.0, float(2 ** int(ds.ModalityLUTSequence[0].LUTDescriptor[2]) - 1)
    elif int(ds.PixelRepresentation) == 0:
        lo, hi = 0.0, float(2 ** bits - 1)
    else:
        lo, hi = float(-(2 ** (bits - 1))), float(2 ** (bits - 1) - 1)
    if ds.get("RescaleSlope") is not None and ds.get("RescaleIntercept") is not None:
        slope, intercept = float(ds.RescaleSlope), float(ds.RescaleIntercept)
        lo, hi = sorted((lo * slope + intercept, hi * slope + intercept))
    return lo, hi


def _read_dicom_xray(path: Path) -> XRay:
    import pydicom
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    try:
        ds = pydicom.dcmread(path)
    except Exception as exc:  # InvalidDicomError and friends
        raise DataError(f"{path}: not a readable DICOM file ({exc})") from exc
    modality = str(ds.get("Modality", "") or "")
    if modality == "CT":
        raise DataError(f"{path}: a CT DICOM (Modality CT), not a chest X-ray; this model reads chest "
                        "radiographs (CR, DX). For a CT scan pass its series folder or a NIfTI volume "
                        "with --run of a run trained on CT slices")
    if modality in NOT_XRAY:
        raise DataError(f"{path}: a DICOM of Modality {modality} ({NOT_XRAY[modality]}), not a chest X-ray; "
                        "this model reads chest radiographs (CR, DX)")
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        raise DataError(f"{path}: a multi-frame DICOM ({frames} frames, a volume or a cine), not one "
                        "chest X-ray")
    if "PixelData" not in ds:
        raise DataError(f"{path}: a DICOM without an image (no Pixel Data; Modality "
                        f"{modality or 'unknown'})")
    try:
        arr = ds.pixel_array
    except Exception as exc:  # missing decoder, corrupt data
        raise DataError(f"{path}: cannot decode the DICOM pixel data ({exc})") from exc
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    if arr.ndim == 3 and photometric in ("RGB", "YBR_FULL", "YBR_FULL_422"):
        return XRay(unit_image(arr if photometric == "RGB" else arr[..., 0]), *_spacing(ds), path)
    if arr.ndim != 2:
        raise DataError(f"{path}: DICOM pixel data of shape {arr.shape}; need one 2-D grey image")
    try:
        arr = apply_modality_lut(arr, ds)
        out_range = _voi_range(ds)
        arr = apply_voi_lut(arr, ds) if out_range is not None else arr
    except Exception as exc:
        raise DataError(f"{path}: cannot apply the DICOM rescale or VOI LUT/window ({exc})") from exc
    arr = np.asarray(arr, np.float64)
    if out_range is None:
        out_range = float(arr.min()), float(arr.max())
    lo, hi = out_range
    img = np.clip((arr - lo) / (hi - lo if hi > lo else 1.0), 0.0, 1.0).astype(np.float32)
    if photometric == "MONOCHROME1":
        img = 1.0 - img  # bright = dense, as in every other format
    return XRay(img, *_spacing(ds), path)


def spacing_pair(value) -> tuple[float, float] | None:
    """(row, column) in mm from one number or a sequence of two; None unless they are positive
    and finite."""
    values = [value] if np.isscalar(value) else list(value)
    try:
        values = [float(v) for v in values]
    except (TypeError, ValueError):
        return None
    if len(values) not in (1, 2) or not all(np.isfinite(v) and v > 0 for v in values):
        return None
    return values[0], values[-1]


def parse_pixel_spacing(text: str) -> tuple[float, float]:
    """``"0.14"`` or ``"0.14,0.15"`` (mm, row then column) -> (row, column); ValueError naming
    the option otherwise."""
    pair = spacing_pair(str(text).replace(",", " ").split())
    if pair is None:
        raise ValueError(f"--pixel-spacing: cannot read {text!r} (expected one positive number in mm, "
                         "or two: row,column)")
    return pair
