"""Reading CT volumes and masks (NIfTI, NRRD, MHA/MHD, DICOM series) with checks that name the file.

Every reader and check raises :class:`~lungseg_lib.errors.DataError` naming the file; nothing
is guessed silently (a volume without spacing is refused, not read as 1 mm, and a DICOM series
with missing slices is refused, not stacked with a gap).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..errors import DataError

VOLUME_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")
_TOL = 1e-3


# --------------------------------------------------------------------------- reading


def volume_stem(path: str | os.PathLike) -> str:
    """Return the name of a volume without its (possibly double) extension: ``a.nii.gz`` -> ``a``."""
    name = Path(path).name
    for suffix in VOLUME_SUFFIXES + (".dcm",):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def read_volume(path: str | os.PathLike) -> sitk.Image:
    """Read a 3-D volume (NIfTI, NRRD, MHA/MHD, or a DICOM series folder) keeping its geometry.

    Refuses, with a :class:`DataError` naming the file: a missing or unreadable file, a file
    whose header has no voxel spacing (SimpleITK would silently report 1 mm), a DICOM series
    without PixelSpacing or with missing slices, and anything that is not a 3-D scalar volume.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: not found")
    if path.is_dir():
        return _read_dicom_series(path)
    if path.suffix.lower() == ".dcm":
        return _read_dicom_series(path.parent, path)
    _check_header_spacing(path)
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise DataError(f"{path}: unreadable volume ({itk_message(exc)})") from exc
    return _check_volume(image, path)


def _check_volume(image: sitk.Image, path: Path) -> sitk.Image:
    if image.GetDimension() != 3:
        raise DataError(f"{path}: {image.GetDimension()}-D image; need a 3-D volume")
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise DataError(f"{path}: {image.GetNumberOfComponentsPerPixel()} components per voxel; "
                        "need a scalar (grey-value) volume")
    if not all(math.isfinite(s) and s > 0 for s in image.GetSpacing()):
        raise DataError(f"{path}: invalid voxel spacing {image.GetSpacing()}")
    return image


