"""CT volumes -> 2-D axial slices in the standard layout, and 2-D models -> 3-D lung masks.

The paper's preprocessing for CT: clip to the HU window [-125, 275], resample to 1 mm
isotropic voxels (spacing-aware, SimpleITK), take axial slices and centre-crop/pad them to
256 x 256. Every reader and check raises :class:`~lungseg_lib.errors.DataError` naming the
file; nothing is guessed silently (a volume without spacing is refused, not read as 1 mm).

Conventions used throughout:

* Volumes are ``SimpleITK.Image`` objects; ``sitk.GetArrayFromImage`` gives (z, y, x) arrays.
* Before slicing, volumes are reoriented to LPS (``sitk.DICOMOrient``) so that array axis 0 is
  axial whatever the file's direction matrix, and every slice is shown the radiological way
  (patient's anterior at the top, patient's right on the image's left), NIfTI or DICOM alike.
* Resampling keeps the physical box of the volume: the new grid has the same direction and is
  centred on the old one (its origin moves by less than one voxel), so no edge slice is
  extrapolated. Physical positions are exact, so images and masks stay aligned.

Pairing rule of :func:`convert_ct_folder`: in a folder, the volume ``NAME.ext`` goes with the
mask ``NAME_mask.ext`` or ``NAME-mask.ext`` (any supported extension, see ``mask_suffix``); a
DICOM series is a sub-folder ``NAME/`` and its mask a file ``NAME_mask.ext`` beside it.
"""

from __future__ import annotations

import csv
import io
import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np
import SimpleITK as sitk

from .errors import DataError

PAPER_WINDOW = (-125.0, 275.0)
VOLUME_SUFFIXES = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")
CIP_LUNG_REGIONS = tuple(range(9, 15))
"""Lung-third regions of a CIP label map (value = region + 256 * type): use
``binary_lung(lm, CIP_LUNG_REGIONS, label_mod=256)``."""
MANIFEST_COLUMNS = ["file", "source", "label", "volume", "slice_index", "spacing_x", "spacing_y",
                    "spacing_z", "z_mm", "window", "png_mode", "lung_fraction", "lung_px_cropped"]
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
        raise DataError(f"{path}: unreadable volume ({_itk_message(exc)})") from exc
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


def _itk_message(exc: Exception) -> str:
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
            raise DataError(f"{path}: unreadable NIfTI ({_itk_message(exc)})") from exc
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
        raise DataError(f"{folder}: cannot list DICOM series ({_itk_message(exc)})") from exc
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
            raise DataError(f"{name}: unreadable DICOM file ({_itk_message(exc)})") from exc
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
        raise DataError(f"{folder}: unreadable DICOM series ({_itk_message(exc)})") from exc
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


# --------------------------------------------------------------------------- volume operations


def clip_hu(image: sitk.Image, window: Sequence[float] = PAPER_WINDOW) -> sitk.Image:
    """Return a float32 copy of ``image`` with intensities clipped to ``window`` (HU)."""
    lo, hi = float(window[0]), float(window[1])
    if not lo < hi:
        raise ValueError(f"window must be (low, high) with low < high, got {window}")
    return sitk.Clamp(sitk.Cast(image, sitk.sitkFloat32), sitk.sitkFloat32, lo, hi)


def _triple(spacing: float | Sequence[float]) -> tuple[float, float, float]:
    if isinstance(spacing, (int, float)):
        return (float(spacing),) * 3
    if len(spacing) != 3:
        raise ValueError(f"spacing must be a number or (x, y, z), got {spacing}")
    return tuple(float(s) for s in spacing)


def resample(image: sitk.Image, spacing: float | Sequence[float] = (1.0, 1.0, 1.0), *,
             is_mask: bool = False) -> sitk.Image:
    """Resample to ``spacing`` mm: linear for images (float32 out), nearest for masks.

    Output size = round(size * old_spacing / new_spacing) per axis; the direction is kept and
    the new grid is centred on the old one, so the physical extent is preserved within one
    voxel. Points outside the volume get 0 (masks) or the image's minimum (images).
    """
    new_spacing = np.array(_triple(spacing))
    old_spacing = np.array(image.GetSpacing())
    old_size = np.array(image.GetSize())
    new_size = np.maximum(1, np.round(old_size * old_spacing / new_spacing)).astype(int)
    direction = np.array(image.GetDirection()).reshape(3, 3)
    centre = np.array(image.GetOrigin()) + direction @ ((old_size - 1) * old_spacing / 2)
    origin = centre - direction @ ((new_size - 1) * new_spacing / 2)
    if is_mask:
        interpolator, default, pixel = sitk.sitkNearestNeighbor, 0.0, image.GetPixelID()
    else:
        stats = sitk.MinimumMaximumImageFilter()
        stats.Execute(image)
        interpolator, default, pixel = sitk.sitkLinear, stats.GetMinimum(), sitk.sitkFloat32
    return sitk.Resample(image, [int(n) for n in new_size], sitk.Transform(), interpolator,
                         origin.tolist(), new_spacing.tolist(), image.GetDirection(), default, pixel)


