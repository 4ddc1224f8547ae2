"""lungseg_lib.engine.inference and ``lungseg predict``: a trained run (the session's smoke run)
on image files of any size and on CT volumes, slice by slice."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import SimpleITK as sitk
from ct_volumes import make_chest, write_dicom_series

from lungseg_lib.cli import main


# --------------------------------------------------------------------------- images

def test_predict_writes_masks_at_input_size_that_match_the_truth(tmp_path):
    """A non-square file through ``lungseg predict`` (a tiny model that finds the dark lung
    fields): the label mask has the file's size, both lungs, and the known lungs (Dice)."""
    from xray_helpers import chest_picture, tiny_model_dir

    from lungseg_lib.core.metrics import dice

    model = tiny_model_dir(tmp_path / "tiny")
    img, truth = chest_picture(96, 120)
    cv2.imwrite(str(tmp_path / "x.png"), (img * 255).round().astype(np.uint8))
    assert main(["predict", "--run", str(model), str(tmp_path / "x.png"), "--out", str(tmp_path / "o")]) == 0
    mask = cv2.imread(str(tmp_path / "o/x_mask.png"), cv2.IMREAD_UNCHANGED)
    over = cv2.imread(str(tmp_path / "o/x_overlay.png"))
    assert mask.shape == (96, 120) and set(np.unique(mask)) == {0, 1, 2}  # label image: right, left lung
    assert dice(mask > 0, truth) > 0.9
    assert over.shape == (96, 120, 3)


def test_predict_without_weights_says_how_to_get_them(smoke_run, tmp_path, capsys):
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "config.json").write_text((smoke_run / "config.json").read_text(encoding="utf-8"))
    assert main(["predict", "--run", str(bare), "x.png", "--out", str(tmp_path)]) == 2
    assert "no weights" in capsys.readouterr().err


# --------------------------------------------------------------------------- CT volumes

def _assert_mask_like(mask_path: Path, image: sitk.Image):
    pred = sitk.ReadImage(str(mask_path))
    assert pred.GetSize() == image.GetSize()
    for prop in ("GetSpacing", "GetOrigin", "GetDirection"):
        np.testing.assert_allclose(getattr(pred, prop)(), getattr(image, prop)(), atol=1e-4)
    assert set(np.unique(sitk.GetArrayViewFromImage(pred))) <= {0, 1}


def test_predict_ct_volume_and_images(smoke_run, chest, tmp_path, capsys):
    vol, _ = chest
    dicom = tmp_path / "series"
    write_dicom_series(make_chest()[0][:, :, 6:18], dicom)
    png = tmp_path / "xray.png"
    cv2.imwrite(str(png), np.full((80, 90), 128, np.uint8))
    out = tmp_path / "pred"
    assert main(["predict", "--run", str(smoke_run), str(vol), str(dicom), str(png), "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(str(out / "chest_mask.nii.gz")) and "ms per slice" in lines[0]
    assert lines[1].startswith(str(out / "series_mask.nii.gz"))
    _assert_mask_like(out / "chest_mask.nii.gz", sitk.ReadImage(str(vol)))
    _assert_mask_like(out / "series_mask.nii.gz", sitk.ReadImage(str(vol))[:, :, 6:18])
    assert cv2.imread(str(out / "xray_mask.png"), 0).shape == (80, 90)  # 2-D path unchanged


def test_predict_ct_volume_without_post(smoke_run, chest, tmp_path):
    from lungseg_lib.engine.inference import predict_ct_volume

    vol, _ = chest
    result = predict_ct_volume(smoke_run, vol, tmp_path, post=False, size=128)
    assert result["out"] == str(tmp_path / "chest_mask.nii.gz") and result["slices"] == 60
    assert result["ms_per_slice"] > 0
    _assert_mask_like(tmp_path / "chest_mask.nii.gz", sitk.ReadImage(str(vol)))


def test_predict_bad_volume_is_a_failure_named_by_its_file(smoke_run, tmp_path, capsys):
    """A volume that is not a CT in HU fails alone: named, summarised, exit 1."""
    image, _ = make_chest()
    path = tmp_path / "display.nii.gz"
    sitk.WriteImage(sitk.Cast(sitk.RescaleIntensity(image, 0, 255), sitk.sitkUInt8), str(path))
    assert main(["predict", "--run", str(smoke_run), str(path), "--out", str(tmp_path / "p")]) == 1
    err = capsys.readouterr().err
    assert f"lungseg: error: {path}:" in err and "8-bit" in err and "1 input(s) failed" in err


def test_time_segment_times_every_call_and_records_the_machine(tmp_path):
    import cv2

    from lungseg_lib import load_model
    from lungseg_lib.bench.usage import time_segment
    from xray_helpers import chest_picture, tiny_model_dir

    image, _ = chest_picture()
    paths = []
    for i in range(2):
        paths.append(tmp_path / f"x{i}.png")
        cv2.imwrite(str(paths[-1]), (255 * image).astype("uint8"))
    record = time_segment(paths, load_model(tiny_model_dir(tmp_path / "model")), warmup=1, repeats=2)
    assert record["calls"] == 4 and record["segment_ms"]["n"] == 4
    assert 0 < record["segment_ms"]["q1"] <= record["segment_ms"]["median"] <= record["segment_ms"]["q3"]
    assert record["network_ms"]["median"] > 0 and record["machine"]["usable_cpus"] >= 1
