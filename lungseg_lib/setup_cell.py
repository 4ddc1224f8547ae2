"""The set-up cell that opens every figure notebook: on Colab or Binder it installs lungseg and
fetches the data set; anywhere else (the book build, a local checkout) it does nothing.

The cell clones the repository on Colab, so it holds the repository URL: it is written here
from ``[tool.lungseg] repository_url`` (:mod:`lungseg_lib.project`, the one place the URL is
set) by ``python -m lungseg_lib.setup_cell``, which rewrites the cell in ``notebooks/NN_*.py``
and syncs the paired ``.ipynb`` (jupytext); ``tests/test_notebook_setup.py`` checks that every
figure notebook holds the current cell. It is tagged ``remove-cell``: the book does not show it.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from .project import REPO_ROOT

TAG = "colab-binder-setup"
HEADER = f'# %% tags=["remove-cell", "{TAG}"]'
TEMPLATE = '''\
# Set-up on Colab or Binder (does nothing elsewhere, e.g. in the book build): install lungseg,
# work in the repository's folder, and fetch the chest X-ray data set once (about 104 MB).
import os
import subprocess
import sys

ON_COLAB = "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ
if ON_COLAB or "BINDER_SERVICE_HOST" in os.environ:
    repo = os.getcwd()
    while not os.path.exists(os.path.join(repo, "pyproject.toml")) and os.path.dirname(repo) != repo:
        repo = os.path.dirname(repo)
    if ON_COLAB and not os.path.exists(os.path.join(repo, "pyproject.toml")):
        repo = "/content/lungseg"
        if not os.path.exists(repo):
            subprocess.run(["git", "clone", "--depth", "1", "{repository_url}", repo], check=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", repo, "myst-nb"], check=True)
    sys.path.insert(0, repo)
    os.chdir(repo)
    if not os.environ.get("LUNGSEG_DATA") and not os.path.isdir("data/shenzhen_montgomery_512/images"):
        subprocess.run([sys.executable, "-m", "lungseg_lib.cli", "data", "fetch", "shenzhen-montgomery-512",
                        "--out", "data/shenzhen_montgomery_512"], check=True)'''


def cell_source(url: str | None = None) -> str:
    """The set-up cell's code with the repository URL (default: the project's)."""
    from .project import repository_url

    return TEMPLATE.replace("{repository_url}", url or repository_url())


def figure_notebooks(root: Path = REPO_ROOT) -> list[Path]:
    """The ``.py`` halves of the figure notebooks: ``notebooks/NN_*.py`` but ``00_train``."""
    return sorted(p for p in (Path(root) / "notebooks").glob("[0-9][0-9]_*.py") if p.stem != "00_train")


def with_cell(text: str, source: str) -> str:
    """A py:percent notebook's text with the set-up cell first (replacing an older one)."""
    cell = f"{HEADER}\n{source}\n\n"
    text = re.sub(rf"^{re.escape(HEADER)}\n.*?(?=^# %%)", "", text, flags=re.M | re.S)
    match = re.match(r"(# ---\n.*?\n# ---\n\n)", text, flags=re.S)  # the jupytext header
    head = match.group(1) if match else ""
    return head + cell + text[len(head):]


def sync(root: Path = REPO_ROOT, url: str | None = None) -> list[Path]:
    """Write the current set-up cell into every figure notebook (``.py`` and its ``.ipynb``);
    return the notebooks that changed."""
    source = cell_source(url)
    changed = []
    for py in figure_notebooks(root):
        text = py.read_text(encoding="utf-8")
        new = with_cell(text, source)
        if new != text:
            py.write_text(new, encoding="utf-8")
            changed.append(py)
    if changed:
        exe = Path(sys.executable).with_name("jupytext")
        cmd = [str(exe) if exe.exists() else "jupytext", "--sync", *map(str, changed)]
        subprocess.run(cmd, check=True, capture_output=True)
        for py in changed:  # keep the headers as committed: no jupytext version lines
            text = py.read_text(encoding="utf-8")
            py.write_text(re.sub(r"^#\s+(format_version|jupytext_version): .*\n", "", text, flags=re.M), encoding="utf-8")
    return changed


if __name__ == "__main__":
    for path in sync():
        print(f"{path}: set-up cell written")
