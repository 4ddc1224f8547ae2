"""Tests of the CT path (lungseg_lib.data.ct_io, lungseg_lib.data.ct) on synthetic volumes, plus one check on real CT.

The synthetic chest: air at -1000 HU, an elliptic body at 40 HU, two ellipsoid lungs at
-850 HU (the right one wider, so flips are visible), anisotropic 0.7 x 0.7 x 2.5 mm voxels.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from lungseg_lib.data import ct, ct_io
from lungseg_lib.engine.inference import predict_volume
from lungseg_lib.errors import DataError

from ct_volumes import LUNGS, ORIGIN, SIZE, SPACING, lung_volume_mm3, make_chest, write_dicom_series

def _voxel_volume(image: sitk.Image) -> float:
    return float(np.prod(image.GetSpacing()))


# --------------------------------------------------------------------------- resampling


def test_resample_preserves_extent_volume_and_alignment():
    image, mask = make_chest()
    img1 = ct.resample(ct.clip_hu(image, (-1000, 400)), 1.0)
    mask1 = ct.resample(mask, 1.0, is_mask=True)
    assert img1.GetSpacing() == (1.0, 1.0, 1.0)
    assert img1.GetSize() == tuple(round(n * s) for n, s in zip(SIZE, SPACING)) == (84, 70, 60)
    assert img1.GetDirection() == image.GetDirection()
    assert mask1.GetPixelID() == sitk.sitkUInt8 and img1.GetPixelID() == sitk.sitkFloat32
    for old_n, old_s, new_n in zip(SIZE, SPACING, img1.GetSize()):
        assert abs(old_n * old_s - new_n * 1.0) <= 1.0  # physical extent within one voxel

    def centre(im):
        return np.array(im.TransformContinuousIndexToPhysicalPoint([(n - 1) / 2 for n in im.GetSize()]))

    np.testing.assert_allclose(centre(img1), centre(image), atol=1e-6)
    # lung volume in mm^3: voxel count x voxel volume, before and after, and the analytic one
    before = sitk.GetArrayViewFromImage(mask).sum() * _voxel_volume(mask)
    after = sitk.GetArrayViewFromImage(mask1).sum() * _voxel_volume(mask1)
    assert after == pytest.approx(before, rel=0.03)
    assert after == pytest.approx(lung_volume_mm3(), rel=0.05)
    # the mask stays on the lungs: mask voxels have lung HU in the resampled image
    hu, m = sitk.GetArrayFromImage(img1), sitk.GetArrayFromImage(mask1) > 0
    assert np.mean(hu[m] < -500) > 0.93  # edges mix with the body (2.5 mm slices)
    assert np.all(hu[ndimage.binary_erosion(m, iterations=2)] < -500)
    assert np.median(hu[m]) == pytest.approx(-850, abs=1)
    assert np.mean(hu[~m & (hu < -500) & (hu > -950)]) > -900  # no lung left outside the mask
    # no extrapolated edge: the first and last slices still hold the body
    assert hu[0].max() > 0 and hu[-1].max() > 0


def test_resample_anisotropic_target_and_clip():
    image, _ = make_chest()
    out = ct.resample(image, (1.4, 1.4, 5.0))
    assert out.GetSize() == (60, 50, 12)
    clipped = ct.clip_hu(image)
    arr = sitk.GetArrayViewFromImage(clipped)
    assert arr.min() == -125 and arr.max() == 40
    with pytest.raises(ValueError):
        ct.clip_hu(image, (100, -100))


# --------------------------------------------------------------------------- small helpers


@pytest.mark.parametrize("shape", [(267, 267), (200, 301), (256, 256), (3, 511)])
def test_crop_or_pad_shape_and_inverse(shape):
    a = np.arange(np.prod(shape), dtype=np.int32).reshape(shape) + 1
    b = ct.crop_or_pad(a, 256, pad_value=0)
    assert b.shape == (256, 256)
    back = ct.crop_or_pad(b, shape, 0)
    kept = back != 0
    assert np.array_equal(back[kept], a[kept])  # every kept pixel is back where it was
    assert kept.sum() == min(shape[0], 256) * min(shape[1], 256)


def test_crop_or_pad_is_centred():
    a = np.zeros((101, 101))
    a[50, 50] = 1
    b = ct.crop_or_pad(a, 51)
    assert b[25, 25] == 1
    c = ct.crop_or_pad(a, 201)
    assert c[100, 100] == 1


def test_to_png_array_modes():
    hu = np.array([[-1000, -125, 75, 275, 3000]], np.float32)
    assert ct.to_png_array(hu, (-125, 275)).tolist() == [[0, 0, 128, 255, 255]]
    h16 = ct.to_png_array(hu, None, "hu16")
    assert h16.dtype == np.uint16
    assert (h16.astype(int) - 32768).tolist() == [[-1000, -125, 75, 275, 3000]]
    with pytest.raises(ValueError):
        ct.to_png_array(hu, (-125, 275), "jpeg")


def test_axial_slices():
    vol = np.zeros((20, 4, 4))
    mask = np.zeros((20, 4, 4), np.uint8)
    mask[5:15, 1, 1] = 1
    assert ct.axial_slices(vol, mask, "central") == [10]
    assert ct.axial_slices(vol, None, "central") == [10]
    assert ct.axial_slices(vol, mask, "all-lung") == list(range(5, 15))
    assert ct.axial_slices(vol, mask, ("every", 4)) == [5, 9, 13]
    assert ct.axial_slices(vol, mask, 3) == [3]
    with pytest.raises(ValueError):
        ct.axial_slices(vol, mask, "middle")
    with pytest.raises(ValueError):
        ct.axial_slices(vol, None, "all-lung")


def test_binary_lung_labels_and_cip_label_map():
    values = np.array([[[0, 1, 2, 3, 9 + 512, 14 + 768, 512, 8]]], np.uint16)
    lm = sitk.GetImageFromArray(values)
    lm.SetSpacing(SPACING)
    assert sitk.GetArrayFromImage(ct.binary_lung(lm)).ravel().tolist() == [0, 1, 1, 1, 1, 1, 1, 1]
    assert sitk.GetArrayFromImage(ct.binary_lung(lm, (2, 3))).ravel().tolist() == [0, 0, 1, 1, 0, 0, 0, 0]
    cip = ct.binary_lung(lm, ct.CIP_LUNG_REGIONS, label_mod=256)
    assert sitk.GetArrayFromImage(cip).ravel().tolist() == [0, 0, 0, 0, 1, 1, 0, 0]
    assert cip.GetSpacing() == SPACING


# --------------------------------------------------------------------------- reading


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii", ".nrrd", ".mha", ".mhd"])
def test_format_round_trip(tmp_path, suffix):
    image, _ = make_chest()
    path = tmp_path / f"vol{suffix}"
    sitk.WriteImage(image, str(path))
    back = ct_io.read_volume(path)
    assert back.GetSize() == image.GetSize()
    np.testing.assert_allclose(back.GetSpacing(), SPACING, atol=1e-5)
    np.testing.assert_allclose(back.GetOrigin(), ORIGIN, atol=1e-4)
    np.testing.assert_allclose(back.GetDirection(), image.GetDirection(), atol=1e-6)
    assert np.array_equal(sitk.GetArrayViewFromImage(back), sitk.GetArrayViewFromImage(image))
    assert ct_io.volume_stem(path) == "vol"


@pytest.fixture
def dicom_chest(tmp_path):
    image, _ = make_chest()
    image = image[:, :, 6:18]  # 12 slices are enough
    return image, write_dicom_series(image, tmp_path / "series")


def test_dicom_series_round_trip(dicom_chest):
    image, files = dicom_chest
    back = ct_io.read_volume(files[0].parent)
    assert back.GetSize() == image.GetSize()
    np.testing.assert_allclose(back.GetSpacing(), SPACING, atol=1e-3)
    np.testing.assert_allclose(back.GetOrigin(), image.GetOrigin(), atol=1e-3)
    assert np.array_equal(sitk.GetArrayViewFromImage(back), sitk.GetArrayViewFromImage(image))
    ct_io.check_hu(back, files[0].parent)


def test_dicom_missing_slice_is_refused(dicom_chest):
    _, files = dicom_chest
    files[5].unlink()
    with pytest.raises(DataError, match="missing slices") as err:
        ct_io.read_volume(files[0].parent)
    assert str(files[0].parent) in str(err.value)


def test_dicom_without_pixel_spacing_is_refused(dicom_chest):
    import pydicom

    _, files = dicom_chest
    for f in files:
        ds = pydicom.dcmread(f)
        del ds.PixelSpacing
        ds.save_as(f)
    with pytest.raises(DataError, match="PixelSpacing") as err:
        ct_io.read_volume(files[0].parent)
    assert str(files[0].parent) in str(err.value)


def test_empty_folder_is_refused(tmp_path):
    with pytest.raises(DataError, match="no DICOM series") as err:
        ct_io.read_volume(tmp_path)
    assert str(tmp_path) in str(err.value)


def _raw_header_file(path: Path, header: str, arr: np.ndarray) -> Path:
    path.write_bytes(header.encode() + arr.astype("<i2").tobytes())
    return path


def test_nrrd_without_spacing_is_refused(tmp_path):
    arr = np.full((4, 5, 6), -1000, np.int16)
    path = _raw_header_file(tmp_path / "nospacing.nrrd", "NRRD0004\ntype: short\ndimension: 3\n"
                            "sizes: 6 5 4\nendian: little\nencoding: raw\n\n", arr)
    assert sitk.ReadImage(str(path)).GetSpacing() == (1.0, 1.0, 1.0)  # what ITK would make of it
    with pytest.raises(DataError, match="spacing") as err:
        ct_io.read_volume(path)
    assert str(path) in str(err.value)


def test_mha_without_spacing_is_refused(tmp_path):
    arr = np.full((4, 5, 6), -1000, np.int16)
    path = _raw_header_file(tmp_path / "nospacing.mha", "ObjectType = Image\nNDims = 3\n"
                            "BinaryData = True\nBinaryDataByteOrderMSB = False\nDimSize = 6 5 4\n"
                            "ElementType = MET_SHORT\nElementDataFile = LOCAL\n", arr)
    assert sitk.ReadImage(str(path)).GetSpacing() == (1.0, 1.0, 1.0)
    with pytest.raises(DataError, match="ElementSpacing") as err:
        ct_io.read_volume(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("name", ["broken.nrrd", "broken.nii.gz", "broken.mha", "broken.vtk"])
def test_unreadable_file_is_refused(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"\x00\x01 this is not a volume \xff" * 10)
    with pytest.raises(DataError) as err:
        ct_io.read_volume(path)
    assert str(path) in str(err.value)


def test_truncated_nrrd_is_refused(tmp_path):
    image, _ = make_chest()
    path = tmp_path / "cut.nrrd"
    sitk.WriteImage(image, str(path))
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(DataError, match="unreadable") as err:
        ct_io.read_volume(path)
    assert str(path) in str(err.value)


def test_missing_file_and_2d_image_are_refused(tmp_path):
    with pytest.raises(DataError, match="not found"):
        ct_io.read_volume(tmp_path / "nothere.nrrd")
    flat = sitk.GetImageFromArray(np.zeros((8, 8), np.int16))
    sitk.WriteImage(flat, str(tmp_path / "flat.nrrd"))
    with pytest.raises(DataError, match="3-D") as err:
        ct_io.read_volume(tmp_path / "flat.nrrd")
    assert "flat.nrrd" in str(err.value)


# --------------------------------------------------------------------------- checks


def test_check_hu_refuses_display_images_and_raw_values():
    image, _ = make_chest()
    assert ct_io.check_hu(image, "chest.nrrd") == (-1000, 40)
    arr = sitk.GetArrayFromImage(image)
    for bad, what in [((arr + 1000) // 5, "8-bit"), (arr + 1024, "below -500")]:
        with pytest.raises(DataError, match=what) as err:
            ct_io.check_hu(sitk.GetImageFromArray(bad), "/data/bad.nii.gz")
        assert "/data/bad.nii.gz" in str(err.value)


@pytest.mark.parametrize("prop, change", [
    ("spacing", lambda m: m.SetSpacing((0.7, 0.7, 3.0))),
    ("origin", lambda m: m.SetOrigin((0.0, 0.0, 0.0))),
    ("direction", lambda m: m.SetDirection((-1, 0, 0, 0, -1, 0, 0, 0, 1))),
])
def test_check_same_geometry_names_files_and_property(prop, change):
    image, mask = make_chest()
    ct_io.check_same_geometry(image, mask, "a.nrrd", "a_mask.nrrd")
    change(mask)
    with pytest.raises(DataError, match=prop) as err:
        ct_io.check_same_geometry(image, mask, "a.nrrd", "a_mask.nrrd")
    assert "a.nrrd" in str(err.value) and "a_mask.nrrd" in str(err.value)


def test_check_same_geometry_size():
    image, mask = make_chest()
    with pytest.raises(DataError, match="size"):
        ct_io.check_same_geometry(image, mask[:, :, :10], "a.nrrd", "a_mask.nrrd")
    mask.SetOrigin(tuple(o + 5e-4 for o in ORIGIN))  # within tolerance
    ct_io.check_same_geometry(image, mask, "a.nrrd", "a_mask.nrrd")


# --------------------------------------------------------------------------- slices


def _manifest(out: Path) -> list[dict]:
    with open(out / "manifest.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_volume_to_slices_central(chest, tmp_path):
    vol, msk = chest
    out = tmp_path / "out"
    rows = ct.volume_to_slices(vol, msk, out)
    assert len(rows) == 1 and rows[0]["file"] == "chest_z030.png" and rows[0]["slice_index"] == 30
    img = cv2.imread(str(out / "images" / "chest_z030.png"), cv2.IMREAD_UNCHANGED)
    mask = cv2.imread(str(out / "masks" / "chest_z030.png"), cv2.IMREAD_UNCHANGED)
    assert img.shape == mask.shape == (256, 256) and img.dtype == mask.dtype == np.uint8
    assert set(np.unique(mask)) == {0, 255}
    lung = mask > 0
    # lungs at -850 HU are black in the paper's window, the body (40 HU) is (40+125)/400*255
    assert np.mean(img[lung] == 0) > 0.9  # edge pixels blend with the body
    assert np.all(img[ndimage.binary_erosion(lung)] == 0)
    body = img > 0
    assert np.median(img[body]) == round(165 / 400 * 255)
    # expected lung area (1 mm pixels) at the central slice: two ellipses z ~ 0
    expected = sum(math.pi * a * b for _, a, b, _ in LUNGS)
    assert lung.sum() == pytest.approx(expected, rel=0.05)
    # two lungs, the wider one (patient's right) on the image's left
    labels, n = ndimage.label(lung)
    assert n == 2
    areas = sorted(((labels == i).sum(), ndimage.center_of_mass(labels == i)[1]) for i in (1, 2))
    assert areas[1][1] < 128 < areas[0][1]
    # manifest
    (row,) = _manifest(out)
    assert row["file"] == "chest_z030.png" and row["source"] == "ct" and row["label"] == ""
    assert row["volume"] == "chest" and row["slice_index"] == "30"
    assert (row["spacing_x"], row["spacing_y"], row["spacing_z"]) == ("1.0", "1.0", "1.0")
    assert row["window"] == "-125,275" and row["png_mode"] == "windowed8"
    assert float(row["lung_fraction"]) == pytest.approx(lung.mean(), abs=1e-4)
    assert row["lung_px_cropped"] == "0"
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]


def test_volume_to_slices_all_lung_every_and_manifest_merge(chest, tmp_path):
    vol, msk = chest
    out = tmp_path / "out"
    (out).mkdir()
    with open(out / "manifest.csv", "w", encoding="utf-8") as f:
        f.write("file,source,label,tb_label\nxray1.png,montgomery,,1\n")
    rows = ct.volume_to_slices(vol, msk, out, slices="all-lung")
    n = len(rows)
    assert 40 <= n <= 46  # lungs span 44 mm in z
    every = ct.volume_to_slices(vol, msk, out, slices=("every", 10))
    assert [r["slice_index"] for r in every] == [r["slice_index"] for r in rows][::10]
    table = _manifest(out)
    assert len(table) == n + 1  # re-written slices replace their rows
    assert table[0]["file"] == "xray1.png" and table[0]["tb_label"] == "1"
    assert len(list((out / "images").glob("*.png"))) == n == len(list((out / "masks").glob("*.png")))
    for r in rows:
        m = cv2.imread(str(out / "masks" / r["file"]), cv2.IMREAD_UNCHANGED)
        assert m.any()


def test_volume_to_slices_hu16_without_window(chest, tmp_path):
    vol, msk = chest
    (row,) = ct.volume_to_slices(vol, msk, tmp_path / "o", window=None, png_mode="hu16")
    img = cv2.imread(str(tmp_path / "o" / "images" / row["file"]), cv2.IMREAD_UNCHANGED)
    mask = cv2.imread(str(tmp_path / "o" / "masks" / row["file"]), cv2.IMREAD_UNCHANGED) > 0
    assert img.dtype == np.uint16
    hu = img.astype(int) - 32768
    assert np.median(hu[mask]) == -850 and hu.min() == -1000 and hu.max() == 40
    assert row["png_mode"] == "hu16" and row["window"] == ""


def test_volume_to_slices_orientation_independent(tmp_path):
    """The same anatomy stored with a flipped x axis gives the same PNGs (reoriented to LPS)."""
    outs = []
    for flip in (False, True):
        image, mask = make_chest()
        if flip:
            flipped = [sitk.Flip(im, (True, False, False)) for im in (image, mask)]
            for f in flipped:
                f.SetDirection((-1, 0, 0, 0, 1, 0, 0, 0, 1))
                f.SetOrigin((ORIGIN[0] + (SIZE[0] - 1) * SPACING[0], ORIGIN[1], ORIGIN[2]))
            image, mask = flipped
        d = tmp_path / f"flip{flip}"
        d.mkdir()
        sitk.WriteImage(image, str(d / "v.nii.gz"))
        sitk.WriteImage(mask, str(d / "v_mask.nii.gz"))
        (row,) = ct.volume_to_slices(d / "v.nii.gz", d / "v_mask.nii.gz", d / "out")
        outs.append([cv2.imread(str(d / "out" / sub / row["file"]), 0) for sub in ("images", "masks")])
    assert np.array_equal(outs[0][1], outs[1][1])
    assert np.abs(outs[0][0].astype(int) - outs[1][0]).max() <= 1


def test_volume_to_slices_bad_inputs_name_files(chest, tmp_path):
    vol, msk = chest
    image, mask = make_chest()
    mask.SetSpacing((0.7, 0.7, 2.0))
    sitk.WriteImage(mask, str(tmp_path / "wrong_mask.nrrd"))
    with pytest.raises(DataError, match="spacing") as err:
        ct.volume_to_slices(vol, tmp_path / "wrong_mask.nrrd", tmp_path / "o")
    assert str(vol) in str(err.value) and "wrong_mask.nrrd" in str(err.value)
    with pytest.raises(DataError, match="no lung voxels") as err:
        ct.volume_to_slices(vol, msk, tmp_path / "o", lung_labels=(2, 3))
    assert str(msk) in str(err.value)
    display = sitk.Cast(sitk.RescaleIntensity(image, 0, 255), sitk.sitkUInt8)
    sitk.WriteImage(display, str(tmp_path / "display.nrrd"))
    with pytest.raises(DataError, match="8-bit") as err:
        ct.volume_to_slices(tmp_path / "display.nrrd", msk, tmp_path / "o")
    assert "display.nrrd" in str(err.value)
    assert not (tmp_path / "o").exists()


def test_convert_ct_folder_pairs_by_name(tmp_path):
    image, mask = make_chest()
    src = tmp_path / "src"
    src.mkdir()
    sitk.WriteImage(image, str(src / "a.nrrd"))
    sitk.WriteImage(mask, str(src / "a_mask.nrrd"))
    sitk.WriteImage(image, str(src / "b.nii.gz"))
    sitk.WriteImage(mask, str(src / "b-mask.nii.gz"))
    sitk.WriteImage(image, str(src / "c.mha"))  # no mask: reported, not silently dropped
    summary = ct.convert_ct_folder(src, tmp_path / "out")
    assert summary["volumes"] == 2 and summary["slices"] == 2
    assert len(summary["problems"]) == 1 and "c.mha" in summary["problems"][0]
    assert sorted(r["file"] for r in _manifest(tmp_path / "out")) == ["a_z030.png", "b_z030.png"]
    single = ct.convert_ct_folder(src / "c.mha", tmp_path / "out2", mask=src / "a_mask.nrrd",
                                  slices="all-lung")
    assert single["volumes"] == 1 and single["slices"] > 40
    with pytest.raises(DataError, match="needs its mask"):
        ct.convert_ct_folder(src / "c.mha", tmp_path / "out3")


# --------------------------------------------------------------------------- prediction


def fake_model(calls):
    """A stand-in 2-D model: lungs = dark pixels enclosed by the (brighter) body."""

    def predict(batch):
        calls.append(batch.shape)
        assert batch.dtype == np.float32 and batch.min() >= 0 and batch.max() <= 1
        out = np.zeros(batch.shape[:3], np.uint8)
        for i, im in enumerate(batch[..., 0]):
            out[i] = ndimage.binary_fill_holes(im > 0.2) & (im < 0.05)
        return out

    return predict


@pytest.mark.parametrize("spacing", [1.0, (0.3, 0.3, 2.5)])  # the second one crops to 256
def test_predict_volume_writes_aligned_nifti(chest, tmp_path, spacing):
    vol, msk = chest
    calls = []
    out = tmp_path / "pred" / "chest_lungs.nii.gz"
    result = predict_volume(fake_model(calls), vol, out, spacing=spacing, batch_size=8)
    pred = sitk.ReadImage(str(out))
    truth = sitk.ReadImage(str(msk))
    assert pred.GetSize() == truth.GetSize()
    np.testing.assert_allclose(pred.GetSpacing(), SPACING, atol=1e-4)
    np.testing.assert_allclose(pred.GetOrigin(), ORIGIN, atol=1e-3)
    np.testing.assert_allclose(pred.GetDirection(), truth.GetDirection(), atol=1e-6)
    p, t = sitk.GetArrayFromImage(pred) > 0, sitk.GetArrayFromImage(truth) > 0
    dice = 2 * (p & t).sum() / (p.sum() + t.sum())
    assert dice > 0.95
    n = 60 if spacing == 1.0 else 24
    assert result["slices"] == n and sum(c[0] for c in calls) == n
    assert all(c[1:] == (256, 256, 1) and c[0] <= 8 for c in calls)
    assert result["out"] == str(out) and result["ms_per_slice"] >= 0
    assert [f.name for f in out.parent.iterdir()] == ["chest_lungs.nii.gz"]


def test_predict_volume_rejects_wrong_model_output(chest, tmp_path):
    vol, _ = chest
    with pytest.raises(ValueError, match="shape"):
        predict_volume(lambda b: np.zeros((len(b), 128, 128)), vol, tmp_path / "p.nii.gz")


# --------------------------------------------------------------------------- real CT


def test_real_ct_central_slice_shows_both_lungs(tmp_path, real_ct_dir):
    image = ct_io.read_volume(real_ct_dir / "ct-64.nrrd")
    assert sitk.GetArrayViewFromImage(ct.resample(ct.clip_hu(image), 1.0)).shape == (315, 267, 267)
    (row,) = ct.volume_to_slices(real_ct_dir / "ct-64.nrrd", real_ct_dir / "wholeLung-64.nrrd", tmp_path)
    assert row["slice_index"] == 157
    mask = cv2.imread(str(tmp_path / "masks" / row["file"]), cv2.IMREAD_UNCHANGED) > 0
    assert mask.shape == (256, 256)
    assert 0.3 <= mask.mean() <= 0.45
    labels, n = ndimage.label(mask)
    big = [i for i in range(1, n + 1) if (labels == i).sum() > 0.05 * mask.size]
    assert len(big) == 2
    cols = sorted(ndimage.center_of_mass(labels == i)[1] for i in big)
    assert cols[0] < 128 < cols[1]
    img = cv2.imread(str(tmp_path / "images" / row["file"]), cv2.IMREAD_UNCHANGED)
    assert np.mean(img[mask] == 0) > 0.9  # lungs are air: black in the [-125, 275] window


def test_dicom_two_series_in_one_folder_needs_a_choice(dicom_chest):
    image, files = dicom_chest
    folder = files[0].parent
    other = image[:, :, :4]
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for i in range(4):
        s = other[:, :, i]
        s.SetMetaData("0020|000e", "1.2.826.0.1.3680043.2.1125.1.99")
        s.SetMetaData("0008|0018", f"1.2.826.0.1.3680043.2.1125.1.99.{i + 1}")
        s.SetMetaData("0020|0032", "\\".join(f"{v:.4f}" for v in other.TransformIndexToPhysicalPoint((0, 0, i))))
        s.SetMetaData("0020|0037", "1\\0\\0\\0\\1\\0")
        writer.SetFileName(str(folder / f"other{i}.dcm"))
        writer.Execute(s)
    with pytest.raises(DataError, match="2 DICOM series") as err:
        ct_io.read_volume(folder)
    assert str(folder) in str(err.value)
    assert ct_io.read_volume(files[3]).GetSize() == image.GetSize()  # a file picks its series
    assert ct_io.read_volume(folder / "other1.dcm").GetSize() == (120, 100, 4)


def test_convert_ct_folder_with_dicom_series(tmp_path):
    image, mask = make_chest()
    src = tmp_path / "src"
    src.mkdir()
    write_dicom_series(image, src / "pat1")
    sitk.WriteImage(mask, str(src / "pat1_mask.nii.gz"))
    write_dicom_series(image, src / "pat2")  # no mask: reported
    (src / "notes").mkdir()  # not DICOM, no mask: ignored
    summary = ct.convert_ct_folder(src, tmp_path / "out")
    assert summary["volumes"] == 1 and summary["slices"] == 1
    assert len(summary["problems"]) == 1 and "pat2" in summary["problems"][0]
    (row,) = _manifest(tmp_path / "out")
    assert row["file"] == "pat1_z030.png" and row["volume"] == "pat1"


@pytest.mark.parametrize("patch", ["no_xform", "zero_pixdim"])
def test_nifti_without_spacing_is_refused(tmp_path, patch):
    image = sitk.GetImageFromArray(np.full((4, 5, 6), -1000, np.int16))  # spacing 1, 1, 1
    path = tmp_path / f"{patch}.nii"
    sitk.WriteImage(image, str(path))
    ct_io.read_volume(path)  # with its geometry it is fine
    header = bytearray(path.read_bytes())
    if patch == "no_xform":
        header[252:256] = np.zeros(2, "<i2").tobytes()  # qform_code, sform_code = 0
    else:
        header[80:92] = np.zeros(3, "<f4").tobytes()  # pixdim[1..3] = 0
        header[252:256] = np.zeros(2, "<i2").tobytes()
    path.write_bytes(bytes(header))
    with pytest.raises(DataError) as err:
        ct_io.read_volume(path)
    assert str(path) in str(err.value) and "spacing" in str(err.value)
