"""The book's sources copied to a separate book root, so that tests build beside other builds."""

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("_config.yml", "_toc.yml", "book")  # what a book root holds besides the notebooks


def copy_book_sources(dest: Path) -> Path:
    """Copy ``_config.yml``, ``_toc.yml`` and ``book/`` (without executed notebooks) to ``dest``."""
    dest = Path(dest)
    for name in SOURCES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("_executed", "__pycache__"))
        else:
            shutil.copy2(src, dest / name)
    return dest
