"""Shared fixtures: a small synthetic data set, and the real one when LUNGSEG_DATA is set."""

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
    """The real CT folder (ct-64.nrrd + wholeLung-64.nrrd) from LUNGSEG_CT_DATA or ../shared."""
    for d in (os.environ.get("LUNGSEG_CT_DATA"), REPO.parent / "shared/data/ct_cip"):
        if d and (Path(d) / "ct-64.nrrd").is_file() and (Path(d) / "wholeLung-64.nrrd").is_file():
            return Path(d)
    pytest.skip("real CT (ct-64.nrrd, wholeLung-64.nrrd) not found: set LUNGSEG_CT_DATA or put it "
                "in ../shared/data/ct_cip")


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> Path:
    """`lungseg train --model unet --profile smoke` into a fresh folder (through papermill)."""
    from lungseg_lib import cli

    run_dir = tmp_path_factory.mktemp("runs") / "unet"
    assert cli.main(["train", "--model", "unet", "--profile", "smoke", "--run-dir", str(run_dir)]) == 0
    return run_dir
