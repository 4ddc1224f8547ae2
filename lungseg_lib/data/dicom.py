"""The one DICOM reader: a chest X-ray DICOM to float32 in [0, 1], bright = dense.

The modality LUT (rescale slope and intercept) is applied, then the VOI LUT or the window
(``pydicom.pixels.apply_modality_lut`` and ``apply_voi_lut``: what a DICOM viewer shows), and
the result is scaled over that LUT's output range; without a VOI LUT or window, over the range
the stored bits can hold (``BitsStored`` through the modality LUT), the same rule as for
integer image files (:func:`lungseg_lib.data.imageio.to_unit`). MONOCHROME1 images (bright =
air) are inverted. A DICOM that is not one chest X-ray (CT, MR, a multi-frame volume, no pixel
data) raises one :class:`~lungseg_lib.errors.DataError` naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import DataError

#: DICOM modalities that are certainly not a projection X-ray (refused by name; CT has its own
#: message). Others (CR, DX, RG, and OT/SC exports of X-rays) are read.
NOT_XRAY = {"MR": "magnetic resonance", "US": "ultrasound", "NM": "nuclear medicine", "PT": "PET",
            "OCT": "optical coherence tomography", "OP": "ophthalmic photography", "ES": "endoscopy",
            "SM": "slide microscopy", "ECG": "electrocardiogram", "SR": "a structured report"}


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


def pixel_spacing(ds) -> tuple[tuple[float, float] | None, str]:
    """(row, column) spacing in mm and the keyword it came from (PixelSpacing first), or (None, '')."""
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value = ds.get(keyword)
        try:
            row, col = (float(v) for v in value)
        except (TypeError, ValueError):
            continue
        if row > 0 and col > 0:
            return (row, col), keyword
    return None, ""


def stored_range(ds) -> tuple[float, float]:
    """The range the stored bits can hold, through the modality LUT (rescale or LUT sequence):
    also the output range pydicom's windowing maps to."""
    bits = int(ds.BitsStored)
    if ds.get("ModalityLUTSequence"):
        return 0.0, float(2 ** int(ds.ModalityLUTSequence[0].LUTDescriptor[2]) - 1)
    if int(ds.PixelRepresentation) == 0:
        lo, hi = 0.0, float(2 ** bits - 1)
    else:
        lo, hi = float(-(2 ** (bits - 1))), float(2 ** (bits - 1) - 1)
    if ds.get("RescaleSlope") is not None and ds.get("RescaleIntercept") is not None:
        slope, intercept = float(ds.RescaleSlope), float(ds.RescaleIntercept)
        lo, hi = sorted((lo * slope + intercept, hi * slope + intercept))
    return lo, hi


def _check_xray(ds, path: Path) -> None:
    """DataError naming the file unless ``ds`` holds one 2-D projection X-ray."""
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


def read_dicom(path: str | os.PathLike):
    """The dataset and its stored pixel array (DataError naming the file when it is not one
    readable 2-D X-ray, or a 3-D colour array for RGB/YBR files)."""
    import pydicom

    path = Path(path)
    try:
        ds = pydicom.dcmread(path)
    except Exception as exc:  # InvalidDicomError and friends
        raise DataError(f"{path}: not a readable DICOM file ({exc})") from exc
    _check_xray(ds, path)
    try:
        arr = ds.pixel_array
    except Exception as exc:  # missing decoder, corrupt data
        raise DataError(f"{path}: cannot decode the DICOM pixel data ({exc})") from exc
    return ds, arr


def dicom_unit_image(ds, arr: np.ndarray, path: str | os.PathLike) -> np.ndarray:
    """A grey DICOM's pixels as float32 in [0, 1], bright = dense (see the module's docstring)."""
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    if arr.ndim != 2:
        raise DataError(f"{path}: DICOM pixel data of shape {arr.shape}; need one 2-D grey image")
    has_voi = bool(ds.get("VOILUTSequence")) or "WindowWidth" in ds or "WindowCenter" in ds
    try:
        out = apply_modality_lut(arr, ds)
        out = apply_voi_lut(out, ds) if has_voi else out
    except Exception as exc:
        raise DataError(f"{path}: cannot apply the DICOM rescale or VOI LUT/window ({exc})") from exc
    if ds.get("VOILUTSequence"):
        lo, hi = 0.0, float(2 ** int(ds.VOILUTSequence[0].LUTDescriptor[2]) - 1)
    else:
        lo, hi = stored_range(ds)
    img = np.clip((np.asarray(out, np.float64) - lo) / (hi - lo if hi > lo else 1.0), 0.0, 1.0).astype(np.float32)
    return 1.0 - img if str(ds.get("PhotometricInterpretation", "")) == "MONOCHROME1" else img
