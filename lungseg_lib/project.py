"""The project itself: where the repository is (:data:`REPO_ROOT`, paths relative to it) and
its settings, kept in one place: ``[tool.lungseg]`` in ``pyproject.toml``.

``repository_url`` is the project's public repository. It is the one thing to change when the
repository is published (or moves): ``lungseg book`` writes it into the book's configuration
(repository, issue and launch buttons; see :func:`lungseg_lib.book.write_book_config`) and
into ``CITATION.cff`` (:func:`sync_citation`); ``tests/test_project.py`` checks that no other
committed file holds it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .files import atomic_write_text

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: read the one key with a regular expression
    tomllib = None

REPO_ROOT = Path(__file__).resolve().parents[1]  # the repository (or the installed package's parent)
PYPROJECT = "pyproject.toml"
CITATION = "CITATION.cff"
_CITATION_LINE = re.compile(r'^repository-code:.*$', re.M)


def repo_path(path: str | os.PathLike) -> Path:
    """``path`` itself when absolute, else relative to the repository root."""
    path = Path(path).expanduser()
    return path if path.is_absolute() else REPO_ROOT / path


def relative_to_repo(path: str | os.PathLike) -> str:
    """``path`` relative to the repository (POSIX form) when inside it, else as given."""
    try:
        return Path(path).resolve().relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return str(path)


def settings(root: Path = REPO_ROOT) -> dict:
    """``[tool.lungseg]`` of ``root/pyproject.toml``; ValueError naming the file if absent."""
    path = Path(root) / PYPROJECT
    text = path.read_text(encoding="utf-8")
    if tomllib is not None:
        try:
            table = tomllib.loads(text).get("tool", {}).get("lungseg")
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path}: not valid TOML ({exc})") from exc
    else:
        match = re.search(r'^\[tool\.lungseg\][^\[]*?^repository_url\s*=\s*"([^"]*)"', text, re.M | re.S)
        table = {"repository_url": match.group(1)} if match else None
    if not table:
        raise ValueError(f"{path}: no [tool.lungseg] table")
    return table


def repository_url(root: Path = REPO_ROOT) -> str:
    """The project's repository URL (``[tool.lungseg] repository_url``), without a final slash."""
    url = str(settings(root).get("repository_url", "")).rstrip("/")
    if not re.fullmatch(r"https://\S+", url):
        raise ValueError(f"{Path(root) / PYPROJECT}: [tool.lungseg] repository_url must be an https:// "
                         f"URL, got {url!r}")
    return url


def sync_citation(root: Path = REPO_ROOT, url: str | None = None) -> bool:
    """Set ``repository-code`` of ``root/CITATION.cff`` to the repository URL (atomic write);
    True if the file changed. ValueError naming the file if it has no such line."""
    path = Path(root) / CITATION
    url = url or repository_url()
    text = path.read_text(encoding="utf-8")
    if not _CITATION_LINE.search(text):
        raise ValueError(f"{path}: no 'repository-code:' line")
    new = _CITATION_LINE.sub(f'repository-code: "{url}"', text, count=1)
    if new == text:
        return False
    atomic_write_text(path, new)
    return True
