"""`lungseg predict` for users and the Python API, end to end with a tiny model saved by the
test as the default model: label masks at the original size, overlays, lungs.csv with areas
and warnings, DICOM spacing, failures reported while the other files are processed; and
`lungseg evaluate` without --run."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pandas as pd
import pytest
from xray_helpers import chest_picture, tiny_model_dir, write_dicom

from lungseg_lib import api, cli
from lungseg_lib.engine import lungs, weights


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture
def default_model(tiny, monkeypatch):
    """The tiny model in the place of the package's default model."""
    monkeypatch.setattr(weights, "DEFAULT_MODEL_DIR", tiny)
    return tiny


def u8(img):
    return (img * 255).round().astype(np.uint8)


def test_without_default_model_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(weights, "DEFAULT_MODEL_DIR", tmp_path / "nothing")
    img, _ = chest_picture()
    cv2.imwrite(str(tmp_path / "x.png"), u8(img))
    assert cli.main(["predict", str(tmp_path / "x.png"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "the default model is not shipped with this version of lungseg yet" in err and "--run" in err
    assert not (tmp_path / "o").exists()
    with pytest.raises(weights.DefaultModelMissing):
        api.segment(img)


def test_predict_folder_with_dicom_ct_and_junk(default_model, tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    img, truth = chest_picture(96, 80)
    cv2.imwrite(str(src / "a.png"), u8(img))
    cv2.imwrite(str(src / "b16.tif"), (img * 4000).astype(np.uint16))  # 12-bit values in 16 bits
    # MONOCHROME1 (air bright) with a window: reads back as the same picture
    write_dicom(src / "c.dcm", ((1 - img) * 4000).astype(np.uint16), photometric="MONOCHROME1",
                window=(2000, 4000), pixel_spacing=(0.5, 0.4))
    write_dicom(src / "ct.dcm", (img * 1000).astype(np.uint16), modality="CT")
    (src / "notes.txt").write_text("not an image", encoding="utf-8")
    out = tmp_path / "out"
    code = cli.main(["predict", str(src), str(src / "notes.txt"), str(tmp_path / "none*.png"),
                     str(tmp_path / "scan.nii.gz"), "--out", str(out), "--batch-size", "2"])
    assert code == 1
    captured = capsys.readouterr()
    assert f"{src / 'ct.dcm'}: a CT DICOM (Modality CT)" in captured.err
    assert f"{src / 'notes.txt'}: not an image file" in captured.err
    assert f"{tmp_path / 'scan.nii.gz'}: a CT volume; the default model reads chest X-rays" in captured.err
    assert "4 input(s) failed" in captured.err
    assert f"{out / 'lungs.csv'}: 3 image(s) segmented" in captured.out

    table = pd.read_csv(out / "lungs.csv")
    assert table["status"].tolist() == ["failed", "ok", "ok", "ok", "failed", "failed"]  # pattern first
    ok = table[table.status == "ok"].set_index("mask")
    assert list(ok.index) == ["a_mask.png", "b16_mask.png", "c_mask.png"]
    for name in ok.index:
        labels = cv2.imread(str(out / name), cv2.IMREAD_UNCHANGED)
        assert labels.shape == (96, 80) and labels.dtype == np.uint8 and set(np.unique(labels)) == {0, 1, 2}
        assert (labels[:, :40][labels[:, :40] > 0] == lungs.RIGHT).all()  # image left: right lung
        assert (labels[:, 40:][labels[:, 40:] > 0] == lungs.LEFT).all()
        dice = 2 * ((labels > 0) & truth).sum() / ((labels > 0).sum() + truth.sum())
        assert dice > 0.9, name
        overlay = cv2.imread(str(out / name.replace("_mask", "_overlay")))
        assert overlay.shape == (96, 80, 3)
        assert ok.loc[name, "right_lung_px"] == (labels == 1).sum()
    c = ok.loc["c_mask.png"]
    assert c.spacing_source == "PixelSpacing" and c.spacing_row_mm == 0.5
    assert c.right_lung_cm2 == pytest.approx(c.right_lung_px * 0.5 * 0.4 / 100, abs=0.01)
    assert c.right_left_ratio == pytest.approx(c.right_lung_px / c.left_lung_px, abs=1e-3)
    assert np.isnan(ok.loc["a_mask.png", "right_lung_cm2"])
    assert ok["warning"].isna().all()  # two lungs of usual size: no warning
    assert "CT DICOM" in table.set_index("file").loc[str(src / "ct.dcm"), "error"]


def test_pixel_spacing_option_and_no_post(default_model, tmp_path):
    img, _ = chest_picture(64, 64)
    img[5:8, 30:33] = 0.1  # a dark speck: a third component
    cv2.imwrite(str(tmp_path / "x.png"), u8(img))
    out = tmp_path / "o"
    assert cli.main(["predict", str(tmp_path / "x.png"), "--out", str(out), "--pixel-spacing", "0.2"]) == 0
    row = pd.read_csv(out / "lungs.csv").iloc[0]
    assert row.spacing_source == "--pixel-spacing" and row.right_lung_cm2 == pytest.approx(
        row.right_lung_px * 0.04 / 100, abs=0.01)
    assert cli.main(["predict", str(tmp_path / "x.png"), "--out", str(out), "--no-post"]) == 0
    row = pd.read_csv(out / "lungs.csv").iloc[0]
    assert "3 separate parts" in row.warning
    assert cli.main(["predict", str(tmp_path / "x.png"), "--out", str(out), "--pixel-spacing", "x"]) == 2


def test_many_images_progress_and_name_clashes(default_model, tmp_path, capsys):
    img, _ = chest_picture(48, 48)
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        for i in range(3):
            cv2.imwrite(str(tmp_path / folder / f"img{i}.png"), u8(img))
    out = tmp_path / "o"
    assert cli.main(["predict", str(tmp_path / "*" / "*.png"), "--out", str(out), "--batch-size", "4"]) == 0
    table = pd.read_csv(out / "lungs.csv")
    assert len(table) == 6 and table["mask"].nunique() == 6 and "img0-2_mask.png" in set(table["mask"])
    assert "6/6" in capsys.readouterr().err  # the progress bar


def test_predict_help_states_the_label_convention(capsys):
    with pytest.raises(SystemExit):
        cli.main(["predict", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "1 right lung, 2 left lung" in text and "right lung appears on the image's LEFT side" in text


def test_api_segment_array_and_path(default_model, tmp_path):
    from lungseg_lib.core.metrics import dice

    img, truth = chest_picture(90, 70)
    r = api.segment(img)
    assert r.labels.shape == r.probability.shape == (90, 70) and r.mask.dtype == bool
    assert dice(r.mask, truth) > 0.9  # the known lungs, at the image's own (non-square) size
    assert 0 <= r.probability.min() and r.probability.max() <= 1
    assert r.areas.right_px > 0 and r.areas.left_px > 0 and r.areas.right_cm2 is None
    assert isinstance(r.warnings, list)
    r2 = api.segment(u8(img), pixel_spacing=(0.3, 0.3))
    assert r2.areas.right_cm2 == pytest.approx(r2.areas.right_px * 0.09 / 100)
    path = write_dicom(tmp_path / "x.dcm", (img * 4000).astype(np.uint16), pixel_spacing=(0.2, 0.2))
    r3 = api.segment(path, model=api.load_model(default_model))
    assert r3.pixel_spacing == (0.2, 0.2) and r3.source == str(path)
    assert dice(r3.mask, truth) > 0.9 and dice(r2.mask, truth) > 0.9  # 12-bit DICOM and 8-bit array
    assert r3.overlay().shape == (90, 70, 3)
    # the shapes arrays come in: (H, W, 1) and RGB of floats in [0, 1] are the same grey image
    np.testing.assert_array_equal(api.segment(img[..., None]).labels, r.labels)
    np.testing.assert_array_equal(api.segment(np.repeat(img[..., None], 3, axis=2)).labels, r.labels)
    assert api.segment(img, pixel_spacing=0.3).areas.right_cm2 == pytest.approx(r.areas.right_px * 0.09 / 100)
    for bad in (-1, 0, float("nan"), (0.1, 0.2, 0.3)):
        with pytest.raises(ValueError, match="pixel_spacing"):
            api.segment(img, pixel_spacing=bad)
    import lungseg_lib

    assert lungseg_lib.segment is api.segment and lungseg_lib.load_model is api.load_model


def test_import_is_light():
    import subprocess
    import sys

    code = "import sys, lungseg_lib; print('tensorflow' in sys.modules or 'keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, encoding="utf-8", errors="replace", check=True).stdout
    assert out.strip() == "False"


def test_evaluate_without_run_scores_the_default_model(tiny, synth_dir, tmp_path, monkeypatch):
    """`lungseg evaluate --data DATA` (no --run) scores the default model on its own test split,
    found in the data folder and checked by fingerprint; results go to the working folder."""
    import shutil

    from lungseg_lib.data.folders import check_folder, fingerprint, load_split, make_split, write_split

    model = tmp_path / "default"
    shutil.copytree(tiny, model)
    scan, _ = check_folder(synth_dir)
    write_split(make_split(scan.pairs, seed=0), model / "synth_split.csv")
    split = load_split(model / "synth_split.csv", synth_dir)
    info = json.loads((model / "config.json").read_text(encoding="utf-8"))
    info.update(data_root=synth_dir.name, split_file="data/splits/synth_split.csv",
                data_fingerprint=fingerprint(sum(split.values(), [])))
    (model / "config.json").write_text(json.dumps(info), encoding="utf-8")
    monkeypatch.setattr(weights, "DEFAULT_MODEL_DIR", model)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["evaluate", "--data", str(synth_dir), "--no-robustness"]) == 0
    metrics = json.loads((tmp_path / cli.DEFAULT_EVALUATION / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["n_images"] == len(split["test"]) and metrics["split"] == "test"
    assert not (model / "metrics.json").exists()  # nothing written into the model's folder
    # a model folder given by path (exported, fetched) is not written into either
    (tmp_path / cli.DEFAULT_EVALUATION / "metrics.json").unlink()
    assert cli.main(["evaluate", str(model), "--data", str(synth_dir), "--no-robustness"]) == 0
    assert (tmp_path / cli.DEFAULT_EVALUATION / "metrics.json").is_file()
    assert not (model / "metrics.json").exists()


def test_evaluate_and_ct_volumes_without_a_model_say_what_to_do(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(weights, "DEFAULT_MODEL_DIR", tmp_path / "nothing")
    assert cli.main(["evaluate", "--data", str(tmp_path), "--no-robustness"]) == 2
    assert "default model is not shipped" in capsys.readouterr().err
    assert cli.main(["predict", str(tmp_path / "chest.nii.gz"), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "chest.nii.gz: a CT volume; the default model reads chest X-rays" in err and "--run" in err
    assert cli.main(["evaluate", "a", "--run", "b"]) == 2
    assert "two runs given" in capsys.readouterr().err


def test_evaluate_published_weights_without_data_asks_for_it(tiny, tmp_path, capsys):
    """Fetched weights record no data folder: evaluating them needs --data, and says so."""
    import shutil

    folder = tmp_path / "fetched"
    shutil.copytree(tiny, folder)
    info = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    info.pop("data_root")
    (folder / "config.json").write_text(json.dumps(info), encoding="utf-8")
    assert cli.main(["evaluate", str(folder), "--no-robustness", "--out", str(tmp_path / "o")]) == 2
    assert "do not record the data they were trained on" in capsys.readouterr().err


def test_unwritable_out_is_a_clear_error(default_model, tmp_path, capsys):
    img, _ = chest_picture(64, 64)
    cv2.imwrite(str(tmp_path / "a.png"), u8(img))
    (tmp_path / "taken").write_text("a file, not a folder", encoding="utf-8")
    assert cli.main(["predict", str(tmp_path / "a.png"), "--out", str(tmp_path / "taken")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lungseg: error:") and "taken" in err and "Traceback" not in err


def test_usage_page_shows_the_users_call_or_says_there_is_no_model(default_model, tmp_path):
    """report.usage: the page's sentence, table and numbers from segment()'s result; without a
    model, a message and NaN, never a made-up result; the warnings' ranges in percent."""
    import math
    from types import SimpleNamespace

    from lungseg_lib.report import usage

    img, truth = chest_picture(96, 80)
    cv2.imwrite(str(tmp_path / "x.png"), u8(img))
    cv2.imwrite(str(tmp_path / "x_mask.png"), u8(truth.astype(float)))
    pair = SimpleNamespace(image=tmp_path / "x.png", mask=tmp_path / "x_mask.png")
    folder, why = usage.find_model("")
    assert folder == default_model and why == ""
    shown = usage.example(api.segment(pair.image, model=api.load_model(folder)), pair, "x")
    v = shown["values"]
    assert set(v) == set(usage.EXAMPLE_KEYS) and v["dice"] > 0.9 and v["right_px"] > 0
    assert f"a right lung of {int(v['right_px']):,} pixels" in shown["sentence"]
    assert shown["table"]["File"].tolist() == ["x.png"]
    assert usage.status(folder).startswith("This build of the book has it: the Compact 3-level U-Net at ")
    assert "does not have it yet" in usage.status(None)
    assert usage.status(folder, "runs/x").startswith("This page shows the model 'runs/x': ")
    assert ("model card" in usage.status(folder)) == (folder / "model_card.md").is_file()
    assert usage.best_sentence(["unet22", "unet"]).endswith("validation Dice is the U-Net (Table I).")
    assert "not known yet" in usage.best_sentence(None)
    none = usage.example(None, pair, "x", model="runs/nothing")
    assert all(math.isnan(x) for x in none["values"].values())
    assert "The model 'runs/nothing' is not here" in none["sentence"]
    assert usage.find_model(str(tmp_path / "nothing"))[0] is None
    r = usage.range_values(lungs.load_training_ranges())
    assert r["range_n"] > 100 and 0 < r["range_right_p1"] < r["range_right_p99"] < 100
    assert 0 < r["range_ratio_p1"] < 1 < r["range_ratio_p99"]
