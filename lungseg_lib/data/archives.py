"""Download, check and unpack archives: the generic half of the data sets' download.

* :func:`download` fetches a URL into a ``.part`` file and renames it when complete; an
  interrupted download resumes with an HTTP Range request (:func:`download_retrying` tries
  again, waiting :data:`RETRY_WAIT_S` seconds, doubled each time).
* :func:`safe_extract` unpacks a zip or tar archive, refusing members that would land
  outside the target folder; :func:`members` reads an archive's (or a folder's) files
  without extracting them.
"""

from __future__ import annotations

import http.client
import logging
import os
import re
import stat
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from functools import partial
from pathlib import Path, PurePosixPath, PureWindowsPath

from tqdm.auto import tqdm

from .. import __version__
from ..errors import DataError

log = logging.getLogger(__name__)

RETRY_WAIT_S = 2.0  # seconds before the second try of a download, doubled for each later one
_CHUNK = 1 << 20


def _unsafe_reason(name: str) -> str | None:
    """Why the archive member ``name`` may not be extracted, or None if its path is safe."""
    if not name or PurePosixPath(name).is_absolute() or PureWindowsPath(name).is_absolute() \
            or PureWindowsPath(name).drive or name.startswith(("/", "\\")):
        return "absolute path"
    if ".." in re.split(r"[/\\]", name):
        return "'..' in its path"
    return None


def safe_extract(archive: str | os.PathLike, dest: str | os.PathLike, *, progress: bool = True) -> Path:
    """Extract a zip or tar(.gz/.bz2/.xz) archive into ``dest`` and return ``dest``.

    Every member is checked before anything is written: absolute paths, ``..`` components,
    links and special files are refused with a :class:`DataError` naming the member. CRC and
    read errors are reported as :class:`DataError` naming the archive.
    """
    archive, dest = Path(archive), Path(dest)
    if not archive.is_file():
        raise DataError(f"{archive}: archive not found")
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()

    def check(name: str, link: bool, special: bool = False) -> None:
        reason = _unsafe_reason(name) or ("a link" if link else "a special file" if special else None)
        if reason is None and not (root / name).resolve().is_relative_to(root):
            reason = "a path outside the target folder"
        if reason:
            raise DataError(f"{archive}: refusing to extract member {name!r} ({reason})")

    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                members = zf.infolist()
                for m in members:
                    check(m.filename, stat.S_ISLNK(m.external_attr >> 16))
                for m in tqdm(members, desc=f"extract {archive.name}", unit="file", disable=not progress):
                    zf.extract(m, root)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                members = tf.getmembers()
                for m in members:
                    check(m.name, m.issym() or m.islnk(), not (m.isfile() or m.isdir()))
                kwargs = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
                for m in tqdm(members, desc=f"extract {archive.name}", unit="file", disable=not progress):
                    tf.extract(m, root, **kwargs)
        else:
            raise DataError(f"{archive}: not a zip or tar archive (or truncated); delete it and download it again")
    except (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError) as exc:
        raise DataError(f"{archive}: corrupt archive ({exc}); delete it and download it again") from exc
    return dest


def check_zip(archive: Path) -> None:
    """Read every member of a zip archive and compare CRCs; DataError naming the archive."""
    try:
        with zipfile.ZipFile(archive) as zf:
            bad = zf.testzip()
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise DataError(f"{archive}: corrupt or incomplete zip archive ({exc}); delete it and rerun") from exc
    if bad is not None:
        raise DataError(f"{archive}: corrupt zip archive (CRC error in member {bad!r}); delete it and rerun")


def download(url: str, dest: Path, progress: bool) -> None:
    """Download ``url`` to ``dest`` via ``dest.part``; resume a partial download over HTTP."""
    part = dest.with_name(dest.name + ".part")
    start = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": f"lungseg/{__version__}"})
    if start and url.startswith(("http://", "https://")):
        request.add_header("Range", f"bytes={start}-")
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            if start and getattr(resp, "status", None) != 206:
                start = 0  # the server (or a file: URL) ignores ranges: start again
            length = resp.headers.get("Content-Length")
            total = start + int(length) if length else None
            with open(part, "ab" if start else "wb") as f, \
                    tqdm(total=total, initial=start, desc=f"download {dest.name}", unit="B",
                         unit_scale=True, disable=not progress) as bar:
                while chunk := resp.read(_CHUNK):
                    f.write(chunk)
                    bar.update(len(chunk))
    except (OSError, http.client.HTTPException) as exc:  # URLError, HTTPError, timeouts, cut
        raise DataError(f"{url}: download failed ({exc}); rerun to resume into {part}") from exc
    got = part.stat().st_size
    if total is not None and got != total:
        raise DataError(f"{url}: download incomplete ({got} of {total} bytes); rerun to resume into {part}")
    os.replace(part, dest)


def download_retrying(url: str, dest: Path, progress: bool, tries: int) -> None:
    """:func:`download` up to ``tries`` times, each try resuming the ``.part`` file; an HTTP
    4xx answer (wrong URL, gone) is not retried, but 416 (the ``.part`` file is as long as
    the file or longer) deletes the ``.part`` file and starts again."""
    for attempt in range(1, tries + 1):
        try:
            return download(url, dest, progress)
        except DataError as exc:
            cause = exc.__cause__
            code = cause.code if isinstance(cause, urllib.error.HTTPError) else None
            if code == 416:
                dest.with_name(dest.name + ".part").unlink(missing_ok=True)
            if attempt >= tries or (code is not None and 400 <= code < 500 and code != 416):
                raise
            log.warning("%s (try %d of %d); trying again", exc, attempt, tries)
            time.sleep(RETRY_WAIT_S * 2 ** (attempt - 1))


def _tar_read(tf: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    with tf.extractfile(member) as f:
        return f.read()


def members(src: Path):
    """Yield ``(name, read)`` for each regular file of the zip or tar archive or folder
    ``src``; ``read()`` returns its bytes. A folder's names start with its own name."""
    if src.is_dir():
        for path in sorted(src.rglob("*")):
            if path.is_file():
                yield f"{src.name}/{path.relative_to(src).as_posix()}", path.read_bytes
    elif zipfile.is_zipfile(src):
        with zipfile.ZipFile(src) as zf:
            for info in zf.infolist():
                if not info.is_dir():
                    yield info.filename, partial(zf.read, info)
    elif tarfile.is_tarfile(src):
        with tarfile.open(src) as tf:
            for member in tf:
                if member.isfile():
                    yield member.name, partial(_tar_read, tf, member)
    else:
        raise DataError(f"{src}: not a zip or tar archive (or truncated), nor a folder")


def cache_name(url: str) -> str:
    """The file name for a download of ``url``: its last path component; GitHub's codeload
    URLs (``.../REPO/tar.gz/COMMIT``) become ``REPO-COMMIT.tar.gz``."""
    parts = urllib.parse.unquote(urllib.parse.urlparse(url).path).rstrip("/").split("/")
    if len(parts) >= 3 and parts[-2] in ("tar.gz", "zip"):
        return f"{parts[-3]}-{parts[-1]}.{parts[-2]}"
    return parts[-1] or "archive"
