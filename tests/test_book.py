"""The book: its notebooks (every one), `lungseg book` and `lungseg figure` (lungseg_lib.book),
and the data the book finds or fetches.

The whole book is built once per session (`build_once`, shared with test_browser.py) from
smoke runs trained here on synthetic data, in a separate book root under pytest's tmp folder,
with `jupyter-book build -W` (zero warnings).
"""

import json
import os
import re
import time
from pathlib import Path

import pytest

from lungseg_lib import book, cli
from lungseg_lib.engine import runfolder
from lungseg_lib.errors import DataError
from lungseg_lib.report import images, profile_runs

from book_sources import copy_book_sources

REPO = Path(__file__).resolve().parents[1]
MODELS = profile_runs.registry_models()
# Remembered parameters the session's build must use (as if set by `lungseg figure`).
CHANGED = {"01_data": {"example": "SYN_0002_1"}, "02_architecture": {"image_size": 64},
           "03_results": {"metric": "dice"}, "04_postprocessing": {"model": "unet"},
           "05_predictions": {"n_cases": 1, "model": "unet"}, "06_failures": {"n_worst": 2, "metric": "dice"}}
SMOKE_EPOCHS = 1  # the smoke profile with one epoch: the build, not the training, is under test
_BUILT: dict = {}


def build_once(tmp_path_factory) -> Path:
    """Build the book once per session from smoke runs (trained into its root); return the root."""
    if "root" not in _BUILT:
        root = copy_book_sources(tmp_path_factory.mktemp("book"))
        book.save_state({"book": {}, "notebooks": CHANGED}, root)
        start = time.time()
        book.build_book("smoke", runs_dir=root / "runs", root=root, smoke_overrides={"epochs": SMOKE_EPOCHS})
        _BUILT.update(root=root, seconds=time.time() - start)
    return _BUILT["root"]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    return build_once(tmp_path_factory)


