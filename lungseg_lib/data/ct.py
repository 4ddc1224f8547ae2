"""CT volumes -> 2-D axial slices in the standard layout (a 2-D model's slice masks -> a 3-D
lung mask: :func:`lungseg_lib.engine.inference.predict_volume`).

The paper's preprocessing for CT: clip to the HU window [-125, 275], resample to 1 mm
isotropic voxels (spacing-aware, SimpleITK), take axial slices and centre-crop/pad them to
256 x 256. Volumes are read and checked by :mod:`lungseg_lib.data.ct_io`; every problem raises
:class:`~lungseg_lib.errors.DataError` naming the file.

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
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..errors import DataError
from ..files import atomic_write_text
from .ct_io import (VOLUME_SUFFIXES, check_hu, check_same_geometry, is_volume_file, looks_dicom, read_volume,
                    volume_stem)
from .imageio import write_png

PAPER_WINDOW = (-125.0, 275.0)
CIP_LUNG_REGIONS = tuple(range(9, 15))
"""Lung-third regions of a CIP label map (value = region + 256 * type): use
``binary_lung(lm, CIP_LUNG_REGIONS, label_mod=256)``."""
MANIFEST_COLUMNS = ["file", "source", "label", "volume", "slice_index", "spacing_x", "spacing_y",
                    "spacing_z", "z_mm", "window", "png_mode", "lung_fraction", "lung_px_cropped"]


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


def _update_manifest(path: Path, rows: list[dict]) -> None:
    """Add ``rows`` to ``manifest.csv`` (replacing rows with the same ``file``), atomically."""
    old, columns = [], list(MANIFEST_COLUMNS)
    if path.exists():
        try:
            with open(path, newline="", encoding="utf-8") as f:
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
    atomic_write_text(path, buf.getvalue())


def prepare(volume_path: Path, mask_path: Path, lung_labels, label_mod) -> tuple[sitk.Image, sitk.Image]:
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
    image, lung = prepare(volume_path, mask_path, lung_labels, label_mod)
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
        write_png(out / "images" / file, to_png_array(img2d, window, png_mode))
        write_png(out / "masks" / file, m2d.astype(np.uint8) * 255)
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



def parse_slices(text: str) -> str | tuple[str, int]:
    """``central``, ``all-lung`` or ``every:K`` (K >= 1) as :func:`volume_to_slices` takes it."""
    if text in ("central", "all-lung"):
        return text
    if text.startswith("every:") and text[6:].isdigit() and int(text[6:]) >= 1:
        return "every", int(text[6:])
    raise ValueError(f"--slices: {text!r} is not central, all-lung or every:K (K >= 1)")


def find_ct_pairs(src: str | os.PathLike, mask_suffix: str | Sequence[str] = ("_mask", "-mask")
                  ) -> tuple[list[tuple[Path, Path]], list[tuple[Path, str]]]:
    """Pair volumes with masks in ``src`` by the module's naming rule; return (pairs, problems).

    Volumes are ``NAME.ext`` files (NIfTI/NRRD/MHA/MHD) and DICOM sub-folders ``NAME/``;
    the mask is ``NAME<suffix>.ext`` for a suffix in ``mask_suffix`` and any extension.
    Volumes without a mask and masks without a volume are returned as problems.
    """
    src = Path(src)
    suffixes = (mask_suffix,) if isinstance(mask_suffix, str) else tuple(mask_suffix)
    files = sorted(p for p in src.iterdir() if is_volume_file(p))
    by_stem = {volume_stem(p): p for p in files}
    masks = {p for p in files if volume_stem(p).endswith(suffixes)}
    candidates = [p for p in files if p not in masks]
    candidates += sorted(p for p in src.iterdir() if p.is_dir() and not p.name.startswith("."))
    pairs, problems = [], []
    for vol in candidates:
        found = [by_stem[volume_stem(vol) + s] for s in suffixes if volume_stem(vol) + s in by_stem]
        if vol.is_dir() and not found and not looks_dicom(vol):
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
    single = mask is not None or is_volume_file(src) or (src.is_dir() and looks_dicom(src))
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