def binary_lung(mask: sitk.Image, lung_labels: Iterable[int] | None = None, *,
                label_mod: int | None = None) -> sitk.Image:
    """Map a mask or label map to a binary lung mask (uint8 0/1, same geometry).

    ``lung_labels=None``: lung = mask > 0. Otherwise lung = value in ``lung_labels``, e.g.
    ``(2, 3)`` for CIP's right/left lung labels. ``label_mod`` compares ``value % label_mod``
    instead, for label maps that pack several fields in one value: a CIP label map
    (``lm-64.nrrd``, value = region + 256 * type) gives its lung with
    ``binary_lung(lm, CIP_LUNG_REGIONS, label_mod=256)`` (regions 9-14 = lung thirds).
    """
    values = sitk.GetArrayViewFromImage(mask)
    if label_mod:
        values = values % label_mod
    lung = values > 0 if lung_labels is None else np.isin(values, list(lung_labels))
    out = sitk.GetImageFromArray(lung.astype(np.uint8))
    out.CopyInformation(mask)
    return out


def axial_slices(volume_array: np.ndarray, mask_array: np.ndarray | None = None,
                 which: str | int | tuple = "central") -> list[int]:
    """Choose axial slice indices (axis 0 of a (z, y, x) array).

    ``"central"``: the middle slice ``nz // 2``; ``"all-lung"``: every slice with lung in
    ``mask_array``; ``("every", k)``: every k-th slice from the first to the last lung slice;
    an int: that slice.
    """
    nz = volume_array.shape[0]
    if which == "central":
        return [nz // 2]
    if isinstance(which, (int, np.integer)) and not isinstance(which, bool):
        if not 0 <= which < nz:
            raise ValueError(f"slice {which} outside 0..{nz - 1}")
        return [int(which)]
    every = isinstance(which, (tuple, list)) and len(which) == 2 and which[0] == "every"
    if which != "all-lung" and not every:
        raise ValueError(f"which must be 'central', 'all-lung', ('every', k) or an int, got {which!r}")
    if mask_array is None:
        raise ValueError(f"slices={which!r} needs a mask")
    lung = np.flatnonzero(mask_array.reshape(mask_array.shape[0], -1).any(axis=1))
    if which == "all-lung" or lung.size == 0:
        return lung.tolist()
    k = int(which[1])
    if k < 1:
        raise ValueError(f"('every', k) needs k >= 1, got {k}")
    return list(range(int(lung[0]), int(lung[-1]) + 1, k))


def crop_or_pad(slice2d: np.ndarray, size: int | tuple[int, int] = 256,
                pad_value: float = 0) -> np.ndarray:
    """Centre-crop or pad a 2-D array to ``size`` x ``size`` (or ``(h, w)``).

    Cropping drops ``(n - size) // 2`` rows/columns before; padding adds ``(size - n) // 2``
    before, so ``crop_or_pad(crop_or_pad(a, s), a.shape)`` puts every kept pixel back in place.
    """
    th, tw = (size, size) if isinstance(size, (int, np.integer)) else size
    out = np.full((th, tw), pad_value, dtype=slice2d.dtype)
    (sy, dy, ny), (sx, dx, nx) = (_span(slice2d.shape[0], th), _span(slice2d.shape[1], tw))
    out[dy:dy + ny, dx:dx + nx] = slice2d[sy:sy + ny, sx:sx + nx]
    return out


def _span(n: int, target: int) -> tuple[int, int, int]:
    """(source start, destination start, length) of a centred crop or pad along one axis."""
    if n >= target:
        return (n - target) // 2, 0, target
    return 0, (target - n) // 2, n


def to_png_array(slice_hu: np.ndarray, window: Sequence[float] | None = PAPER_WINDOW,
                 mode: str = "windowed8") -> np.ndarray:
    """Convert a slice in HU to a PNG-ready array.

    ``"windowed8"``: uint8, the window mapped linearly to 0..255 (values outside saturate);
    this is what the 2-D training reads (``/ 255`` gives [0, 1]). ``"hu16"``: uint16 storing
    ``HU + 32768`` (exact to 1 HU, window ignored; decode with ``png.astype(int) - 32768``).
    """
    if mode == "windowed8":
        if window is None:
            raise ValueError("mode 'windowed8' needs a window")
        lo, hi = float(window[0]), float(window[1])
        scaled = np.clip((slice_hu.astype(np.float32) - lo) / (hi - lo), 0.0, 1.0)
        return np.round(scaled * 255).astype(np.uint8)
    if mode == "hu16":
        return np.clip(np.round(slice_hu.astype(np.float64)) + 32768, 0, 65535).astype(np.uint16)
    raise ValueError(f"png mode must be 'windowed8' or 'hu16', got {mode!r}")


# --------------------------------------------------------------------------- writing


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _write_png(path: Path, array: np.ndarray) -> None:
    ok, buf = cv2.imencode(".png", array)
    if not ok:
        raise DataError(f"{path}: could not encode PNG")
    _write_atomic(path, buf.tobytes())


def _update_manifest(path: Path, rows: list[dict]) -> None:
    """Add ``rows`` to ``manifest.csv`` (replacing rows with the same ``file``), atomically."""
    old, columns = [], list(MANIFEST_COLUMNS)
    if path.exists():
        try:
            with open(path, newline="") as f:
                reader = csv.DictReader(f)
                old = list(reader)
                fields = reader.fieldnames or []
        except (OSError, csv.Error, UnicodeDecodeError) as exc:
            raise DataError(f"{path}: unreadable manifest ({exc})") from exc
        if old and "file" not in fields:
            raise DataError(f"{path}: manifest has no 'file' column (columns: {fields})")
        columns = fields + [c for c in MANIFEST_COLUMNS if c not in fields]
    new_files = {r["file"] for r in rows}
    merged = [r for r in old if r.get("file") not in new_files] + rows
    extra = [c for r in rows for c in r if c not in columns]
    columns += list(dict.fromkeys(extra))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(merged)
    _write_atomic(path, buf.getvalue().encode())


def _prepare(volume_path: Path, mask_path: Path, lung_labels, label_mod) -> tuple[sitk.Image, sitk.Image]:
    """Read and check a CT volume and its mask; return both in LPS orientation, mask binary."""
    image = read_volume(volume_path)
    check_hu(image, volume_path)
    mask = read_volume(mask_path)
    check_same_geometry(image, mask, volume_path, mask_path)
    lung = binary_lung(mask, lung_labels, label_mod=label_mod)
    if not sitk.GetArrayViewFromImage(lung).any():
        values = np.unique(sitk.GetArrayViewFromImage(mask))[:20].tolist()
        raise DataError(f"{mask_path}: no lung voxels with lung_labels={lung_labels} "
                        f"(values in the mask: {values})")
    return sitk.DICOMOrient(image, "LPS"), sitk.DICOMOrient(lung, "LPS")


def volume_to_slices(volume_path: str | os.PathLike, mask_path: str | os.PathLike,
                     out: str | os.PathLike, *, slices: str | int | tuple = "central",
                     window: Sequence[float] | None = PAPER_WINDOW,
                     spacing: float | Sequence[float] = 1.0, size: int = 256,
                     lung_labels: Iterable[int] | None = None, label_mod: int | None = None,
                     png_mode: str = "windowed8", name: str | None = None) -> list[dict]:
    """Convert one CT volume + lung mask to 2-D axial slices in the standard layout.

    Reads and checks both (HU, same geometry), reorients to LPS, clips to ``window`` (None:
    no clipping, only with ``png_mode="hu16"``), resamples to ``spacing`` mm (image linear,
    mask nearest), picks slices with :func:`axial_slices`, centre-crops/pads them to
    ``size`` x ``size`` (image padded with air) and writes ``out/images/NAME_zIII.png`` and
    ``out/masks/NAME_zIII.png`` (0/255) atomically. ``slice_index`` is the index in the
    resampled volume and ``z_mm`` its physical (LPS) position. Rows are added to
    ``out/manifest.csv`` (same file name replaced) and returned.
    """
    volume_path, mask_path, out = Path(volume_path), Path(mask_path), Path(out)
    name = name or volume_stem(volume_path)
    image, lung = _prepare(volume_path, mask_path, lung_labels, label_mod)
    if window is not None:
        image = clip_hu(image, window)
    elif png_mode == "windowed8":
        raise ValueError("png_mode 'windowed8' needs a window")
    image = resample(image, spacing)
    lung = resample(lung, spacing, is_mask=True)
    arr, mask_arr = sitk.GetArrayFromImage(image), sitk.GetArrayFromImage(lung)
    pad = float(window[0]) if window is not None else -1000.0
    sx, sy, sz = image.GetSpacing()
    rows = []
    for z in axial_slices(arr, mask_arr, slices):
        img2d = crop_or_pad(arr[z], size, pad)
        m2d = crop_or_pad(mask_arr[z], size, 0) > 0
        file = f"{name}_z{z:03d}.png"
        _write_png(out / "images" / file, to_png_array(img2d, window, png_mode))
        _write_png(out / "masks" / file, m2d.astype(np.uint8) * 255)
        rows.append({
            "file": file, "source": "ct", "label": "", "volume": name, "slice_index": z,
            "spacing_x": round(sx, 6), "spacing_y": round(sy, 6), "spacing_z": round(sz, 6),
            "z_mm": round(image.TransformIndexToPhysicalPoint((0, 0, int(z)))[2], 3),
            "window": "" if window is None else f"{window[0]:g},{window[1]:g}",
            "png_mode": png_mode, "lung_fraction": round(float(m2d.mean()), 4),
            "lung_px_cropped": int(mask_arr[z].sum() - m2d.sum()),
        })
    if rows:
        _update_manifest(out / "manifest.csv", rows)
    return rows


def _is_volume_file(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(VOLUME_SUFFIXES)


def find_ct_pairs(src: str | os.PathLike, mask_suffix: str | Sequence[str] = ("_mask", "-mask")
                  ) -> tuple[list[tuple[Path, Path]], list[tuple[Path, str]]]:
    """Pair volumes with masks in ``src`` by the module's naming rule; return (pairs, problems).

    Volumes are ``NAME.ext`` files (NIfTI/NRRD/MHA/MHD) and DICOM sub-folders ``NAME/``;
    the mask is ``NAME<suffix>.ext`` for a suffix in ``mask_suffix`` and any extension.
    Volumes without a mask and masks without a volume are returned as problems.
    """
    src = Path(src)
    suffixes = (mask_suffix,) if isinstance(mask_suffix, str) else tuple(mask_suffix)
    files = sorted(p for p in src.iterdir() if _is_volume_file(p))
    by_stem = {volume_stem(p): p for p in files}
    masks = {p for p in files if volume_stem(p).endswith(suffixes)}
    candidates = [p for p in files if p not in masks]
    candidates += sorted(p for p in src.iterdir() if p.is_dir() and not p.name.startswith("."))
    pairs, problems = [], []
    for vol in candidates:
        found = [by_stem[volume_stem(vol) + s] for s in suffixes if volume_stem(vol) + s in by_stem]
        if vol.is_dir() and not found and not _looks_dicom(vol):
            continue  # a folder that holds no DICOM series and has no mask is not a volume
        if not found:
            problems.append((vol, f"no mask (looked for {volume_stem(vol)}{{{','.join(suffixes)}}}.*)"))
        else:
            pairs.append((vol, found[0]))
    paired = {m for _, m in pairs}
    problems += [(m, "mask without volume") for m in sorted(masks - paired)]
    return pairs, problems


def convert_ct_folder(src: str | os.PathLike, out: str | os.PathLike, *,
                      mask: str | os.PathLike | None = None,
                      mask_suffix: str | Sequence[str] = ("_mask", "-mask"), **kw) -> dict:
    """Convert one volume (``src`` + ``mask=``) or a folder of volume/mask pairs to slices.

    A folder is paired by :func:`find_ct_pairs` (``NAME.nrrd`` + ``NAME_mask.nrrd``, see the
    module docstring). ``kw`` goes to :func:`volume_to_slices`. A single volume raises on any
    problem; in a folder each unusable volume is reported in ``problems`` and the rest is
    converted. Returns ``{"volumes", "slices", "problems": ["path: what", ...], "out"}``.
    """
    src, out = Path(src), Path(out)
    if not src.exists():
        raise DataError(f"{src}: not found")
    single = mask is not None or _is_volume_file(src) or (src.is_dir() and _looks_dicom(src))
    if single:
        if mask is None:
            raise DataError(f"{src}: a single volume needs its mask (mask=PATH / --mask PATH)")
        rows = volume_to_slices(src, mask, out, **kw)
        return {"volumes": 1, "slices": len(rows), "problems": [], "out": str(out)}
    pairs, problems = find_ct_pairs(src, mask_suffix)
    if not pairs:
        raise DataError(f"{src}: no volume/mask pairs found (volumes NAME.ext with masks "
                        f"NAME_mask.ext; formats {', '.join(VOLUME_SUFFIXES)}, DICOM folders)"
                        + "".join(f"; {p}: {w}" for p, w in problems))
    n_volumes = n_slices = 0
    for vol, msk in pairs:
        try:
            n_slices += len(volume_to_slices(vol, msk, out, **kw))
            n_volumes += 1
        except DataError as exc:
            problems.append((vol, str(exc)))
    return {"volumes": n_volumes, "slices": n_slices, "out": str(out),
            "problems": [w if w.startswith(str(p)) else f"{p}: {w}" for p, w in problems]}


def _looks_dicom(folder: Path) -> bool:
    try:
        return bool(sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder)))
    except RuntimeError:
        return False


