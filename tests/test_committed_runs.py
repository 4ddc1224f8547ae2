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
