"""Users' inputs: files, folders and glob patterns of chest X-rays, told apart from CT series
folders, and pixel spacings given on the command line. Reading a file is
:func:`lungseg_lib.data.imageio.read_xray` (the one reading rule)."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import numpy as np

from .dicom import dicom_modality, is_dicom_file
from .imageio import IMAGE_SUFFIXES

XRAY_SUFFIXES = IMAGE_SUFFIXES  # suffixes read as X-ray files (DICOM files may also have none)
_GLOB_CHARS = set("*?[")


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
