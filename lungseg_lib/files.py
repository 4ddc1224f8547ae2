"""Atomic file writes, the one implementation every part of the package uses.

A file is written under a temporary name in its own folder and renamed into place
(``os.replace``, atomic on one file system), so a process killed at any moment leaves either
the old file or the new one, never a half-written file that looks complete.
:func:`replacing` serves writers that need a path (NumPy, Keras, SimpleITK, papermill): the
temporary name keeps the file's extensions, which those writers read the format from.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


def _umask() -> int:
    """The process's umask (read by setting it and setting it back: at import, before threads)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _umask()
#: the permissions a plain ``open()`` or ``mkdir()`` would give (temporary files and folders
#: are created private, 0o600 and 0o700, and get these before they are renamed into place)
FILE_MODE, FOLDER_MODE = 0o666 & ~_UMASK, 0o777 & ~_UMASK


@contextlib.contextmanager
def replacing(path: str | os.PathLike, tmp: str | None = None, keep_on_error: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block ends without an error, rename
    it onto ``path``. On an error the temporary file is deleted (``keep_on_error``: kept, for
    a partial result worth looking at). ``tmp``: the temporary file's name (default: a
    unique hidden name with ``path``'s extensions)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if tmp is None:
        stem = path.name.split(".", 1)[0]
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{stem}.", suffix=f".tmp{path.name[len(stem):]}")
        os.close(fd)
        temporary = Path(name)
    else:
        temporary = path.parent / tmp
    try:
        yield temporary
    except BaseException:
        if not keep_on_error:
            temporary.unlink(missing_ok=True)
        raise
    if tmp is None and temporary.is_file():
        os.chmod(temporary, FILE_MODE)
    os.replace(temporary, path)


def replace_folder(stage: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Move the finished folder ``stage`` onto ``out`` (same file system). An existing ``out``
    is first renamed aside and deleted after, so ``out`` is at every moment the old folder,
    absent, or the new one, never a mixture. ``out`` gets a plain folder's permissions."""
    stage, out = Path(stage), Path(out)
    if not stage.is_dir():
        raise NotADirectoryError(f"{stage}: not a folder")
    os.chmod(stage, FOLDER_MODE)
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(stage, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return out


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (flushed to disk before the rename)."""
    path = Path(path)
    with replacing(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, data: dict) -> Path:
    """Write a JSON object atomically (indented, sorted keys, other types as ``str``)."""
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: str | os.PathLike) -> dict:
    """Read a JSON object, with an error naming the file when it is missing or broken."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: not found") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc


def write_csv(path: str | os.PathLike, table) -> Path:
    """Write a pandas table as CSV atomically (without the index)."""
    return atomic_write_text(path, table.to_csv(index=False))


def sha256_file(path: str | os.PathLike, progress: bool = False) -> str:
    """The SHA-256 hex digest of a file, read in 1 MB blocks (``progress``: a bar, for large files)."""
    from tqdm.auto import tqdm

    path = Path(path)
    digest = hashlib.sha256()
    with open(path, "rb") as f, tqdm(total=path.stat().st_size, desc=f"sha256 {path.name}", unit="B",
                                     unit_scale=True, disable=not progress) as bar:
        while block := f.read(1 << 20):
            digest.update(block)
            bar.update(len(block))
    return digest.hexdigest()
