"""The one reading rule (lungseg_lib.data.imageio, .dicom, .inputs): formats and bit depths,
DICOM intensity rules, masks binarised from their values, spacing, folders and patterns, and
one clear error per unreadable file; training, evaluation and prediction read the same pixels."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from xray_helpers import write_dicom

from lungseg_lib.data import imageio, inputs
from lungseg_lib.data.imageio import binarize_mask, read_mask, read_xray
from lungseg_lib.errors import DataError


def ramp(h=20, w=30, hi=4095) -> np.ndarray:
    return np.tile(np.linspace(0, hi, w), (h, 1)).astype(np.uint16)


def test_8bit_png_and_jpeg_divided_by_255_like_training(tmp_path):
    img = np.tile(np.arange(0, 250, 10, dtype=np.uint8), (8, 1))
    cv2.imwrite(str(tmp_path / "a.png"), img)
    x = read_xray(tmp_path / "a.png")
    assert x.image.dtype == np.float32 and x.image.shape == img.shape
    np.testing.assert_allclose(x.image, img / 255.0, atol=1e-6)
    assert x.pixel_spacing is None and x.spacing_source == ""
    cv2.imwrite(str(tmp_path / "c.jpg"), cv2.cvtColor(img, cv2.COLOR_GRAY2BGR))  # colour JPEG
    assert read_xray(tmp_path / "c.jpg").image.shape == img.shape


def test_16bit_images_are_divided_by_the_full_scale_of_the_bits_they_use(tmp_path):
    """A 12-bit detector image in a 16-bit PNG or TIFF is divided by 4095 (it reached at most
    0.0625 when divided by 65535), a full-range 16-bit image by 65535; neither is stretched."""
    twelve = ramp(hi=4095)
    twelve[0, 0] = 100
    full = ramp(hi=65535)
    for name in ("b.png", "b.tif"):
        cv2.imwrite(str(tmp_path / name), twelve)
        np.testing.assert_allclose(read_xray(tmp_path / name).image, twelve / 4095.0, atol=1e-6)
    cv2.imwrite(str(tmp_path / "f.png"), full)
    np.testing.assert_allclose(read_xray(tmp_path / "f.png").image, full / 65535.0, atol=1e-6)
    cv2.imwrite(str(tmp_path / "dim.png"), (ramp(hi=3000) + 500).astype(np.uint16))
    assert read_xray(tmp_path / "dim.png").image.max() == pytest.approx(3500 / 4095)  # not stretched to 1


def test_training_evaluation_and_prediction_read_the_same_pixels(tmp_path):
    """``lungseg evaluate`` (load_arrays) and ``lungseg predict`` (read_xray, to_square) feed the
    model the same input from the same 16-bit file."""
    from lungseg_lib.data.folders import Pair, load_arrays

    img = ramp(40, 40, hi=4095)
    cv2.imwrite(str(tmp_path / "x.png"), img)
    cv2.imwrite(str(tmp_path / "m.png"), (img > 2000).astype(np.uint8) * 255)
    arrays, _ = load_arrays([Pair("x", tmp_path / "x.png", tmp_path / "m.png", "s", "")], 32)
    predicted = imageio.to_square(read_xray(tmp_path / "x.png").image, 32)
    np.testing.assert_array_equal(arrays[0, ..., 0], predicted)
    assert arrays.max() > 0.9


def test_dicom_rescale_window_and_monochrome1(tmp_path):
    px = ramp(hi=4000)
    # window 1000..3000 (centre 2000, width 2000) after rescale 2x-1000 -> raw 1000..2000
    path = write_dicom(tmp_path / "w.dcm", px, window=(2000, 2000), slope=2, intercept=-1000,
                       pixel_spacing=(0.2, 0.25))
    x = read_xray(path)
    stored = px * 2.0 - 1000
    assert x.pixel_spacing == (0.2, 0.25) and x.spacing_source == "PixelSpacing"
    assert x.image[0, 0] == 0 and x.image[0, -1] == 1  # clipped below and above the window
    inside = (stored > 1100) & (stored < 2900)
    np.testing.assert_allclose(x.image[inside], (stored[inside] - 1000) / 2000, atol=2e-3)
    inverted = read_xray(write_dicom(tmp_path / "m1.dcm", px, photometric="MONOCHROME1",
                                             window=(2000, 2000), slope=2, intercept=-1000))
    np.testing.assert_allclose(inverted.image, 1 - x.image, atol=1e-6)


def test_dicom_without_window_uses_its_stored_bits_range_and_imager_spacing(tmp_path):
    px = ramp(hi=3000) + 500
    x = read_xray(write_dicom(tmp_path / "n.dcm", px, imager_spacing=(0.15, 0.15)))  # 12 bits stored
    np.testing.assert_allclose(x.image, px / 4095.0, atol=1e-6)
    assert x.pixel_spacing == (0.15, 0.15) and x.spacing_source == "ImagerPixelSpacing"


def test_dicom_voi_lut_is_applied_over_its_own_range_and_monochrome1_inverted(tmp_path):
    """A VOI LUT sequence (here: 12 output bits, the stored 0..4095 mapped by a square root) is
    what a viewer shows; MONOCHROME1 (bright = air) is inverted to bright = dense."""
    px = ramp(hi=4095)
    lut = np.round(np.sqrt(np.arange(4096) / 4095) * 4095).astype(np.uint16)
    x = read_xray(write_dicom(tmp_path / "v.dcm", px, voi_lut=lut))
    np.testing.assert_allclose(x.image, lut[px] / 4095.0, atol=1e-6)
    assert not np.allclose(x.image, px / 4095.0, atol=0.05)  # the LUT was applied
    inverted = read_xray(write_dicom(tmp_path / "v1.dcm", px, voi_lut=lut, photometric="MONOCHROME1"))
    np.testing.assert_allclose(inverted.image, 1 - lut[px] / 4095.0, atol=1e-6)


MASK = np.zeros((8, 10), bool)
MASK[2:6, 1:4] = MASK[2:6, 6:9] = True


@pytest.mark.parametrize("name, stored", [
    ("0/1 8-bit", MASK.astype(np.uint8)),
    ("0/255 8-bit", MASK.astype(np.uint8) * 255),
    ("0/1/2 labels", np.where(MASK, np.where(np.arange(10) < 5, 1, 2), 0).astype(np.uint8)),
    ("0/255 16-bit", MASK.astype(np.uint16) * 255),
    ("0/4095 16-bit", MASK.astype(np.uint16) * 4095),
    ("0/65535 16-bit", MASK.astype(np.uint16) * 65535),
])
def test_masks_are_binarised_from_the_values_they_hold(tmp_path, name, stored):
    """Every common mask encoding reads as the same lungs, from a file too (a 0/1/2 label
    mask, a 16-bit 0/255 and a 16-bit 0/4095 mask all read as empty when the threshold came
    from the array's type)."""
    lung, was_binary = binarize_mask(stored)
    assert was_binary and np.array_equal(lung, MASK), name
    cv2.imwrite(str(tmp_path / "m.png"), stored)
    assert np.array_equal(read_mask(tmp_path / "m.png"), MASK), name


def test_grey_edged_masks_are_cut_at_half_their_maximum_and_ambiguous_ones_refused(tmp_path):
    edged = MASK.astype(np.uint16) * 4095
    edged[2, 1], edged[5, 8] = 1000, 3000  # two antialiased edge pixels
    lung, was_binary = binarize_mask(edged)
    assert not was_binary and lung.sum() == MASK.sum() - 1
    jpeg_like = np.where(MASK, 250, 3).astype(np.uint8)  # compression noise near both ends
    assert np.array_equal(binarize_mask(jpeg_like)[0], MASK)
    picture = np.arange(80, dtype=np.uint8).reshape(8, 10) * 3  # an image, not a mask
    cv2.imwrite(str(tmp_path / "photo.png"), picture)
    with pytest.raises(DataError, match=r"photo\.png: not a lung mask .* mid-grey"):
        read_mask(tmp_path / "photo.png")


def test_the_library_s_own_label_output_reads_back_as_the_same_lungs(tmp_path):
    """``lungseg predict`` writes NAME_mask.png with labels 0/1/2; read back as a mask it gives
    the lungs it was written from (it read as 0 lung pixels of 160 before)."""
    from lungseg_lib.data.imageio import write_png
    from lungseg_lib.engine.lungs import label_lungs

    labels = label_lungs(MASK)
    assert set(np.unique(labels)) == {0, 1, 2}
    write_png(tmp_path / "x_mask.png", labels)
    assert np.array_equal(read_mask(tmp_path / "x_mask.png"), MASK)


def test_every_mask_of_the_real_data_reads_as_before(real_data_dir):
    """The data sets are 8-bit PNG: the rule by values gives every mask the lungs the old rule
    (``> 127`` for 8-bit) gave, so no committed run's inputs change."""
    for path in sorted((real_data_dir / "masks").glob("*.png")):
        stored = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        assert stored.dtype == np.uint8, path
        assert np.array_equal(read_mask(path), stored > 127), path


def test_dicom_without_suffix_is_found_and_read(tmp_path):
    write_dicom(tmp_path / "IM0001", ramp())
    files, problems = inputs.expand_inputs([tmp_path])
    assert files == [tmp_path / "IM0001"] and not problems
    assert read_xray(files[0]).image.shape == (20, 30)


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
        read_xray(path)
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
    files, problems = inputs.expand_inputs(items)
    d = tmp_path / "d"
    assert files == [d / "a.jpg", d / "b.png", d / "sub" / "c.png", d / "notes.txt"]
    assert [(p, why.split(" ")[0]) for p, why in problems] == [
        (str(tmp_path / "missing.png"), "file"), (str(tmp_path / "*.tif"), "no"), (str(tmp_path / "empty"), "folder")]


def test_ct_series_folder_is_told_apart_from_xray_folders(tmp_path):
    for i in range(3):
        write_dicom(tmp_path / "ct" / f"s{i}.dcm", ramp(), modality="CT")
        write_dicom(tmp_path / "dx" / f"s{i}.dcm", ramp(), modality="DX")
    assert inputs.is_ct_series_folder(tmp_path / "ct")
    assert not inputs.is_ct_series_folder(tmp_path / "dx")
    assert not inputs.is_ct_series_folder(tmp_path / "ct" / "s0.dcm")


def test_parse_pixel_spacing():
    assert inputs.parse_pixel_spacing("0.14") == (0.14, 0.14)
    assert inputs.parse_pixel_spacing("0.1,0.2") == (0.1, 0.2)
    for bad in ("", "x", "0", "1,2,3", "-1"):
        with pytest.raises(ValueError, match="--pixel-spacing"):
            inputs.parse_pixel_spacing(bad)


@pytest.mark.parametrize("how", imageio.SQUARE_RULES)
def test_square_rules_go_there_and_back(how):
    """Both rules bring a non-square image to the square input and its map back to the image's
    size; padding keeps the aspect ratio between zeros."""
    img = np.ones((60, 100), np.float32)
    square = imageio.to_square(img, 50, how)
    assert square.shape == (50, 50)
    if how == "pad":
        assert square[:10].max() == 0 and square[-10:].max() == 0 and square[16:34].min() == 1
    else:
        assert square.min() == 1
    back = imageio.from_square(square, img.shape, how)
    assert back.shape == img.shape and back[5:-5, 5:-5].min() > 0.99
    assert imageio.to_square(img[:50, :50], 50, how) is not None
    with pytest.raises(ValueError, match="valid: stretch, pad"):
        imageio.to_square(img, 50, "crop")
