"""Shared fixtures: small synthetic data (X-ray pairs, a CT chest, run folders), a smoke run,
and the real data sets when they are there (LUNGSEG_DATA; the CIP CT volumes)."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory) -> Path:
    """40 synthetic 64x64 pairs in the standard layout."""
    from lungseg_lib.data.synthetic import make_synthetic_dataset

    return make_synthetic_dataset(tmp_path_factory.mktemp("synth"), n=40, size=64, seed=0)


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The real data folder from LUNGSEG_DATA; tests using it are skipped with a reason otherwise."""
    path = os.environ.get("LUNGSEG_DATA")
    if not path or not Path(path, "images").is_dir():
        pytest.skip("LUNGSEG_DATA is not set to a data folder (set it to run the real-data tests)")
    return Path(path)


@pytest.fixture(scope="session")
def real_ct_dir() -> Path:
    """The real CT folder (ct-64.nrrd + wholeLung-64.nrrd): LUNGSEG_CT_DATA, else ../shared/data/ct_cip
    beside the repository (as the CT page finds it: lungseg_lib.report.ct.ct_folder)."""
    from lungseg_lib.project import repo_path
    from lungseg_lib.report.ct import ct_folder

    d = repo_path(ct_folder())
    if (d / "ct-64.nrrd").is_file() and (d / "wholeLung-64.nrrd").is_file():
        return d
    pytest.skip("real CT (ct-64.nrrd, wholeLung-64.nrrd) not found: set LUNGSEG_CT_DATA or put it "
                "in ../shared/data/ct_cip")


@pytest.fixture
def chest(tmp_path) -> tuple[Path, Path]:
    """The synthetic chest CT of tests/ct_volumes.py and its lung mask, as NRRD files."""
    import SimpleITK as sitk
    from ct_volumes import make_chest

    image, mask = make_chest()
    sitk.WriteImage(image, str(tmp_path / "chest.nrrd"))
    sitk.WriteImage(mask, str(tmp_path / "chest_mask.nrrd"))
    return tmp_path / "chest.nrrd", tmp_path / "chest_mask.nrrd"


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> Path:
    """`lungseg train --model unet --profile smoke` into a fresh folder (through papermill)."""
    from lungseg_lib import cli

    run_dir = tmp_path_factory.mktemp("runs") / "unet"
    assert cli.main(["train", "--model", "unet", "--profile", "smoke", "--run-dir", str(run_dir)]) == 0
    return run_dir


def make_fake_run(runs_dir: Path, profile: str, model: str, dice: list[float], data_root="nowhere",
             data="nowhere", seed: int = 0) -> Path:
    """A minimal evaluated run folder with per-image Dice values ``dice`` (IoU = Dice / 2)."""
    import cv2
    import numpy as np
    import pandas as pd

    from lungseg_lib import files
    from lungseg_lib.engine import runfolder
    from lungseg_lib.core.stats import summarize

    path = runfolder.run_dir_for(profile, model, seed, runs_dir)
    names = [f"IMG_{i}" for i in range(len(dice))]
    table = pd.DataFrame({"name": names, "source": "s", "label": "0", "brightness": np.linspace(0.2, 0.8, len(dice)),
                          "contrast": 0.2, "mask_fraction": 0.25, "removed_components": [1] + [0] * (len(dice) - 1),
                          "removed_area": [30] + [0] * (len(dice) - 1), "dice": np.array(dice) - 0.01,
                          "iou": np.array(dice) / 2, "dice_post": dice, "iou_post": np.array(dice) / 2})
    files.write_csv(path / runfolder.PER_IMAGE, table)
    files.write_json(path / runfolder.CONFIG, {"config": {"model": model, "profile": profile, "data": data, "epochs": 3},
                                         "data_root": str(data_root), "split_file": "data/splits/nowhere.csv",
                                         "data_fingerprint": "abc", "environment": {"git_commit": "1234567890ab"}})
    files.write_json(path / runfolder.METRICS, {
        "model": model, "profile": profile, "n_images": len(dice), "image_size": 64,
        "raw": {"dice": summarize(table.dice), "iou": summarize(table.iou)},
        "post": {"dice": summarize(table.dice_post), "iou": summarize(table.iou_post)}, "timings": {}})
    (path / runfolder.PREDICTIONS).mkdir(exist_ok=True)
    for name in names:
        cv2.imwrite(str(path / runfolder.PREDICTIONS / f"{name}.png"), np.zeros((8, 8), np.uint8))
    return path


@pytest.fixture
def fake_run():
    """:func:`make_fake_run`: ``fake_run(runs_dir, profile, model, dice, ...)`` makes an evaluated run."""
    return make_fake_run
