"""The set-up cell that opens every figure notebook (lungseg_lib.setup_cell): present and
current in each, hidden from the book, a no-op outside Colab and Binder; and the Binder
configuration."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest
import yaml

from lungseg_lib import project, setup_cell

REPO = Path(__file__).resolve().parents[1]
ENV = ("COLAB_RELEASE_TAG", "BINDER_SERVICE_HOST")


def test_every_figure_notebook_opens_with_the_current_setup_cell():
    source = setup_cell.cell_source()
    notebooks = setup_cell.figure_notebooks()
    assert len(notebooks) >= 14 and REPO / "notebooks" / "14_usage.py" in notebooks
    for py in notebooks:
        nb = json.loads(py.with_suffix(".ipynb").read_text(encoding="utf-8"))
        first = nb["cells"][0]
        assert first["cell_type"] == "code" and "".join(first["source"]) == source, \
            f"{py.stem}: run `python -m lungseg_lib.setup_cell` (the cell or the repository URL changed)"
        assert first["metadata"]["tags"] == ["remove-cell", setup_cell.TAG]  # not shown in the book
        assert not first.get("outputs") and first.get("execution_count") is None
        assert sum(setup_cell.TAG in c["metadata"].get("tags", []) for c in nb["cells"]) == 1
    assert project.repository_url() in source


def test_with_cell_replaces_an_old_cell_and_is_stable():
    text = (REPO / "notebooks" / "01_data.py").read_text(encoding="utf-8")
    old = setup_cell.with_cell(text, "print('old cell')")
    assert "print('old cell')" in old and setup_cell.cell_source() not in old
    assert setup_cell.with_cell(old, setup_cell.cell_source()) == text
    assert setup_cell.with_cell(text, setup_cell.cell_source()) == text


@pytest.fixture
def run_cell(monkeypatch):
    """Execute the cell with subprocess.run and os.chdir recorded, not done."""
    calls = []
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    saved = list(sys.path)

    def run(cwd: Path = REPO):
        monkeypatch.chdir(cwd)
        monkeypatch.setattr("subprocess.run", lambda cmd, **kw: calls.append(("run", cmd)))
        monkeypatch.setattr(os, "chdir", lambda path: calls.append(("chdir", str(path))))
        exec(compile(setup_cell.cell_source(), "setup", "exec"), {})
        return calls

    yield run
    sys.path[:] = saved


def test_cell_does_nothing_outside_colab_and_binder(run_cell):
    assert run_cell() == []


def test_on_binder_it_works_in_the_checkout_and_fetches_the_data_once(run_cell, tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text("", encoding="utf-8")
    (tmp_path / "notebooks").mkdir()
    monkeypatch.setenv("BINDER_SERVICE_HOST", "10.0.0.1")
    monkeypatch.delenv("LUNGSEG_DATA", raising=False)
    calls = run_cell(tmp_path / "notebooks")
    assert calls[0] == ("chdir", str(tmp_path))
    assert calls[1][1][1:] == ["-m", "lungseg_lib.cli", "data", "fetch", "shenzhen-montgomery-512",
                               "--out", "data/shenzhen_montgomery_512"]
    assert not any("clone" in c[1] for c in calls if c[0] == "run")


def test_on_colab_it_clones_the_project_repository_and_installs_it(run_cell, tmp_path, monkeypatch):
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab")
    monkeypatch.setenv("LUNGSEG_DATA", str(tmp_path))
    calls = run_cell(tmp_path)
    clone, install, chdir = calls
    assert clone == ("run", ["git", "clone", "--depth", "1", project.repository_url(), "/content/lungseg"])
    assert install[1][1:] == ["-m", "pip", "install", "-q", "-e", "/content/lungseg", "myst-nb"]
    assert chdir == ("chdir", "/content/lungseg")


def test_binder_configuration():
    pins = {line.split("==")[0]: line.split("#")[0].strip() for line in (REPO / "requirements.txt").read_text(encoding="utf-8").splitlines()
            if "==" in line}
    binder = [line.split("#")[0].strip() for line in (REPO / "binder" / "requirements.txt").read_text(encoding="utf-8").splitlines()
              if line.split("#")[0].strip()]
    assert binder and all(line == pins[line.split("==")[0]] for line in binder)
    assert {"tensorflow-cpu", "jupyter-book", "papermill"} <= {line.split("==")[0] for line in binder}
    post = REPO / "binder" / "postBuild"
    assert "pip install --no-deps -e ." in post.read_text(encoding="utf-8") and post.stat().st_mode & stat.S_IXUSR
    assert (REPO / "binder" / "runtime.txt").read_text(encoding="utf-8").strip() == "python-3.11"
    launch = yaml.safe_load((REPO / "_config.yml").read_text(encoding="utf-8"))["launch_buttons"]
    assert launch["binderhub_url"] == "https://mybinder.org" and launch["colab_url"].startswith("https://colab")
