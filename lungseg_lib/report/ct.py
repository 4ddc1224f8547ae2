"""The book's CT page (notebook 11): the CT path's steps on one real volume, its defaults, and
where the CT data are (the notebook parameter ``ct_dir``, else ``$LUNGSEG_CT_DATA``, else
``../shared/data/ct_cip`` beside the repository, as the tests look for them)."""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from ..data import ct
from ..data.ct import PAPER_WINDOW, axial_slices, clip_hu, crop_or_pad, resample
from ..data.ct_io import volume_stem
from ..project import repo_path

CT_ENV = "LUNGSEG_CT_DATA"
DEFAULT_CT_DIR = "../shared/data/ct_cip"  # relative to the repository root


def ct_folder(ct_dir: str = "") -> str:
    """The CT data folder as given (``ct_dir``, else ``$LUNGSEG_CT_DATA``, else
    :data:`DEFAULT_CT_DIR`); relative folders are the repository's."""
    return ct_dir or os.environ.get(CT_ENV) or DEFAULT_CT_DIR


def default_values() -> dict[str, float]:
    """The CT path's defaults (``lungseg data from-ct``) for the text of the CT chapter."""
    defaults = inspect.signature(ct.volume_to_slices).parameters
    return {"default_window_low": float(defaults["window"].default[0]),
            "default_window_high": float(defaults["window"].default[1]),
            "default_spacing": float(defaults["spacing"].default),
            "default_size": float(defaults["size"].default)}


def missing_files(ct_dir: str, volume: str, mask: str) -> list[str]:
    """The volume and mask files of the page that are not there (as paths)."""
    folder = repo_path(ct_dir)
    return [str(p) for p in (folder / volume, folder / mask) if not p.exists()]


def status(ct_dir: str, volume: str, mask: str, missing: list[str]) -> str:
    """The sentence at the top of the CT page: which volume it shows, or that the data is missing."""
    if missing:
        return (f"The CT data is missing ({', '.join(missing)} not found): the figure and table are "
                f"placeholders. Set the notebook parameter ct_dir (or {CT_ENV}) to the CIP data folder.")
    return f"Volume {volume} with mask {mask}, from {ct_dir}."


def step_values(steps: dict) -> dict[str, float]:
    """The geometry the CT chapter gives (slice indices, lung fraction, spacing before and size
    after resampling along x, y, z), from :func:`preprocessing_steps`."""
    out = {key: float(steps[key]) for key in ("slice_index", "original_index", "lung_fraction")}
    for i, axis in enumerate("xyz"):
        out[f"spacing_{axis}_before"] = float(steps["spacing_before"][i])
        out[f"size_{axis}_after"] = float(steps["shape_after"][2 - i])
    return out


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
    image, lung = ct.prepare(volume_path, mask_path, lung_labels, label_mod)
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