def test_no_data_offline_stops_with_one_message(tmp_path, monkeypatch, capsys):
    """Without LUNGSEG_DATA, recorded data or data/shenzhen_montgomery_512, and with the download
    failing."""
    from lungseg_lib.data import download

    monkeypatch.delenv("LUNGSEG_DATA", raising=False)
    monkeypatch.setattr(images, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(book, "REPO_ROOT", tmp_path)

    def offline(*args, **kwargs):
        raise DataError("https://codeload.github.com/...: download failed (network is unreachable)")

    monkeypatch.setattr(download, "fetch_shenzhen_montgomery_512", offline)
    assert cli.main(["book", "--profile", "cpu", "--runs-dir", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lungseg: error: no chest X-ray data found")
    assert "LUNGSEG_DATA" in err[0] and "Traceback" not in err[0]
    assert "lungseg data fetch shenzhen-montgomery-512 --out data/shenzhen_montgomery_512" in err[0]


def test_without_data_the_book_fetches_the_runs_data_set(tmp_path, monkeypatch, capsys):
    """No LUNGSEG_DATA and no data here: `lungseg book` fetches the Shenzhen + Montgomery set
    the runs were trained on into data/shenzhen_montgomery_512 (not Montgomery alone), once."""
    from lungseg_lib.data import download
    from lungseg_lib.data.layout import ConversionSummary

    monkeypatch.delenv("LUNGSEG_DATA", raising=False)
    monkeypatch.setattr(images, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(book, "REPO_ROOT", tmp_path)
    fetched = []

    def fetch(out, **kwargs):
        fetched.append(Path(out))
        (Path(out) / "images").mkdir(parents=True)
        return ConversionSummary(Path(out), 704)

    monkeypatch.setattr(download, "fetch_shenzhen_montgomery_512", fetch)
    monkeypatch.setattr(download, "fetch_montgomery", None)  # never called
    expected = tmp_path / "data" / "shenzhen_montgomery_512"
    assert book.ensure_data("cpu", tmp_path / "runs") == expected and fetched == [expected]
    assert "downloading the Shenzhen + Montgomery set" in capsys.readouterr().out
    assert book.ensure_data("cpu", tmp_path / "runs") == expected and fetched == [expected]  # found now


# ---------------------------------------------------------------- notebooks

# The book's parameters (book.book_parameters) each notebook declares: every notebook is listed.
RUNS = {"profile", "runs_dir"}
FIGURES = RUNS | {"data_dir", "figures_dir"}
BOOK_PARAMETERS = {"01_data": FIGURES, "02_architecture": FIGURES, "03_results": FIGURES, "04_postprocessing": FIGURES,
                   "05_predictions": FIGURES, "06_failures": FIGURES, "07_training_curves": FIGURES, "08_claims": RUNS,
                   "09_status": FIGURES | {"executed_dir"}, "10_speed": {"figures_dir"}, "11_ct": {"figures_dir"},
                   "12_robustness": FIGURES, "13_papers": RUNS, "14_usage": FIGURES, "15_readings": RUNS,
                   "16_pneumonia": {"runs_dir", "data_dir", "figures_dir"}}


def test_every_notebook_is_stripped_paired_and_has_one_parameters_cell():
    notebooks = sorted(p.stem for p in (REPO / "notebooks").glob("*.ipynb"))
    assert notebooks == sorted(["00_train", *book.book_notebooks()])
    for stem in notebooks:
        nb = json.loads((REPO / "notebooks" / f"{stem}.ipynb").read_text(encoding="utf-8"))
        tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, stem
        assert all(not c.get("outputs") and c.get("execution_count") is None
                   for c in nb["cells"] if c["cell_type"] == "code"), f"{stem}.ipynb has outputs"
        assert (REPO / "notebooks" / f"{stem}.py").exists(), f"{stem}.py (jupytext pair) is missing"


def test_book_notebooks_and_the_book_parameters_they_take():
    stems = book.book_notebooks()
    assert "00_train" not in stems and stems[-1] == book.LAST
    assert set(BOOK_PARAMETERS) == set(stems)
    base = set(book.book_parameters("cpu", "runs", REPO / "data", REPO))
    for stem in stems:
        params = set(book.notebook_parameters(REPO / "notebooks" / f"{stem}.ipynb"))
        assert params & base == BOOK_PARAMETERS[stem], stem


def test_notebooks_match_their_py_pairs():
    import jupytext

    for stem in ["00_train"] + book.book_notebooks():
        ipynb = jupytext.read(REPO / "notebooks" / f"{stem}.ipynb")
        py = jupytext.read(REPO / "notebooks" / f"{stem}.py")
        assert [c.source for c in ipynb.cells] == [c.source for c in py.cells], \
            f"{stem}: run `jupytext --sync notebooks/{stem}.py`"


def test_notebooks_run_without_the_kernel_encryption_warning(tmp_path, capfd):
    """ipykernel >= 7.3 warns on every kernel start over unencrypted TCP; run_notebook encrypts."""
    from lungseg_lib.notebooks import run_notebook

    out = run_notebook("claims", tmp_path / "claims.ipynb", {"profile": "cpu", "runs_dir": str(tmp_path)})
    assert "not measured yet" in out.read_text(encoding="utf-8")
    assert "without encryption" not in capfd.readouterr().err


def test_figure_rejects_unknown_names(capsys):
    assert cli.main(["figure", "predictions", "--set", "n_casez=3"]) == 2
    err = capsys.readouterr().err
    assert "unknown parameter(s) n_casez" in err and "n_cases" in err
    assert cli.main(["figure", "nosuch"]) == 2
    assert "unknown notebook 'nosuch'" in capsys.readouterr().err


@pytest.mark.book
def test_every_notebook_runs_with_its_defaults(tmp_path):
    """Plain papermill defaults: the best profile in runs/ and the data found automatically."""
    from lungseg_lib.notebooks import run_notebook

    try:
        images.data_root(profile_runs.best_profile())
    except DataError as exc:
        pytest.skip(f"no data for the default parameters: {exc}")
    for stem in book.book_notebooks():
        out = run_notebook(stem, tmp_path / f"{stem}.ipynb")
        assert json.loads(out.read_text(encoding="utf-8"))["metadata"]["papermill"]["exception"] is None


# ---------------------------------------------------------------- the built book

@pytest.mark.book
def test_book_builds_from_smoke_runs_with_zero_warnings(built):
    """build_book raises on any Sphinx warning (-W); here: every page and notebook is there."""
    html = built / "_build" / "html"
    for page in ("intro", "data", "method", "results", "failures", "reproduce", "citing", "speed", "ct"):
        assert (html / "book" / f"{page}.html").exists(), page
    for stem in book.book_notebooks():
        assert (built / book.EXECUTED / f"{stem}.ipynb").exists(), stem
        assert (html / "book" / "_executed" / f"{stem}.html").exists(), stem
    for model in MODELS:
        assert runfolder.run_status(built / "runs" / "smoke" / model / "seed0") == "evaluated"
    # the redirect page index.html declares no icon, so browsers fetch /favicon.ico
    assert (html / "favicon.ico").read_bytes()[:4] == b"\x00\x00\x01\x00"  # an ICO file
    print(f"book built in {_BUILT['seconds']:.0f} s")


@pytest.mark.book
def test_pages_show_glued_numbers_and_the_profile(built):
    html = built / "_build" / "html" / "book"
    page = (html / "results.html").read_text(encoding="utf-8")
    assert "smoke profile: synthetic 64 px images" in page
    assert "{glue" not in page and "glued-" not in page
    for chapter in html.glob("*.html"):  # a glued object shown as its Python repr, not rendered
        text = re.sub(r"<[^>]+>", "", chapter.read_text(encoding="utf-8"))
        assert "IPython.core.display" not in text, chapter.name
    text = (html / "intro.html").read_text(encoding="utf-8")
    assert len(re.findall(r"\b0\.\d{3}\b", text)) >= 3
    for name in ("fig-architecture", "fig-postprocessing", "fig-predictions", "tbl-results", "tbl-data", "tbl-claims",
                 "tbl-deviations", "tbl-related", "tbl-consistency"):
        assert f'id="{name}"' in "".join(p.read_text(encoding="utf-8") for p in html.glob("*.html")), name
    assert (built / "_build" / "figures" / "fig4_predictions.pdf").exists()
    status = (html / "_executed" / "09_status.html").read_text(encoding="utf-8")
    assert status.count("train.ipynb") >= len(MODELS)  # links to the executed training notebooks


@pytest.mark.book
def test_glued_text_is_plain_and_no_machine_path_is_printed(built):
    """A glued sentence is pasted as text: no Markdown in it (literal backticks or asterisks); no
    executed notebook prints the build machine's data folder."""
    html = built / "_build" / "html" / "book"
    data = images.data_root("smoke", built / "runs")
    for page in html.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        for pasted in re.findall(r'<span class="pasted-text">(.*?)</span>', text, re.S):
            assert "`" not in pasted and "**" not in pasted, f"{page.name}: Markdown in glued text: {pasted[:120]}"
        assert str(data) not in re.sub(r"<[^>]+>", "", text), f"{page.name} prints the data folder's path {data}"


@pytest.mark.book
def test_remembered_parameters_are_used_by_the_build(built):
    for stem, params in CHANGED.items():
        meta = json.loads((built / book.EXECUTED / f"{stem}.ipynb").read_text(encoding="utf-8"))["metadata"]["papermill"]
        assert params.items() <= meta["parameters"].items(), stem
        assert meta["parameters"]["profile"] == "smoke"


@pytest.mark.book
def test_figure_reexecutes_one_notebook_and_remembers(built):
    executed = built / book.EXECUTED / "05_predictions.ipynb"
    book.run_figure("predictions", {"n_cases": 2}, root=built)
    assert book.load_state(built)["notebooks"]["05_predictions"] == {"n_cases": 2, "model": "unet"}
    assert json.loads(executed.read_text(encoding="utf-8"))["metadata"]["papermill"]["parameters"]["n_cases"] == 2
    with pytest.raises(ValueError, match="unknown parameter"):
        book.run_figure("predictions", {"n_casez": 2}, root=built)
    assert book.load_state(built)["notebooks"]["05_predictions"]["n_cases"] == 2
    book.run_figure("05_predictions", {}, root=built, reset=True)
    assert "05_predictions" not in book.load_state(built)["notebooks"]
    assert json.loads(executed.read_text(encoding="utf-8"))["metadata"]["papermill"]["parameters"].get("n_cases") is None
    assert os.path.getsize(executed) > 0
