"""Data-folder scanning, checking, splitting and loading, with every bad input the CLI reports."""

import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from lungseg_lib import cli
from lungseg_lib.data.folders import (check_folder, find_pairs, load_arrays, load_split, make_split,
                                      resolve_data_dir, write_split)
from lungseg_lib.errors import DataError
from lungseg_lib.data.imageio import binarize_mask, read_image, read_mask, read_pixels

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def folder(tmp_path, synth_dir):
    """A private copy of 6 synthetic pairs that a test may break."""
    dst = tmp_path / "d"
    for sub in ("images", "masks"):
        (dst / sub).mkdir(parents=True)
        for f in sorted((synth_dir / sub).iterdir())[:6]:
            shutil.copy(f, dst / sub / f.name)
    return dst


def test_synthetic_folder_is_clean(synth_dir):
    scan, stats = check_folder(synth_dir)
    assert len(scan.pairs) == 40 and scan.problems == []
    assert set(stats.source) == {"synth_a", "synth_b"}
    assert 0.1 < stats.mask_fraction.median() < 0.4


def test_mask_name_variant_and_formats(folder):
    img = folder / "images" / "SYN_0000_0.png"
    m = folder / "masks" / "SYN_0000_0.png"
    m.rename(folder / "masks" / "SYN_0000_0_mask.png")
    # 16-bit TIFF image, 0/1 BMP mask, JPEG image
    a = cv2.imread(str(img), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(folder / "images" / "T16.tif"), a.astype(np.uint16) * 257)
    cv2.imwrite(str(folder / "masks" / "T16.bmp"), (a > 100).astype(np.uint8))
    cv2.imwrite(str(folder / "images" / "J.jpg"), a)
    cv2.imwrite(str(folder / "masks" / "J.png"), (a > 100).astype(np.uint8) * 255)
    scan, stats = check_folder(folder)
    assert scan.problems == []
    assert {"SYN_0000_0", "T16", "J"} <= {p.name for p in scan.pairs}
    assert read_pixels(folder / "images" / "T16.tif").dtype == np.uint16
    np.testing.assert_allclose(read_image(folder / "images" / "T16.tif"), a / 255.0, atol=1e-6)  # a * 257 / 65535
    assert read_mask(folder / "masks" / "T16.bmp").sum() == (a > 100).sum()


