"""Synthetic CT volumes for the CT tests (tests/test_ct*.py, tests/test_inference.py).

The synthetic chest: air at -1000 HU, an elliptic body at 40 HU, two ellipsoid lungs at
-850 HU (the right one wider, so flips are visible), anisotropic 0.7 x 0.7 x 2.5 mm voxels.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import SimpleITK as sitk

SPACING = (0.7, 0.7, 2.5)
SIZE = (120, 100, 24)  # x, y, z  -> 84 x 70 x 60 mm
ORIGIN = (-41.65, -34.65, -100.0)
# lungs: (centre x mm from the middle, semi-axes x, y, z in mm); LPS: +x = patient's left
LUNGS = [(-16.0, 11.0, 20.0, 22.0), (16.0, 9.0, 20.0, 22.0)]
BODY = (38.0, 30.0)


def _phys_grid():
    """Physical coordinates (mm, relative to the volume centre) of every voxel, (z, y, x) arrays."""
    idx = [np.arange(n) for n in SIZE[::-1]]
    z, y, x = np.meshgrid(*idx, indexing="ij")
    half = [(n - 1) / 2 for n in SIZE]
    return ((x - half[0]) * SPACING[0], (y - half[1]) * SPACING[1], (z - half[2]) * SPACING[2])


def make_chest(direction=None) -> tuple[sitk.Image, sitk.Image]:
    """The synthetic chest CT (int16 HU) and its lung mask (uint8 0/1)."""
    x, y, z = _phys_grid()
    hu = np.full(x.shape, -1000, np.int16)
    hu[(x / BODY[0]) ** 2 + (y / BODY[1]) ** 2 <= 1] = 40
    lung = np.zeros(x.shape, np.uint8)
    for cx, a, b, c in LUNGS:
        lung[((x - cx) / a) ** 2 + (y / b) ** 2 + (z / c) ** 2 <= 1] = 1
    hu[lung > 0] = -850
    image, mask = sitk.GetImageFromArray(hu), sitk.GetImageFromArray(lung)
    for im in (image, mask):
        im.SetSpacing(SPACING)
        im.SetOrigin(ORIGIN)
        if direction is not None:
            im.SetDirection(direction)
    return image, mask


def lung_volume_mm3() -> float:
    return sum(4 / 3 * math.pi * a * b * c for _, a, b, c in LUNGS)


def write_dicom_series(image: sitk.Image, folder: Path) -> list[Path]:
    folder.mkdir()
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    series_uid, study_uid = "1.2.826.0.1.3680043.2.1125.1.42", "1.2.826.0.1.3680043.2.1125.1.41"
    d = image.GetDirection()
    files = []
    for i in range(image.GetDepth()):
        s = image[:, :, i]
        for tag, value in [
            ("0008|0060", "CT"), ("0020|000d", study_uid), ("0020|000e", series_uid),
            ("0008|0018", f"{series_uid}.{i + 1}"), ("0020|0013", str(i + 1)),
            ("0020|0032", "\\".join(f"{v:.4f}" for v in image.TransformIndexToPhysicalPoint((0, 0, i)))),
            ("0020|0037", "\\".join(str(v) for v in (d[0], d[3], d[6], d[1], d[4], d[7]))),
        ]:
            s.SetMetaData(tag, value)
        files.append(folder / f"slice{i:03d}.dcm")
        writer.SetFileName(str(files[-1]))
        writer.Execute(s)
    return files
