"""Committed run folders carry no machine's paths, and new runs' notebooks record none."""
import json
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ABSOLUTE = re.compile(r"(?<![\w.~])(/(?:home|work|tmp|root|Users|mnt|opt|var|srv|data)/|[A-Za-z]:\\\\)")


def test_no_committed_run_file_has_an_absolute_path():
    offenders = []
    for path in (REPO / "runs").rglob("*"):
        if path.is_file() and path.suffix in (".json", ".csv", ".ipynb", ".md", ".txt"):
            match = ABSOLUTE.search(path.read_text(encoding="utf-8", errors="replace"))
            if match:
                offenders.append(f"{path.relative_to(REPO)}: {match.group(0)!r}")
    assert not offenders, "absolute paths in committed run files:\n" + "\n".join(offenders)


def test_training_notebook_records_relative_paths(smoke_run):
    meta = json.loads((smoke_run / "train.ipynb").read_text(encoding="utf-8"))["metadata"]["papermill"]
    assert meta["input_path"] == "notebooks/00_train.ipynb"
    assert not ABSOLUTE.search(meta["output_path"]) and not meta["output_path"].startswith("/")


def _same(record, data: dict) -> list[str]:
    """The keys of ``data`` whose value differs in the typed ``record`` (asdict), recursively."""
    import dataclasses

    typed = dataclasses.asdict(record) if dataclasses.is_dataclass(record) else record
    wrong = []
    for key, value in data.items():
        if key not in typed:
            continue
        mine = typed[key]
        if isinstance(value, dict) and isinstance(mine, dict):
            wrong += [f"{key}.{k}" for k in _same(mine, value)]
        elif mine != value:
            wrong.append(key)
    return wrong


def test_every_committed_run_reads_through_the_typed_records_with_the_same_numbers():
    """metrics.json, training.json and config.json of every committed run (and the shipped default
    model) read as typed records (lungseg_lib.engine.records), every value as in the file."""
    from lungseg_lib.engine import records, runfolder

    readers = {runfolder.METRICS: records.read_metrics, runfolder.TRAINING: records.read_training,
               runfolder.CONFIG: records.read_run_record}
    folders = {p.parent for name in readers for p in (REPO / "runs").rglob(name)}
    folders.add(REPO / "lungseg_lib" / "default_model")
    checked, wrong = 0, []
    for folder in sorted(folders):
        for name, read in readers.items():
            if (folder / name).is_file():
                data = json.loads((folder / name).read_text(encoding="utf-8"))
                wrong += [f"{folder.relative_to(REPO)}/{name}: {k}" for k in _same(read(folder), data)]
                checked += 1
    assert checked >= 90 and not wrong, wrong
    m = records.read_metrics(REPO / "runs" / "cpu" / "nasnet_decoder" / "seed0")
    assert m.summary("dice").mean == m.post["dice"].mean and m.summary("dice", post=False) is m.raw["dice"]
    assert m.training.best_val_dice is not None and m.timings.epochs_run == m.training.epochs_run
    assert records.read_metrics(REPO / "runs" / "nowhere") is None


def test_records_ignore_keys_added_later_and_default_keys_a_file_lacks():
    import math

    from lungseg_lib.engine.records import Metrics, RunRecord, Training

    m = Metrics.from_dict({"model": "unet", "raw": {"dice": {"mean": 0.9, "new_stat": 1}}, "future_key": 3})
    assert m.model == "unet" and m.raw["dice"].mean == 0.9 and math.isnan(m.raw["dice"].ci_low)
    assert m.summary("dice") is None and m.summary("hd95", post=False) is None  # not in the file
    assert m.timings.robustness_seconds is None and m.training == Training()
    assert Training.from_dict({"epochs_run": 3, "new": "x"}).best_val_dice is None
    r = RunRecord.from_dict({"config": {"model": "unet"}})
    assert r.config["model"] == "unet" and r.environment == {} and r.data_root is None
