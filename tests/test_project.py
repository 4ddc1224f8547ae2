"""The repository URL is set in one place ([tool.lungseg] in pyproject.toml) and every use reads
it: the book's configuration (written by `lungseg book`) and CITATION.cff."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lungseg_lib import book, project

from book_sources import copy_book_sources

REPO = Path(__file__).resolve().parents[1]
URL = project.repository_url()


def committed_files() -> list[Path]:
    try:
        names = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True,
                               text=True, encoding="utf-8", errors="replace").stdout.split("\0")
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"not a git checkout ({exc})")
    return [REPO / n for n in names if n and (REPO / n).is_file()]


def test_repository_url_is_written_in_pyproject_and_copied_only_to_citation():
    host_and_path = URL.split("://", 1)[1]  # also catches http:// or .git variants
    holders = sorted(str(p.relative_to(REPO)) for p in committed_files()
                     if host_and_path.encode() in p.read_bytes())
    # a published weight file's URL (e.g. a release asset) records where it was published: a fact
    # that must not follow a moved repository, not a setting
    holders = [h for h in holders if h != "lungseg_lib/engine/weights_registry.json"]
    # the notebooks' Colab set-up cell clones the repository: written from pyproject.toml by
    # lungseg_lib.setup_cell and checked against it by tests/test_notebook_setup.py
    holders = [h for h in holders if not h.startswith("notebooks/")]
    assert holders == ["CITATION.cff", "pyproject.toml"], \
        f"the repository URL belongs in [tool.lungseg] of pyproject.toml only, found in {holders}"
    assert "url" not in (yaml.safe_load((REPO / "_config.yml").read_text(encoding="utf-8")).get("repository") or {})


def test_citation_cff_matches_pyproject():
    assert yaml.safe_load((REPO / "CITATION.cff").read_text(encoding="utf-8"))["repository-code"] == URL
    assert project.sync_citation(REPO) is False  # nothing to change


def test_sync_citation_follows_a_new_url(tmp_path):
    (tmp_path / "CITATION.cff").write_text((REPO / "CITATION.cff").read_text(encoding="utf-8"))
    assert project.sync_citation(tmp_path, "https://github.com/someone/elsewhere") is True
    text = (tmp_path / "CITATION.cff").read_text(encoding="utf-8")
    assert yaml.safe_load(text)["repository-code"] == "https://github.com/someone/elsewhere"
    assert text.replace("someone/elsewhere", URL.split("github.com/")[1]) == (REPO / "CITATION.cff").read_text(encoding="utf-8")
    (tmp_path / "CITATION.cff").write_text("cff-version: 1.2.0\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"CITATION\.cff: no 'repository-code:' line"):
        project.sync_citation(tmp_path, URL)


def test_repository_url_must_be_https(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.lungseg]\nrepository_url = "git@github.com:x/y"\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"pyproject\.toml: \[tool\.lungseg\] repository_url must be an https"):
        project.repository_url(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"pyproject\.toml: no \[tool\.lungseg\] table"):
        project.repository_url(tmp_path)


def test_the_book_is_built_with_the_url(tmp_path, monkeypatch):
    """The config jupyter-book reads carries the URL into the theme (repository, issue and launch
    buttons), and the build command uses it; the builder can be linkcheck."""
    from jupyter_book.config import get_final_config

    (tmp_path / "book").mkdir()
    root = copy_book_sources(tmp_path / "book")
    written = book.write_book_config(root)
    assert written == root / "_build" / "_config.yml"
    config = yaml.safe_load(written.read_text(encoding="utf-8"))
    assert config["repository"]["url"] == URL
    extensions = config["sphinx"]["local_extensions"]
    assert extensions == {"lungseg_glue": str((root / "book" / "_ext").resolve())}
    committed = yaml.safe_load((REPO / "_config.yml").read_text(encoding="utf-8"))
    assert {k: v for k, v in config.items() if k not in ("repository", "sphinx")} == \
        {k: v for k, v in committed.items() if k not in ("repository", "sphinx")}

    path = list(sys.path)
    try:
        sphinx_config, _ = get_final_config(user_yaml=written, cli_config={"latex_individualpages": False},
                                            sourcedir=root)
    finally:
        sys.path[:] = path
    theme = sphinx_config["html_theme_options"]
    assert theme["repository_url"] == URL and theme["use_repository_button"] is True
    assert theme["launch_buttons"]["binderhub_url"] == "https://mybinder.org"

    calls = []

    def run(cmd, **kwargs):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(book.subprocess, "run", run)
    assert book.jupyter_book(root) == root / "_build" / "html" / "index.html"
    assert book.jupyter_book(root, "linkcheck") == root / "_build" / "linkcheck" / "output.txt"
    for cmd, builder in zip(calls, ["html", "linkcheck"]):
        assert cmd[cmd.index("--config") + 1] == str(written) and cmd[cmd.index("--builder") + 1] == builder
        assert {"-W", "-n", "--keep-going", "--all"} <= set(cmd)

    def broken(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 1, "", "book/data.md:3: WARNING: broken link: https://x (404)\n")

    monkeypatch.setattr(book.subprocess, "run", broken)
    with pytest.raises(book.BookError, match=r"link check found problems .*linkcheck/output\.txt.*\n.*broken link"):
        book.jupyter_book(root, "linkcheck")


def test_pages_workflow_builds_with_the_runs_data_and_checks_links_on_a_schedule():
    workflow = yaml.safe_load((REPO / ".github/workflows/book.yml").read_text(encoding="utf-8"))
    jobs, triggers = workflow["jobs"], workflow[True]  # YAML 1.1 reads the key `on` as True
    build = jobs["build"]
    assert "LUNGSEG_DATA" not in yaml.safe_dump(build)  # `make book` falls back to the fetched set
    caches = [s["with"]["path"] for s in build["steps"] if str(s.get("uses", "")).startswith("actions/cache")]
    assert caches == ["data/shenzhen_montgomery_512", "data/covid_pneumonia_512"]  # both fetched sets
    assert any(s.get("run") == "make book" for s in build["steps"])

    assert triggers["schedule"] and "cron" in triggers["schedule"][0]
    check = jobs["linkcheck"]
    assert check["continue-on-error"] is True and "schedule" in check["if"]
    assert [s.get("run") for s in check["steps"] if s.get("run", "").startswith("make")] == \
        ["make book", "make linkcheck"]
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert "\nlinkcheck: " in makefile and "lungseg book --no-execute --builder linkcheck" in makefile


def test_cpu_info_names_this_cpu_and_labels_records():
    from lungseg_lib import environment

    info = environment.cpu_info()
    assert info["cpu_model"] and info["cpu_isa"] in (*environment.ISA_ORDER, "unknown")
    assert environment.cpu_label(info) == f"{info['cpu_model']} ({info['cpu_isa']})"
    assert environment.cpu_label({"cpu_model": "Some CPU"}) == "Some CPU (?)"  # runs before the ISA was recorded
    assert environment.cpu_label({}) == ""
