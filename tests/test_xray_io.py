"""Reading users' chest X-rays (lungseg_lib.data.xray_io): formats, DICOM intensity rules, spacing,
folders and patterns, and one clear error per unreadable file."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from xray_helpers import write_dicom

from lungseg_lib.data import xray_io
from lungseg_lib.errors import DataError


def ramp(h=20, w=30, hi=4095) -> np.ndarray:
    return np.tile(np.linspace(0, hi, w), (h, 1)).astype(np.uint16)


def test_8bit_png_and_jpeg_divided_by_255_like_training(tmp_path):
    img = np.tile(np.arange(0, 250, 10, dtype=np.uint8), (8, 1))
    cv2.imwrite(str(tmp_path / "a.png"), img)
    x = xray_io.read_xray(tmp_path / "a.png")
    assert x.image.dtype == np.float32 and x.image.shape == img.shape
    np.testing.assert_allclose(x.image, img / 255.0, atol=1e-6)
    assert x.pixel_spacing is None and x.spacing_source == ""
    cv2.imwrite(str(tmp_path / "c.jpg"), cv2.cvtColor(img, cv2.COLOR_GRAY2BGR))  # colour JPEG
    assert xray_io.read_xray(tmp_path / "c.jpg").image.shape == img.shape


def test_16bit_png_and_tiff_scaled_from_min_to_max(tmp_path):
    img = ramp(hi=4095)  # a 12-bit detector image stored in 16 bits
    img[0, 0] = 100
    for name in ("b.png", "b.tif"):
        cv2.imwrite(str(tmp_path / name), img)
        x = xray_io.read_xray(tmp_path / name)
        assert x.image.min() == 0 and x.image.max() == 1
        np.testing.assert_allclose(x.image, img / 4095.0, atol=1e-6)


def test_dicom_rescale_window_and_monochrome1(tmp_path):
    px = ramp(hi=4000)
    # window 1000..3000 (centre 2000, width 2000) after rescale 2x-1000 -> raw 1000..2000
    path = write_dicom(tmp_path / "w.dcm", px, window=(2000, 2000), slope=2, intercept=-1000,
                       pixel_spacing=(0.2, 0.25))
    x = xray_io.read_xray(path)
    stored = px * 2.0 - 1000
    assert x.pixel_spacing == (0.2, 0.25) and x.spacing_source == "PixelSpacing"
    assert x.image[0, 0] == 0 and x.image[0, -1] == 1  # clipped below and above the window
    inside = (stored > 1100) & (stored < 2900)
    np.testing.assert_allclose(x.image[inside], (stored[inside] - 1000) / 2000, atol=2e-3)
    inverted = xray_io.read_xray(write_dicom(tmp_path / "m1.dcm", px, photometric="MONOCHROME1",
                                             window=(2000, 2000), slope=2, intercept=-1000))
    np.testing.assert_allclose(inverted.image, 1 - x.image, atol=1e-6)


def test_dicom_without_window_uses_its_range_and_imager_spacing(tmp_path):
    px = ramp(hi=3000) + 500
    x = xray_io.read_xray(write_dicom(tmp_path / "n.dcm", px, imager_spacing=(0.15, 0.15)))
    assert x.image.min() == 0 and x.image.max() == 1
    assert x.pixel_spacing == (0.15, 0.15) and x.spacing_source == "ImagerPixelSpacing"


def test_dicom_without_suffix_is_found_and_read(tmp_path):
    write_dicom(tmp_path / "IM0001", ramp())
    files, problems = xray_io.expand_inputs([tmp_path])
    assert files == [tmp_path / "IM0001"] and not problems
    assert xray_io.read_xray(files[0]).image.shape == (20, 30)


@pytest.mark.parametrize("build, what", [
    (lambda p: write_dicom(p / "ct.dcm", ramp(), modality="CT"), "CT DICOM"),
    (lambda p: write_dicom(p / "mr.dcm", ramp(), modality="MR"), "Modality MR (magnetic resonance), not a chest X-ray"),
    (lambda p: write_dicom(p / "multi.dcm", np.stack([ramp()] * 3), frames=3), "multi-frame"),
    (lambda p: (p / "notes.txt").write_text("hello", encoding="utf-8") and p / "notes.txt", "not an image file"),
    (lambda p: (p / "fake.png").write_bytes(b"not a png at all") and p / "fake.png", "not a PNG"),
    (lambda p: (p / "fake.dcm").write_bytes(b"\0" * 200) and p / "fake.dcm", "not a readable DICOM"),
])
def test_unreadable_inputs_raise_one_error_naming_the_file(tmp_path, build, what):
    path = build(tmp_path)
    with pytest.raises(DataError) as info:
        xray_io.read_xray(path)
    assert str(info.value).startswith(f"{path}: ") and what in str(info.value)


def test_expand_files_folders_patterns_and_problems(tmp_path):
    for name in ("b.png", "a.jpg", "notes.txt", ".hidden.png"):
        (tmp_path / "d" / name).parent.mkdir(exist_ok=True)
        cv2.imwrite(str(tmp_path / "d" / name), np.zeros((4, 4), np.uint8)) if name.endswith(("png", "jpg")) \
            else (tmp_path / "d" / name).write_text("x", encoding="utf-8")
    (tmp_path / "d" / "sub").mkdir()
    cv2.imwrite(str(tmp_path / "d" / "sub" / "c.png"), np.zeros((4, 4), np.uint8))
    (tmp_path / "empty").mkdir()
    items = [tmp_path / "d", str(tmp_path / "d" / "**" / "*.png"), tmp_path / "missing.png",
             str(tmp_path / "*.tif"), tmp_path / "empty", tmp_path / "d" / "notes.txt"]
    files, problems = xray_io.expand_inputs(items)
    d = tmp_path / "d"
    assert files == [d / "a.jpg", d / "b.png", d / "sub" / "c.png", d / "notes.txt"]
    assert [(p, why.split(" ")[0]) for p, why in problems] == [
        (str(tmp_path / "missing.png"), "file"), (str(tmp_path / "*.tif"), "no"), (str(tmp_path / "empty"), "folder")]


def test_ct_series_folder_is_told_apart_from_xray_folders(tmp_path):
    for i in range(3):
        write_dicom(tmp_path / "ct" / f"s{i}.dcm", ramp(), modality="CT")
        write_dicom(tmp_path / "dx" / f"s{i}.dcm", ramp(), modality="DX")
    assert xray_io.is_ct_series_folder(tmp_path / "ct")
    assert not xray_io.is_ct_series_folder(tmp_path / "dx")
    assert not xray_io.is_ct_series_folder(tmp_path / "ct" / "s0.dcm")


def test_parse_pixel_spacing():
    assert xray_io.parse_pixel_spacing("0.14") == (0.14, 0.14)
    assert xray_io.parse_pixel_spacing("0.1,0.2") == (0.1, 0.2)
    for bad in ("", "x", "0", "1,2,3", "-1"):
        with pytest.raises(ValueError, match="--pixel-spacing"):
            xray_io.parse_pixel_spacing(bad)