# --------------------------------------------------------------------------- prediction


def predict_volume(predict_slices: Callable[[np.ndarray], np.ndarray], volume_path: str | os.PathLike,
                   out_path: str | os.PathLike, *, window: Sequence[float] = PAPER_WINDOW,
                   spacing: float | Sequence[float] = 1.0, size: int = 256,
                   batch_size: int = 8) -> dict:
    """Segment a CT volume with a 2-D model and write the lung mask with the input's geometry.

    The volume gets the training preprocessing (LPS, clip to ``window``, resample to
    ``spacing``, centre crop/pad to ``size``, windowed 8-bit levels / 255), and
    ``predict_slices(batch)`` (batch: float32 ``(n, size, size, 1)`` in [0, 1]) must return
    ``(n, size, size)`` masks (probabilities are thresholded at 0.5). The slice masks are
    un-cropped (outside the crop = no lung), stacked and resampled back (nearest) onto the
    input grid, and written atomically (NIfTI for ``.nii.gz``) as uint8 0/1. Returns
    ``{"slices", "ms_per_slice" (model time only), "seconds" (total), "out"}``.
    """
    start = time.perf_counter()
    volume_path, out_path = Path(volume_path), Path(out_path)
    original = read_volume(volume_path)
    check_hu(original, volume_path)
    image = resample(clip_hu(sitk.DICOMOrient(original, "LPS"), window), spacing)
    arr = sitk.GetArrayFromImage(image)
    nz, ny, nx = arr.shape
    result = np.zeros(arr.shape, np.uint8)
    model_s = 0.0
    for first in range(0, nz, batch_size):
        zs = range(first, min(first + batch_size, nz))
        batch = np.stack([to_png_array(crop_or_pad(arr[z], size, float(window[0])), window)
                          for z in zs]).astype(np.float32)[..., None] / 255.0
        t0 = time.perf_counter()
        pred = np.asarray(predict_slices(batch))
        model_s += time.perf_counter() - t0
        if pred.ndim == 4 and pred.shape[-1] == 1:
            pred = pred[..., 0]
        if pred.shape != (len(zs), size, size):
            raise ValueError(f"predict_slices returned shape {pred.shape}; "
                             f"expected {(len(zs), size, size)}")
        for z, p in zip(zs, pred):
            result[z] = crop_or_pad((p > 0.5).astype(np.uint8), (ny, nx), 0)
    mask = sitk.GetImageFromArray(result)
    mask.CopyInformation(image)
    mask = sitk.Resample(mask, original, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".tmp{os.getpid()}-{out_path.name}")
    try:
        sitk.WriteImage(mask, str(tmp), True)
    except RuntimeError as exc:
        tmp.unlink(missing_ok=True)
        raise DataError(f"{out_path}: cannot write mask ({_itk_message(exc)})") from exc
    os.replace(tmp, out_path)
    return {"slices": nz, "ms_per_slice": round(1000 * model_s / max(nz, 1), 3),
            "seconds": round(time.perf_counter() - start, 3), "out": str(out_path)}


