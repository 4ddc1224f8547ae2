"""Where a training configuration's data are, and preparing them before training.

:func:`prepare_data` is the data step that comes before training (``lungseg train`` and the
training notebook call it): it writes the synthetic set of a smoke run and a missing split.
:func:`data_paths` only looks: training reads what was prepared and never writes data.
"""

from __future__ import annotations

from pathlib import Path

from ..data.folders import check_folder, make_split, resolve_data_dir, write_split
from ..data.synthetic import make_synthetic_dataset
from ..errors import DataError
from ..project import REPO_ROOT
from .config import TrainConfig

SYNTHETIC_N = 48  # pairs of the synthetic set of smoke runs


def synthetic_dir(size: int) -> Path:
    """The synthetic data folder of smoke runs at ``size`` pixels: ``data/synthetic_<size>``."""
    return REPO_ROOT / "data" / f"synthetic_{size}"


def split_path(config: TrainConfig, root: Path) -> Path:
    """The config's split CSV (a relative path is the repository's), else
    ``data/splits/<data folder name>.csv``."""
    if not config.split:
        return REPO_ROOT / "data" / "splits" / f"{root.name}.csv"
    return Path(config.split) if Path(config.split).is_absolute() else REPO_ROOT / config.split


def data_paths(config: TrainConfig) -> tuple[Path, Path]:
    """The data folder and split CSV of ``config`` (DataError, saying how to make them, when
    one is missing): ``data/synthetic_<size>`` for ``data: synthetic``, else the data folder
    (``$LUNGSEG_DATA`` when none is given); the config's split, else
    ``data/splits/<data folder name>.csv``."""
    if config.data == "synthetic":
        root = synthetic_dir(config.image_size)
        if not (root / "manifest.csv").exists():
            raise DataError(f"{root}: the synthetic data set is not there; `lungseg train` makes it "
                            f"(or engine.datasets.prepare_data, or `lungseg data synth --out {root} "
                            f"--n {SYNTHETIC_N} --size {config.image_size}`)")
    else:
        root = resolve_data_dir(config.data)
    split = split_path(config, root)
    if not split.exists():
        raise DataError(f"{split}: split file not found; `lungseg train` makes it (or `lungseg data split "
                        f"{root} --out {split}`)")
    return root, split


def data_sets(config: TrainConfig) -> list[tuple[str | None, Path, Path]]:
    """``(convention, data folder, split CSV)`` of every data set ``config`` trains on: one
    (convention None) for a single set; for ``data_sets``, each named set (found by
    :func:`~lungseg_lib.data.folders.resolve_data_dir`) with ``data/splits/<name>.csv``."""
    if not config.data_sets:
        return [(None, *data_paths(config))]
    out = []
    for name, convention in config.data_sets.items():
        root = resolve_data_dir(name)
        split = REPO_ROOT / "data" / "splits" / f"{name}.csv"
        if not split.exists():
            raise DataError(f"{split}: split file of data set {name} not found; `lungseg data split {root} --out {split}`")
        out.append((convention, root, split))
    return out


def prepare_data(config: TrainConfig) -> tuple[Path, Path]:
    """Make what ``config`` trains on when it is missing: the synthetic set of smoke runs and
    the default split (seed 0, :func:`lungseg_lib.data.folders.make_split`); return
    :func:`data_paths`. A data folder with problems is a DataError naming how to see them.
    Several ``data_sets`` must have their splits already (checked, first set returned)."""
    if config.data_sets:
        return data_sets(config)[0][1:]
    if config.data == "synthetic":
        root = synthetic_dir(config.image_size)
        if not (root / "manifest.csv").exists():
            make_synthetic_dataset(root, n=SYNTHETIC_N, size=config.image_size, seed=0)
    else:
        root = resolve_data_dir(config.data)
    split = split_path(config, root)
    if not split.exists():
        scan, _ = check_folder(root)
        if scan.problems:
            raise DataError(f"{root}: {len(scan.problems)} problem(s); run `lungseg data check {root}`")
        write_split(make_split(scan.pairs, seed=0), split)
        print(f"wrote a new split {split}")
    return data_paths(config)
