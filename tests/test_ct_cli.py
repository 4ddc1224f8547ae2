"""``lungseg data from-ct``: CT volumes to 2-D slices from the command line.

Synthetic chests come from tests/ct_volumes.py (the ``chest`` fixture); the real CT check runs
when the CIP volumes are found (``LUNGSEG_CT_DATA`` or ../shared/data/ct_cip beside the
repository).
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage
from ct_volumes import make_chest, write_dicom_series

from lungseg_lib.cli import main


def _manifest(out: Path) -> list[dict]:
    with open(out / "manifest.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _from_ct(*args) -> int:
    return main(["data", "from-ct", *map(str, args)])


# --------------------------------------------------------------------------- data from-ct


def test_from_ct_central(chest, tmp_path, capsys):
    vol, msk = chest
    out = tmp_path / "out"
    assert _from_ct(vol, "--mask", msk, "--out", out) == 0
    assert "1 volume(s), 1 slice(s)" in capsys.readouterr().out
    (row,) = _manifest(out)
    assert row["file"] == "chest_z030.png" and row["window"] == "-125,275"
    img = cv2.imread(str(out / "images" / row["file"]), cv2.IMREAD_UNCHANGED)
    mask = cv2.imread(str(out / "masks" / row["file"]), cv2.IMREAD_UNCHANGED) > 0
    assert img.shape == mask.shape == (256, 256) and img.dtype == np.uint8
    assert ndimage.label(mask)[1] == 2 and np.mean(img[mask] == 0) > 0.9


def test_from_ct_all_lung_every_and_options(chest, tmp_path):
    vol, msk = chest
    assert _from_ct(vol, "--mask", msk, "--out", tmp_path / "all", "--slices", "all-lung") == 0
    all_lung = [int(r["slice_index"]) for r in _manifest(tmp_path / "all")]
    assert 40 <= len(all_lung) <= 46
    assert _from_ct(vol, "--mask", msk, "--out", tmp_path / "every", "--slices", "every:10") == 0
    assert [int(r["slice_index"]) for r in _manifest(tmp_path / "every")] == all_lung[::10]
    # window, anisotropic spacing, size, labels, 16-bit
    assert _from_ct(vol, "--mask", msk, "--out", tmp_path / "w1", "--window=-1000,400",
                    "--spacing", "1.4,1.4,5", "--size", "64", "--lung-labels", "1") == 0
    assert _from_ct(vol, "--mask", msk, "--out", tmp_path / "w2", "--window=-1000,400",
                    "--spacing=1.4,1.4,5", "--size=64", "--png-mode", "hu16") == 0
    (r1,), (r2,) = _manifest(tmp_path / "w1"), _manifest(tmp_path / "w2")
    assert r1["window"] == r2["window"] == "-1000,400" and r1["slice_index"] == "6"
    assert (r1["spacing_x"], r1["spacing_z"]) == ("1.4", "5.0")
    im16 = cv2.imread(str(tmp_path / "w2" / "images" / r2["file"]), cv2.IMREAD_UNCHANGED)
    assert im16.shape == (64, 64) and im16.dtype == np.uint16


def test_from_ct_folder_reports_problems(tmp_path, capsys):
    image, mask = make_chest()
    src = tmp_path / "src"
    src.mkdir()
    sitk.WriteImage(image, str(src / "a.nii.gz"))
    sitk.WriteImage(mask, str(src / "a_mask.nii.gz"))
    sitk.WriteImage(image, str(src / "b.nrrd"))  # no mask
    assert _from_ct(src, "--out", tmp_path / "out") == 1
    cap = capsys.readouterr()
    assert "1 volume(s), 1 slice(s)" in cap.out and "1 problem(s)" in cap.out
    assert "PROBLEM" in cap.err and str(src / "b.nrrd") in cap.err
    assert [r["file"] for r in _manifest(tmp_path / "out")] == ["a_z030.png"]


def _no_spacing(tmp_path, chest):
    path = tmp_path / "nospacing.nrrd"
    arr = np.full((24, 100, 120), -1000, np.int16)
    path.write_bytes(b"NRRD0004\ntype: short\ndimension: 3\nsizes: 120 100 24\nendian: little\n"
                     b"encoding: raw\n\n" + arr.astype("<i2").tobytes())
    return path, chest[1], "spacing"


def _other_geometry(tmp_path, chest):
    _, mask = make_chest()
    mask.SetSpacing((0.7, 0.7, 2.0))
    sitk.WriteImage(mask, str(tmp_path / "other_mask.nrrd"))
    return chest[0], tmp_path / "other_mask.nrrd", "other_mask.nrrd"


def _display_levels(tmp_path, chest):
    image, _ = make_chest()
    sitk.WriteImage(sitk.Cast(sitk.RescaleIntensity(image, 0, 255), sitk.sitkUInt8),
                    str(tmp_path / "display.nrrd"))
    return tmp_path / "display.nrrd", chest[1], "8-bit"


def _dicom_gap(tmp_path, chest):
    image, mask = make_chest()
    files = write_dicom_series(image, tmp_path / "series")
    files[10].unlink()
    return tmp_path / "series", chest[1], "missing slices"


@pytest.mark.parametrize("build", [_no_spacing, _other_geometry, _display_levels, _dicom_gap])
def test_from_ct_bad_input_exit_2_names_file(chest, tmp_path, capsys, build):
    vol, msk, what = build(tmp_path, chest)
    assert _from_ct(vol, "--mask", msk, "--out", tmp_path / "out") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("lungseg: error: ") and "\n" not in err
    assert str(vol) in err and what in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, what", [
    (["--slices", "middle"], "--slices"), (["--slices", "every:0"], "--slices"),
    (["--window=-125"], "--window"), (["--spacing", "1,2"], "--spacing"),
    (["--lung-labels", "two"], "--lung-labels"), ([], "needs its mask"),
])
def test_from_ct_bad_options_exit_2(chest, tmp_path, capsys, args, what):
    vol, msk = chest
    mask = ["--mask", str(msk)] if args else []
    assert _from_ct(vol, *mask, "--out", tmp_path / "out", *args) == 2
    assert what in capsys.readouterr().err


def test_from_ct_real_ct64(tmp_path, real_ct_dir):
    assert _from_ct(real_ct_dir / "ct-64.nrrd", "--mask", real_ct_dir / "wholeLung-64.nrrd", "--out", tmp_path) == 0
    (row,) = _manifest(tmp_path)
    assert row["file"] == "ct-64_z157.png"
    mask = cv2.imread(str(tmp_path / "masks" / row["file"]), cv2.IMREAD_UNCHANGED) > 0
    assert mask.shape == (256, 256) and 0.3 <= mask.mean() <= 0.45
    labels, n = ndimage.label(mask)
    big = [i for i in range(1, n + 1) if (labels == i).sum() > 0.05 * mask.size]
    cols = sorted(ndimage.center_of_mass(labels == i)[1] for i in big)
    assert len(big) == 2 and cols[0] < 128 < cols[1]  # one lung on each side