def test_dicom_is_read(tmp_path):
    pydicom = pytest.importorskip("pydicom")
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    ds = FileDataset(str(tmp_path / "x.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
    arr = (np.arange(64 * 48).reshape(48, 64) % 4096).astype(np.uint16)
    ds.Rows, ds.Columns, ds.BitsAllocated, ds.BitsStored, ds.HighBit = 48, 64, 16, 12, 11
    ds.SamplesPerPixel, ds.PixelRepresentation, ds.PhotometricInterpretation = 1, 0, "MONOCHROME1"
    ds.PixelData = arr.tobytes()
    ds.save_as(tmp_path / "x.dcm", enforce_file_format=True)
    out = read_image(tmp_path / "x.dcm")
    assert out.shape == (48, 64) and out.dtype == np.float32
    assert np.allclose(out, 1 - arr / 4095)  # 12 bits stored; MONOCHROME1 inverted to bright = dense


def test_bad_inputs_each_reported_with_file(folder, capsys):
    names = sorted(p.name for p in (folder / "images").iterdir())
    # truncated PNG
    trunc = folder / "images" / names[0]
    trunc.write_bytes(trunc.read_bytes()[:200])
    # image without mask
    (folder / "masks" / names[1]).unlink()
    # mask of the wrong size
    cv2.imwrite(str(folder / "masks" / names[2]), np.zeros((30, 20), np.uint8))
    # unreadable file
    (folder / "images" / names[3]).write_bytes(b"not an image at all")
    # duplicate stem
    shutil.copy(folder / "images" / names[4], folder / "images" / (names[4][:-4] + ".jpg"))
    # mask without image
    cv2.imwrite(str(folder / "masks" / "ORPHAN.png"), np.zeros((64, 64), np.uint8))
    code = cli.main(["data", "check", str(folder)])
    out = capsys.readouterr().out
    problems = [line for line in out.splitlines() if line.startswith("PROBLEM")]
    assert code == 1
    expected = {names[0]: "truncated PNG", names[1]: "no mask", names[2]: "differs from image size",
                names[3]: "unreadable", names[4][:-4]: "duplicate stem", "ORPHAN.png": "mask without image"}
    for name, what in expected.items():
        assert any(name in line and what in line for line in problems), (name, what, out)
    assert "mask size 20x30 differs from image size 64x64" in out


def test_grey_and_01_masks_binarize_by_rule():
    grey = np.array([[0] * 10 + [100, 128] + [255] * 10], np.uint8)  # two antialiased edge pixels
    b, was_binary = binarize_mask(grey)
    assert b.tolist() == [[False] * 11 + [True] * 11] and not was_binary
    b, was_binary = binarize_mask(np.array([[0, 1]], np.uint8))
    assert b.tolist() == [[False, True]] and was_binary


def test_empty_folder_and_missing_data_messages(tmp_path, monkeypatch):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    with pytest.raises(DataError, match="no image files"):
        find_pairs(tmp_path)
    monkeypatch.delenv("LUNGSEG_DATA", raising=False)
    with pytest.raises(DataError, match="LUNGSEG_DATA.*lungseg data fetch"):
        resolve_data_dir(None)
    with pytest.raises(DataError, match="no images/"):
        resolve_data_dir(tmp_path / "nothing")


def test_split_is_stratified_deterministic_and_checked(synth_dir, tmp_path):
    scan, _ = check_folder(synth_dir)
    a, b = make_split(scan.pairs, seed=3), make_split(scan.pairs, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert not make_split(scan.pairs, seed=4).equals(a)
    counts = a.groupby(["source", "label", "split"]).size().unstack()
    assert (counts["test"] == 2).all() and (counts["train"] == 7).all()  # 10 per group: 7/1/2
    path = write_split(a, tmp_path / "split.csv")
    split = load_split(path, synth_dir)
    assert sum(len(v) for v in split.values()) == 40
    a.loc[0, "file"] = "GONE_1.png"
    write_split(a, path)
    with pytest.raises(DataError, match="not usable pairs.*GONE_1.png"):
        load_split(path, synth_dir)


def test_load_arrays_resizes_and_normalizes(synth_dir):
    scan, _ = check_folder(synth_dir)
    x, y = load_arrays(scan.pairs[:4], 32)
    assert x.shape == (4, 32, 32, 1) and y.shape == (4, 32, 32, 1)
    assert 0 <= x.min() and x.max() <= 1
    assert set(np.unique(y)) == {0.0, 1.0}


def test_committed_split_matches_real_data(real_data_dir):
    """All 704 real pairs load, and the committed split names only usable pairs."""
    from pathlib import Path

    REPO = Path(__file__).resolve().parents[1]
    scan, stats = check_folder(real_data_dir)
    assert len(scan.pairs) == 704 and scan.problems == []
    split = load_split(REPO / "data/splits/shenzhen_montgomery_512.csv", real_data_dir)
    assert {k: len(v) for k, v in split.items()} == {"train": 492, "val": 71, "test": 141}


def test_the_papers_own_data_runs_the_whole_study(tmp_path, synth_dir, capsys, monkeypatch):
    """book/data.md's commands for Zhang's published 800/200 set, on a small folder in the layout
    they ask for (images/ and masks/, no manifest): check, split with the paper's own test set
    into data/splits/NAME.csv, train a tiny run (the smoke profile, one epoch) and evaluate it."""
    import os

    data = tmp_path / f"zhang_lungs_test_{os.getpid()}"
    for sub in ("images", "masks"):
        shutil.copytree(synth_dir / sub, data / sub)
    for i, mask in enumerate(sorted((data / "masks").iterdir())):  # both mask namings of the layout
        if i % 2:
            mask.rename(mask.with_name(f"{mask.stem}_mask{mask.suffix}"))
    names = sorted(p.stem for p in (data / "images").iterdir())
    test_list = tmp_path / "test_images.txt"
    test_list.write_text("\n".join(f"{n}.png" for n in names[:8]) + "\n", encoding="utf-8")
    split = REPO / "data" / "splits" / f"{data.name}.csv"  # where `lungseg train` looks for it
    monkeypatch.setenv("LUNGSEG_DATA", str(data))  # as book/data.md says
    try:
        assert cli.main(["data", "check", str(data)]) == 0
        assert cli.main(["data", "split", str(data), "--out", str(split), "--test-list", str(test_list)]) == 0
        table = pd.read_csv(split)
        assert sorted(table.loc[table.split == "test", "file"]) == [f"{n}.png" for n in names[:8]]
        assert set(table.split) == {"train", "val", "test"} and len(table) == len(names)
        run = tmp_path / "runs_zhang" / "smoke" / "unet3_compact"
        assert cli.main(["train", "--model", "unet3_compact", "--profile", "smoke", "--data", str(data),
                         "--set", "epochs=1", "--run-dir", str(run)]) == 0
    finally:
        split.unlink(missing_ok=True)
    assert pd.read_json(run / "metrics.json", typ="series")["n_images"] == 8  # the paper's test set only
    bad = tmp_path / "bad.txt"
    bad.write_text("NOT_AN_IMAGE\n", encoding="utf-8")
    assert cli.main(["data", "split", str(data), "--out", str(tmp_path / "x.csv"), "--test-list", str(bad)]) == 2
    assert "NOT_AN_IMAGE" in capsys.readouterr().err


def test_a_data_set_is_found_by_name_beside_lungseg_data(tmp_path, monkeypatch, synth_dir):
    """``data: covid_pneumonia_512`` in a profile: the folder of that name beside the one
    ``$LUNGSEG_DATA`` points at (as CI and the book lay the sets out), or the repository's data/."""
    from lungseg_lib.data.folders import locate_data, resolve_data_dir

    for name in ("set_a", "set_b"):
        shutil.copytree(synth_dir, tmp_path / "sets" / name)
    monkeypatch.setenv("LUNGSEG_DATA", str(tmp_path / "sets" / "set_a"))
    assert resolve_data_dir("set_b") == tmp_path / "sets" / "set_b"
    assert resolve_data_dir(None) == tmp_path / "sets" / "set_a"
    assert locate_data("set_b", tmp_path / "repo") == tmp_path / "sets" / "set_b"
    with pytest.raises(DataError, match="not a data folder"):
        resolve_data_dir("set_c")


def test_check_compares_a_folder_named_as_a_fetched_set_with_its_pinned_list(tmp_path, synth_dir, capsys):
    """``lungseg data check`` on a folder named as a data set this project fetches also checks
    every file against the shipped SHA-256 list (here: synthetic files, so they differ)."""
    shutil.copytree(synth_dir, tmp_path / "shenzhen_montgomery_512")
    assert cli.main(["data", "check", str(tmp_path / "shenzhen_montgomery_512")]) == 1
    assert "not the published shenzhen_montgomery_512" in capsys.readouterr().out