def itk_message(exc: Exception) -> str:
    """The useful last line of a (multi-line) ITK exception."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return (lines[-1] if lines else repr(exc)).replace("sitk::ERROR: ", "")


def _text_header(path: Path, sep: str, stop: str | None = None) -> dict[str, str]:
    """Parse a text header of ``key<sep>value`` lines (lower-case keys) up to a blank line,
    the key ``stop``, or the first non-text line."""
    try:
        with open(path, "rb") as f:
            raw = f.read(1 << 16)
    except OSError as exc:
        raise DataError(f"{path}: unreadable ({exc.strerror})") from exc
    fields = {}
    for line in raw.split(b"\n"):
        try:
            text = line.decode("ascii").strip()
        except UnicodeDecodeError:
            break
        if not text and fields:
            break
        if text.startswith("#") or sep not in text:
            continue
        key, value = text.split(sep, 1)
        key = key.strip().lower().rstrip(":")  # NRRD key/value pairs use ":="
        fields[key] = value.lstrip("=").strip()
        if key == stop:
            break
    return fields


def _check_header_spacing(path: Path) -> None:
    """Refuse files whose header carries no spacing (readers then report 1, 1, 1)."""
    name = path.name.lower()
    if name.endswith((".nrrd", ".nhdr")):
        with open(path, "rb") as f:
            if not f.read(4) == b"NRRD":
                raise DataError(f"{path}: not a NRRD file (no NRRD magic)")
        fields = _text_header(path, ":")
        if "space directions" not in fields and "spacings" not in fields:
            raise DataError(f"{path}: NRRD header has no voxel spacing ('space directions' or "
                            "'spacings'); refusing to assume 1 mm")
    elif name.endswith((".mha", ".mhd")):
        fields = _text_header(path, "=", stop="elementdatafile")
        if "ndims" not in fields:
            raise DataError(f"{path}: not a MetaImage file (no NDims in the header)")
        if "elementspacing" not in fields and "elementsize" not in fields:
            raise DataError(f"{path}: MetaImage header has no ElementSpacing; refusing to assume 1 mm")
    elif name.endswith((".nii", ".nii.gz")):
        reader = sitk.ImageFileReader()
        reader.SetFileName(str(path))
        try:
            reader.ReadImageInformation()
        except RuntimeError as exc:
            raise DataError(f"{path}: unreadable NIfTI ({itk_message(exc)})") from exc
        meta = {k: reader.GetMetaData(k) for k in reader.GetMetaDataKeys()}
        pixdim = [float(meta.get(f"pixdim[{i}]", "0") or 0) for i in (1, 2, 3)]
        if not all(p > 0 for p in pixdim):
            raise DataError(f"{path}: NIfTI header has no voxel spacing (pixdim {pixdim})")
        if meta.get("qform_code") == "0" and meta.get("sform_code") == "0" and pixdim == [1.0] * 3:
            raise DataError(f"{path}: NIfTI without geometry (qform/sform codes 0, pixdim 1,1,1): "
                            "looks like an array saved without spacing; refusing to assume 1 mm")


def _dicom_tag(reader: sitk.ImageFileReader, tag: str) -> list[float] | None:
    if not reader.HasMetaDataKey(tag):
        return None
    try:
        return [float(v) for v in reader.GetMetaData(tag).replace("\\", " ").split()]
    except ValueError:
        return None


def _read_dicom_series(folder: Path, member: Path | None = None) -> sitk.Image:
    """Read the DICOM series in ``folder`` (the one holding ``member`` if given) after checking
    its spacing and slice positions; several series in one folder without ``member`` is an error."""
    try:
        ids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder))
    except RuntimeError as exc:
        raise DataError(f"{folder}: cannot list DICOM series ({itk_message(exc)})") from exc
    if not ids:
        raise DataError(f"{folder}: no DICOM series found in this folder")
    series = {sid: sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), sid) for sid in ids}
    if member is not None:
        chosen = [f for f in series.values() if any(Path(n).resolve() == member.resolve() for n in f)]
        if not chosen:
            raise DataError(f"{member}: not part of a readable DICOM series in {folder}")
        files = chosen[0]
    elif len(series) > 1:
        listing = ", ".join(f"{sid} ({len(f)} files, e.g. {Path(f[0]).name})" for sid, f in series.items())
        raise DataError(f"{folder}: {len(series)} DICOM series in one folder: {listing}; put each "
                        "series in its own folder or pass one of its files")
    else:
        files = next(iter(series.values()))
    positions = []
    for i, name in enumerate(files):
        reader = sitk.ImageFileReader()
        reader.SetFileName(name)
        try:
            reader.ReadImageInformation()
        except RuntimeError as exc:
            raise DataError(f"{name}: unreadable DICOM file ({itk_message(exc)})") from exc
        if i == 0:
            spacing = _dicom_tag(reader, "0028|0030")
            if not spacing or len(spacing) != 2 or min(spacing) <= 0:
                raise DataError(f"{folder}: DICOM series without PixelSpacing (0028,0030), "
                                f"e.g. {Path(name).name}; refusing to assume 1 mm")
            orientation = _dicom_tag(reader, "0020|0037")
            if not orientation or len(orientation) != 6:
                raise DataError(f"{folder}: DICOM file {Path(name).name} has no "
                                "ImageOrientationPatient (0020,0037)")
            normal = np.cross(orientation[:3], orientation[3:])
        ipp = _dicom_tag(reader, "0020|0032")
        if not ipp or len(ipp) != 3:
            raise DataError(f"{folder}: DICOM file {Path(name).name} has no "
                            "ImagePositionPatient (0020,0032)")
        positions.append(float(np.dot(ipp, normal)))
    _check_slice_positions(folder, sorted(positions))
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    try:
        image = reader.Execute()
    except RuntimeError as exc:
        raise DataError(f"{folder}: unreadable DICOM series ({itk_message(exc)})") from exc
    return _check_volume(image, folder)


def _check_slice_positions(folder: Path, positions: list[float]) -> None:
    """Refuse duplicate slices and gaps larger than 1.5 x the median slice distance."""
    if len(positions) < 2:
        return
    gaps = np.diff(positions)
    median = float(np.median(gaps))
    if gaps.min() < _TOL:
        z = positions[int(np.argmin(gaps))]
        raise DataError(f"{folder}: two DICOM slices at the same position ({z:.2f} mm); "
                        "mixed series or duplicate files?")
    if gaps.max() > 1.5 * median:
        i = int(np.argmax(gaps))
        raise DataError(f"{folder}: missing slices in the DICOM series: gap of {gaps[i]:.2f} mm "
                        f"between slice positions {positions[i]:.2f} and {positions[i + 1]:.2f} mm "
                        f"(median slice distance {median:.2f} mm)")


# --------------------------------------------------------------------------- checks


def check_hu(image: sitk.Image, path: str | os.PathLike) -> tuple[float, float]:
    """Refuse intensities that are clearly not Hounsfield units; return (min, max).

    Refused: values all within 0..255 (an 8-bit display image) and volumes with nothing below
    -500 HU (a chest CT in HU has air and lung at about -1000..-700; raw stored values without
    the rescale intercept start at 0).
    """
    stats = sitk.MinimumMaximumImageFilter()
    stats.Execute(image)
    lo, hi = stats.GetMinimum(), stats.GetMaximum()
    if lo >= 0 and hi <= 255:
        raise DataError(f"{path}: intensities {lo:g}..{hi:g} look like an 8-bit display image, "
                        "not Hounsfield units; convert from the original CT (DICOM/NIfTI in HU)")
    if lo > -500:
        raise DataError(f"{path}: no value below -500 (range {lo:g}..{hi:g}); a chest CT in "
                        "Hounsfield units has air/lung at about -1000..-700 (rescale intercept "
                        "not applied, or not a chest CT?)")
    return lo, hi


def check_same_geometry(image: sitk.Image, mask: sitk.Image, image_path: str | os.PathLike,
                        mask_path: str | os.PathLike) -> None:
    """Refuse a mask whose size, spacing, origin or direction differ from the image's (tol 1e-3)."""
    differ = []
    if image.GetSize() != mask.GetSize():
        differ.append(f"size {image.GetSize()} vs {mask.GetSize()}")
    for prop in ("spacing", "origin", "direction"):
        a = np.array(getattr(image, f"Get{prop.capitalize()}")())
        b = np.array(getattr(mask, f"Get{prop.capitalize()}")())
        if a.shape != b.shape or not np.allclose(a, b, rtol=0, atol=_TOL):
            differ.append(f"{prop} {_fmt(a)} vs {_fmt(b)}")
    if differ:
        raise DataError(f"{image_path} and {mask_path}: geometry differs: " + "; ".join(differ))


def _fmt(values: Iterable[float]) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in values) + ")"


def is_volume_file(path: Path) -> bool:
    """Whether ``path`` is a volume file (by its extension)."""
    return path.is_file() and path.name.lower().endswith(VOLUME_SUFFIXES)


def looks_dicom(folder: Path) -> bool:
    """Whether ``folder`` holds a DICOM series."""
    try:
        return bool(sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder)))
    except RuntimeError:
        return False