# --------------------------------------------------------------------------- figures (book page)


def preprocessing_steps(volume_path: str | os.PathLike, mask_path: str | os.PathLike, *,
                        window: Sequence[float] = PAPER_WINDOW,
                        spacing: float | Sequence[float] = 1.0, size: int = 256,
                        lung_labels: Iterable[int] | None = None,
                        label_mod: int | None = None) -> dict:
    """The steps of :func:`volume_to_slices` (central slice) on one volume, for figures and tables.

    Returns the original axial slice in HU (``raw``, at the original slice nearest to the
    chosen one), the same slice clipped to ``window`` (``clipped``), the resampled central
    slice cropped/padded to ``size`` (``slice``, HU) with its lung mask (``mask``), and the
    geometry: shapes (z, y, x), spacings (x, y, z) in mm, slice indices, lung fraction.
    """
    volume_path, mask_path = Path(volume_path), Path(mask_path)
    image, lung = _prepare(volume_path, mask_path, lung_labels, label_mod)
    small = resample(clip_hu(image, window), spacing)
    small_lung = resample(lung, spacing, is_mask=True)
    arr, mask_arr = sitk.GetArrayFromImage(small), sitk.GetArrayFromImage(small_lung)
    (z,) = axial_slices(arr, mask_arr, "central")
    point = small.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in small.GetSize()[:2]] + [z])
    z0 = int(round(image.TransformPhysicalPointToContinuousIndex(point)[2]))
    raw = sitk.GetArrayFromImage(image)[z0].astype(np.float32)
    mask2d = crop_or_pad(mask_arr[z], size, 0) > 0
    return {
        "volume": volume_stem(volume_path), "window": tuple(float(w) for w in window),
        "raw": raw, "clipped": np.clip(raw, *window), "original_index": z0,
        "slice": crop_or_pad(arr[z], size, float(window[0])), "mask": mask2d, "slice_index": int(z),
        "shape_before": tuple(sitk.GetArrayViewFromImage(image).shape),
        "shape_after": tuple(arr.shape), "spacing_before": tuple(image.GetSpacing()),
        "spacing_after": tuple(small.GetSpacing()), "lung_fraction": float(mask2d.mean()),
    }


