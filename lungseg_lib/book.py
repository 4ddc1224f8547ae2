"""``lungseg book`` and ``lungseg figure``: execute the figure notebooks, then build the book.

Layout (relative to the book root, the repository root by default):

* ``notebooks/NN_name.ipynb`` (committed, outputs stripped) are executed by papermill into
  ``book/_executed/NN_name.ipynb`` (git-ignored), which ``_toc.yml`` lists; every numbered
  notebook except ``00_train`` belongs to the book, ``09_status`` runs last.
* ``book/_executed/params.json`` remembers the book's settings (profile, runs and data
  folders) and the parameters set with ``lungseg figure NAME --set key=value``. The rule:
  ``lungseg book`` re-executes every notebook with those remembered parameters, so a figure
  changed with ``lungseg figure`` stays changed in every later build until
  ``lungseg figure NAME --reset``.
* Figures are also written as PNG and PDF to ``_build/figures/``; the HTML goes to
  ``_build/html/``.
* ``jupyter-book`` reads ``_build/_config.yml``, written from ``_config.yml`` with the
  repository URL of ``[tool.lungseg]`` in ``pyproject.toml`` (:mod:`lungseg_lib.project`), the
  one place that URL is set; ``CITATION.cff`` is brought in line with it too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from . import files, project
from .engine import runfolder
from .engine.records import read_run_record
from .errors import DataError
from .notebooks import NOTEBOOKS_DIR, check_parameters, notebook_parameters, notebook_path, run_notebook
from .project import REPO_ROOT
from .report import images, profile_runs

EXECUTED = Path("book") / "_executed"
STATE_FILE = "params.json"
NOT_IN_BOOK = ("00_train",)
LAST = "09_status"  # reads the run times of the others
BUILT_CONFIG = Path("_build") / "_config.yml"  # what jupyter-book reads (write_book_config)
BUILDERS = {"html": Path("html") / "index.html", "linkcheck": Path("linkcheck") / "output.txt"}


class BookError(RuntimeError):
    """A notebook or the Jupyter Book build failed; the message says which and where to look."""


def book_notebooks() -> list[str]:
    """Stems of the book's notebooks: ``notebooks/NN_*.ipynb`` but 00_train, the status last."""
    stems = sorted(p.stem for p in NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb") if p.stem not in NOT_IN_BOOK)
    return sorted(stems, key=lambda s: s == LAST)


def notebook_stem(name: str) -> str:
    """``predictions`` or ``05_predictions`` -> ``05_predictions`` (ValueError lists the valid)."""
    stem = notebook_path(name).stem
    if stem not in book_notebooks():
        raise ValueError(f"{stem} is not a figure notebook of the book; valid: {', '.join(book_notebooks())}")
    return stem


# ---------------------------------------------------------------- remembered parameters

def load_state(root: Path = REPO_ROOT) -> dict:
    """``{"book": {...}, "notebooks": {stem: {param: value}}}`` from ``params.json`` (empty if none)."""
    path = root / EXECUTED / STATE_FILE
    state = files.read_json(path) if path.exists() else {}
    return {"book": state.get("book", {}), "notebooks": state.get("notebooks", {})}


def save_state(state: dict, root: Path = REPO_ROOT) -> None:
    """Write ``params.json`` atomically."""
    files.write_json(root / EXECUTED / STATE_FILE, state)


# ---------------------------------------------------------------- inputs: runs and data

def ensure_smoke_runs(runs_dir: str | os.PathLike, overrides: dict | None = None) -> list[str]:
    """Train every smoke run that is missing, unfinished or made with other parameters
    (smoke runs are disposable), with ``overrides`` (e.g. ``{"epochs": 1}``) on top of the
    smoke profile; return the models trained."""
    from .engine.config import resolve_config
    from .engine.runner import train_run

    overrides = overrides or {}
    trained = []
    for model in profile_runs.registry_models():
        path = profile_runs.run_dir("smoke", model, runs_dir)
        status = runfolder.run_status(path)
        stale = status == "evaluated" and _differs(path, resolve_config(model, "smoke", overrides))
        if status == "evaluated" and not stale:
            continue
        print(f"training smoke run {path}" + (" again (other parameters)" if stale else ""), flush=True)
        try:
            train_run(model, "smoke", overrides=overrides, run_dir=path, force=stale)
        except Exception as exc:
            if type(exc).__name__ != "PapermillExecutionError":
                raise
            raise BookError(f"training the smoke run {path} failed: {exc.ename}: {exc.evalue} "
                            f"(the notebook is {path / runfolder.TRAIN_NOTEBOOK})") from None
        trained.append(model)
    return trained


def _differs(path: Path, config: dict) -> bool:
    from .engine.config import NOT_PARAMETERS

    old = read_run_record(path).config
    new = json.loads(json.dumps(config.as_dict(), default=str))
    return {k: v for k, v in old.items() if k not in NOT_PARAMETERS} != \
        {k: v for k, v in new.items() if k not in NOT_PARAMETERS}


def ensure_data(profile: str, runs_dir: str | os.PathLike, data_dir: str = "") -> Path:
    """The data folder the figures read: see :func:`images.data_root`; when there is none,
    download the Shenzhen + Montgomery set the runs were trained on (every file checked) once
    into ``data/shenzhen_montgomery_512``, so that a laptop and the published book show the
    same images. Offline and without data: one DataError saying how to point the book at data."""
    try:
        return images.data_root(profile, runs_dir, data_dir)
    except DataError:
        if data_dir:
            raise
    from .data.download import fetch_shenzhen_montgomery_512

    out = REPO_ROOT / "data" / images.DEFAULT_DATA
    print(f"no data folder given: downloading the Shenzhen + Montgomery set the runs were trained on "
          f"into {out} (once, about 104 MB)", flush=True)
    try:
        return Path(fetch_shenzhen_montgomery_512(out).out)
    except (DataError, OSError) as exc:
        raise DataError(f"{images.NO_DATA} (the download failed: {exc})") from None


def ensure_pneumonia_data() -> Path | None:
    """The pneumonia films (``covid_pneumonia_512``) for the pneumonia chapter: found beside the
    other data set or in ``data/`` (:func:`~lungseg_lib.data.folders.data_set_dir`), else
    downloaded once from their two pinned repositories into ``data/covid_pneumonia_512`` (every
    original checked). Offline: a note, and the chapter says its images are missing."""
    from .data.download_covid import fetch_covid_pneumonia_512
    from .data.folders import data_set_dir

    found = data_set_dir("covid_pneumonia_512")
    if found is not None:
        return found
    out = REPO_ROOT / "data" / "covid_pneumonia_512"
    print(f"no pneumonia films found: downloading covid_pneumonia_512 into {out} (once)", flush=True)
    try:
        fetch_covid_pneumonia_512(out)
        return out
    except (DataError, OSError) as exc:
        print(f"note: the pneumonia films could not be downloaded ({exc}); the pneumonia chapter "
              "shows no images", flush=True)
        return None


def book_parameters(profile: str, runs_dir: str | os.PathLike, data: Path, root: Path) -> dict:
    """The parameters every notebook gets when it declares them. The executed notebooks show
    them (papermill's injected cell), so no path of the build machine is passed where the
    notebook finds the same folder by itself: paths inside the repository relative to it, and
    the data folder as ``""`` when the notebook's own rule (:func:`images.data_root`:
    ``$LUNGSEG_DATA``, the runs' data, the fetched set) finds that same folder."""
    try:
        found = images.data_root(profile, runs_dir, "")
    except DataError:
        found = None
    same = found is not None and Path(found).resolve() == Path(data).resolve()
    return {"profile": profile, "runs_dir": project.relative_to_repo(project.repo_path(runs_dir)),
            "data_dir": "" if same else project.relative_to_repo(data),
            "figures_dir": project.relative_to_repo(root / "_build" / "figures"),
            "executed_dir": project.relative_to_repo(root / EXECUTED)}


# ---------------------------------------------------------------- execution

def execute(stem: str, base: dict, overrides: dict, root: Path = REPO_ROOT) -> Path:
    """Execute one notebook into ``book/_executed/`` with the ``base`` parameters it declares,
    then ``overrides`` (an unknown override name is a ValueError)."""
    path = notebook_path(stem)
    known = notebook_parameters(path)
    parameters = {k: v for k, v in base.items() if k in known} | overrides
    print(f"executing {path.name}" + (f" with {overrides}" if overrides else ""), flush=True)
    try:
        return run_notebook(stem, root / EXECUTED / path.name, parameters)
    except Exception as exc:
        if type(exc).__name__ != "PapermillExecutionError":
            raise
        partial = root / EXECUTED / f".{stem}.running.ipynb"
        raise BookError(f"notebook {path.name} failed: {exc.ename}: {exc.evalue} "
                        f"(the partly executed notebook is {partial})") from None


def write_book_config(root: Path = REPO_ROOT) -> Path:
    """Write ``_build/_config.yml``: the book's ``_config.yml`` with ``repository.url`` from
    ``[tool.lungseg] repository_url`` in the repository's pyproject.toml and the local
    extensions' folders made absolute (jupyter-book reads them relative to the config file)."""
    root = Path(root)
    source = root / "_config.yml"
    try:
        config = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise BookError(f"{source}: cannot read the book's configuration ({exc})") from exc
    config.setdefault("repository", {})["url"] = project.repository_url()
    extensions = (config.get("sphinx") or {}).get("local_extensions") or {}
    for name, folder in extensions.items():
        extensions[name] = str((root / folder).resolve())
    header = (f"# Written by `lungseg book` from {source} and [tool.lungseg] in pyproject.toml: "
              "edit those, not this.\n")
    return files.atomic_write_text(root / BUILT_CONFIG, header + yaml.safe_dump(config, sort_keys=False))


def jupyter_book(root: Path = REPO_ROOT, builder: str = "html") -> Path:
    """``jupyter-book build ROOT --all -W -n --keep-going --config _build/_config.yml``: any
    warning fails the build. ``builder``: html (returns ``index.html``) or linkcheck (checks
    every link of the book; returns ``_build/linkcheck/output.txt``, which lists them).

    ``--all``: prose pages glue from notebooks, so a re-executed notebook must refresh every
    page, not only its own (Sphinx would rewrite only the changed documents)."""
    if builder not in BUILDERS:
        raise ValueError(f"builder {builder!r}: expected one of {', '.join(BUILDERS)}")
    exe = Path(sys.executable).with_name("jupyter-book")
    config = write_book_config(root)
    cmd = [str(exe), "build", str(root), "--all", "-W", "-n", "--keep-going", "--config", str(config),
           "--builder", builder]
    print(" ".join(cmd), flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8", errors="replace", cwd=root)
    report = root / "_build" / BUILDERS[builder]
    if proc.returncode != 0:
        log = (proc.stdout + proc.stderr).strip().splitlines()
        warnings = [line for line in log if "WARNING" in line or "ERROR" in line]
        what = f"the link check found problems (all links: {report})" if builder == "linkcheck" \
            else "the book build failed"
        raise BookError(f"{what}:\n" + "\n".join((warnings or log)[-40:]))
    return report


def build_book(profile: str = "auto", runs_dir: str | os.PathLike = "runs", root: Path = REPO_ROOT,
               execute_notebooks: bool = True, data_dir: str = "", smoke_overrides: dict | None = None,
               builder: str = "html") -> Path:
    """Execute every book notebook (with the remembered parameters) and build the HTML.

    ``profile``: auto (paper runs if any, else cpu), or smoke (trains missing smoke runs on
    synthetic data first, with ``smoke_overrides``), cpu, paper. Returns ``index.html``
    (``builder="linkcheck"``: the link report, see :func:`jupyter_book`).
    """
    root = Path(root)
    if (root / project.CITATION).exists() and project.sync_citation(root):
        print(f"{root / project.CITATION}: repository-code set to {project.repository_url()} "
              "(from pyproject.toml)", flush=True)
    profile = profile_runs.resolve_profile(profile, runs_dir)
    if profile == "smoke":
        ensure_smoke_runs(runs_dir, smoke_overrides)
    state = load_state(root)
    if execute_notebooks:
        data = ensure_data(profile, runs_dir, data_dir)
        if profile != "smoke":
            ensure_pneumonia_data()
        state["book"] = book_parameters(profile, runs_dir, data, root)
        save_state(state, root)
        for stem in book_notebooks():
            execute(stem, state["book"], state["notebooks"].get(stem, {}), root)
    else:
        missing = [s for s in book_notebooks() if not (root / EXECUTED / f"{s}.ipynb").exists()]
        if missing:
            raise BookError(f"not executed yet: {', '.join(missing)} (run `lungseg book` without --no-execute)")
    return jupyter_book(root, builder)


def run_figure(name: str, overrides: dict, root: Path = REPO_ROOT, reset: bool = False) -> Path:
    """Re-execute one figure notebook with ``overrides`` added to its remembered parameters
    (``reset``: forget them first); remember them for later ``lungseg book`` builds."""
    stem = notebook_stem(name)
    check_parameters(notebook_path(stem), overrides)
    state = load_state(root)
    if not state["book"]:
        profile = profile_runs.resolve_profile("auto")
        state["book"] = book_parameters(profile, "runs", ensure_data(profile, "runs"), root)
    wanted = ({} if reset else state["notebooks"].get(stem, {})) | overrides
    executed = execute(stem, state["book"], wanted, root)
    state["notebooks"][stem] = wanted
    if not wanted:
        state["notebooks"].pop(stem)
    save_state(state, root)
    return executed