def preprocessing_table(steps: dict):
    """A pandas table of the geometry in ``steps``: original volume vs the preprocessed one."""
    import pandas as pd

    def fmt(values, digits=2):
        return " x ".join(f"{v:.{digits}f}" if isinstance(v, float) else str(v) for v in values)

    return pd.DataFrame({
        "original": [fmt(steps["shape_before"]), fmt(steps["spacing_before"]),
                     str(steps["original_index"]), ""],
        "preprocessed": [fmt(steps["shape_after"]), fmt(steps["spacing_after"]),
                         str(steps["slice_index"]),
                         f"{steps['lung_fraction']:.3f} (of {fmt(steps['mask'].shape)} px)"],
    }, index=["shape (z, y, x)", "spacing (x, y, z), mm", "axial slice index", "lung fraction"])


def preprocessing_figure(steps: dict):
    """A matplotlib Figure of ``steps``: (a) the original slice, (b) after the HU window,
    (c) the resampled central slice with its lung mask outline. Axes in mm."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 3.9), layout="constrained")
    axes = fig.subplots(1, 3)
    sx, sy = steps["spacing_before"][:2]
    ny, nx = steps["raw"].shape
    extent = (0, nx * sx, ny * sy, 0)
    lo, hi = steps["window"]
    raw = steps["raw"]
    panels = [(raw, float(raw.min()), float(raw.max()),
               f"(a) original slice {steps['original_index']}\n{nx} x {ny} px of {sx:.2f} mm, "
               f"{raw.min():.0f}..{raw.max():.0f} HU"),
              (steps["clipped"], lo, hi, f"(b) clipped to [{lo:g}, {hi:g}] HU\n(same slice)")]
    for ax, (img, vmin, vmax, title) in zip(axes, panels):
        im = ax.imshow(img, cmap="gray", vmin=vmin, vmax=vmax, extent=extent, interpolation="nearest")
        fig.colorbar(im, ax=ax, shrink=0.8, label="HU")
        ax.set_title(title, fontsize=9)
    s = steps["slice"]
    n = s.shape[0]
    mm = steps["spacing_after"][0]
    axes[2].imshow(s, cmap="gray", vmin=lo, vmax=hi, extent=(0, n * mm, n * mm, 0))
    axes[2].contour(np.linspace(0, n * mm, n), np.linspace(0, n * mm, n), steps["mask"],
                    levels=[0.5], colors="orange", linewidths=1)
    axes[2].set_title(f"(c) resampled to {mm:g} mm: central slice {steps['slice_index']},\n"
                      f"{n} x {n} px, lung mask outlined", fontsize=9)
    for ax in axes:
        ax.set_xlabel("mm")
    return fig


def message_figure(text: str):
    """A small Figure that only shows ``text`` (stands in for a figure whose data is missing)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 1.2))
    fig.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    return fig
