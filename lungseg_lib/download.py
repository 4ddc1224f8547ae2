"""Download and convert the public lung-segmentation data sets to the standard layout.

The standard layout is a folder with ``images/NAME.png``, ``masks/NAME.png`` (8-bit,
lung = 255, background = 0, both lungs in one file) and ``manifest.csv`` with columns
``file, source, tb_label``.

* :func:`fetch_montgomery` downloads the Montgomery County set from the U.S. National
  Library of Medicine (resumable, checked, SHA-256 recorded) and converts it.
* :func:`convert_kaggle` converts the Kaggle "Chest Xray Masks and Labels" archive or folder
  (Shenzhen + Montgomery).
* :func:`safe_extract` unpacks a zip or tar archive, refusing members that would land
  outside the target folder.

Outputs are built in a hidden staging folder next to ``out`` and renamed into place when
finished; a ``.complete`` marker (written last) makes reruns leave a finished output as it
is. Every image that is not converted is listed in :class:`ConversionSummary` ``.skipped``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import re
import shutil
import stat
import tarfile
import tempfile
import urllib.parse
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

import cv2
import numpy as np
from tqdm.auto import tqdm

from . import __version__
from .errors import DataError
from .imageio import read_image, write_png

log = logging.getLogger(__name__)

MONTGOMERY_URL = "https://openi.nlm.nih.gov/imgs/collections/NLM-MontgomeryCXRSet.zip"
# SHA-256 of the archive at MONTGOMERY_URL as pinned by the torch-em project's loader; a
# different hash only gives a warning (NLM may republish the archive).
MONTGOMERY_SHA256 = "54601e952315d8f67383e9202a6e145997ade429f54f7e0af44b4e158714f424"
MARKER = ".complete"
NAME_RE = re.compile(r"^(MCUCXR|CHNCXR)_\d+_([01])$")
SOURCES = {"MCUCXR": "montgomery", "CHNCXR": "shenzhen"}
_CHUNK = 1 << 20


@dataclass
class ConversionSummary:
    """What a conversion produced: ``out`` folder, pairs ``written``, ``skipped`` (file, reason).

    ``notes`` holds other remarks (e.g. ignored test images); ``reused`` is True when a
    complete output already existed and was left as it is. Usable as a path (``os.fspath``).
    """

    out: Path
    written: int
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    reused: bool = False

    def __fspath__(self) -> str:
        return str(self.out)

    def __str__(self) -> str:
        state = "already complete, left as it is" if self.reused else "written"
        lines = [f"{self.out}: {self.written} image/mask pairs ({state}), {len(self.skipped)} skipped"]
        lines += [f"  skipped {name}: {reason}" for name, reason in self.skipped]
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)


# ----------------------------------------------------------------------------- extraction


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


def _check_zip(archive: Path) -> None:
    """Read every member of a zip archive and compare CRCs; DataError naming the archive."""
    try:
        with zipfile.ZipFile(archive) as zf:
            bad = zf.testzip()
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise DataError(f"{archive}: corrupt or incomplete zip archive ({exc}); delete it and rerun") from exc
    if bad is not None:
        raise DataError(f"{archive}: corrupt zip archive (CRC error in member {bad!r}); delete it and rerun")


# ----------------------------------------------------------------------------- download


def _sha256(path: Path, progress: bool) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f, tqdm(total=path.stat().st_size, desc=f"sha256 {path.name}", unit="B",
                                     unit_scale=True, disable=not progress) as bar:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


def _download(url: str, dest: Path, progress: bool) -> None:
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
    except OSError as exc:  # URLError, HTTPError, timeouts, disk full
        raise DataError(f"{url}: download failed ({exc}); rerun to resume into {part}") from exc
    got = part.stat().st_size
    if total is not None and got != total:
        raise DataError(f"{url}: download incomplete ({got} of {total} bytes); rerun to resume into {part}")
    os.replace(part, dest)


def _fetch_archive(url: str, cache_dir: Path, progress: bool) -> tuple[Path, str]:
    """Return (archive, sha256): download it unless cached, check it, record or verify its hash."""
    if "://" not in url:  # a local file: copy it into the cache like any download
        url = Path(url).expanduser().resolve().as_uri()
    name = Path(urllib.parse.unquote(urllib.parse.urlparse(url).path)).name or "archive.zip"
    cache_dir.mkdir(parents=True, exist_ok=True)
    archive = cache_dir / name
    record = archive.with_name(archive.name + ".sha256.json")
    if archive.exists() and record.exists():
        try:
            expected = json.loads(record.read_text())["sha256"]
        except (ValueError, KeyError) as exc:
            raise DataError(f"{record}: unreadable hash record ({exc}); delete it and rerun") from exc
        sha = _sha256(archive, progress)
        if sha != expected:
            raise DataError(
                f"{archive}: SHA-256 {sha} does not match {expected} recorded in {record.name} when it "
                f"was downloaded; the file changed or is damaged: delete it (and {record.name}) and rerun"
            )
        return archive, sha
    if not archive.exists():
        _download(url, archive, progress)
    _check_zip(archive)
    sha = _sha256(archive, progress)
    record.write_text(json.dumps({"file": name, "url": url, "bytes": archive.stat().st_size,
                                  "sha256": sha}, indent=2) + "\n")
    if url == MONTGOMERY_URL and sha != MONTGOMERY_SHA256:
        log.warning("%s: SHA-256 %s differs from the published %s (archive republished?)",
                    archive, sha, MONTGOMERY_SHA256)
    return archive, sha


# ----------------------------------------------------------------------------- writing


def _existing(out: Path, params: dict) -> ConversionSummary | None:
    """Return the summary of a complete output made with ``params``; None if ``out`` is free."""
    marker = out / MARKER
    if marker.exists():
        try:
            info = json.loads(marker.read_text())
        except ValueError as exc:
            raise DataError(f"{marker}: unreadable ({exc}); delete {out} and rerun") from exc
        for key, value in params.items():
            if info.get(key) != value:
                raise DataError(f"{out}: already holds a conversion with {key}={info.get(key)!r} "
                                f"(asked for {value!r}); delete it or choose another folder")
        return ConversionSummary(out, info["written"], [tuple(s) for s in info["skipped"]],
                                 info["notes"], reused=True)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DataError(f"{out}: exists but is not a complete conversion (no {MARKER} file); "
                        f"delete it or choose another folder")
    return None


def _staging(out: Path) -> Path:
    stage = out.parent / f".{out.name}.partial"
    shutil.rmtree(stage, ignore_errors=True)  # left over from an interrupted run
    (stage / "images").mkdir(parents=True)
    (stage / "masks").mkdir()
    return stage


def _resize_image(img: np.ndarray, size: int | None) -> np.ndarray:
    return img if size is None else cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)


def _to_mask(masks: list[np.ndarray], size: int | None) -> np.ndarray:
    """Union of binarized (> 127, or > 32767 for 16 bit) masks as uint8 0/255."""
    lung = np.zeros(masks[0].shape, bool)
    for m in masks:
        lung |= m > (32767 if m.dtype == np.uint16 else 127)
    mask = lung.astype(np.uint8) * 255
    return mask if size is None else cv2.resize(mask, (size, size), interpolation=cv2.INTER_NEAREST)


def _convert(pairs: dict[str, tuple[Path, list[Path]]], out: Path, params: dict, size: int | None,
             skipped: list[tuple[str, str]], notes: list[str], progress: bool) -> ConversionSummary:
    """Write ``pairs`` (name -> (image, mask files to merge)) in the standard layout."""
    stage = _staging(out)
    rows = []
    for name, (image_path, mask_paths) in tqdm(sorted(pairs.items()), desc=f"convert to {out.name}",
                                                unit="image", disable=not progress):
        match = NAME_RE.match(name)
        if not match:
            skipped.append((image_path.name, "file name is not MCUCXR_####_0/1 or CHNCXR_####_0/1"))
            continue
        try:
            img = read_image(image_path)
            masks = [read_image(p) for p in mask_paths]
        except DataError as exc:
            skipped.append((image_path.name, str(exc)))
            continue
        bad = [(p.name, m.shape) for p, m in zip(mask_paths, masks) if m.shape != img.shape]
        if bad:
            skipped.append((image_path.name, f"mask {bad[0][0]} is {bad[0][1][1]}x{bad[0][1][0]} pixels, "
                                              f"image is {img.shape[1]}x{img.shape[0]}"))
            continue
        write_png(stage / "images" / f"{name}.png", _resize_image(img, size))
        write_png(stage / "masks" / f"{name}.png", _to_mask(masks, size))
        rows.append((f"{name}.png", SOURCES[match.group(1)], match.group(2)))
    with open(stage / "manifest.csv", "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows([("file", "source", "tb_label"), *rows])
    summary = ConversionSummary(out, len(rows), skipped, notes)
    (stage / MARKER).write_text(json.dumps({**params, "written": summary.written, "skipped": skipped,
                                            "notes": notes}, indent=2) + "\n")
    if out.exists():
        out.rmdir()  # _existing() allowed only an empty folder
    os.replace(stage, out)
    if skipped:
        log.warning("%s: %d image(s) skipped; see the conversion summary", out, len(skipped))
    return summary


def _pngs(folder: Path) -> dict[str, Path]:
    """PNG files in ``folder`` by stem, ignoring hidden files (e.g. macOS ``._`` forks)."""
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.iterdir())
            if p.suffix.lower() == ".png" and not p.name.startswith(".") and p.is_file()}


def _find_root(top: Path, *children: str) -> Path:
    """The folder under ``top`` (itself included) holding all ``children``; shallowest wins."""
    found = sorted((p for p in [top, *top.rglob("*")] if p.is_dir() and "__MACOSX" not in p.parts
                    and all((p / c).is_dir() for c in children)), key=lambda p: len(p.parts))
    if not found:
        raise DataError(f"{top}: no folder containing {' and '.join(children)} found")
    if len(found) > 1 and len(found[1].parts) == len(found[0].parts):
        raise DataError(f"{top}: several folders contain {' and '.join(children)}: "
                        f"{found[0]}, {found[1]}; pass the one to use")
    return found[0]


# ----------------------------------------------------------------------------- public API


def fetch_montgomery(out: str | os.PathLike, *, url: str = MONTGOMERY_URL, cache_dir: str | os.PathLike | None = None,
                     size: int | None = None, progress: bool = True) -> ConversionSummary:
    """Download the NLM Montgomery County set and write it to ``out`` in the standard layout.

    ``url`` may be an http(s) or ``file://`` URL or a local archive path; the archive is kept
    in ``cache_dir`` (default ``<out's parent>/.cache``) with its SHA-256 in
    ``<archive>.sha256.json``, which later runs verify. Left and right masks are merged;
    ``size`` resizes to ``size`` x ``size``. A complete ``out`` is left as it is.
    """
    out = Path(out).expanduser()
    params = {"dataset": "montgomery", "size": size}
    if (done := _existing(out, params)) is not None:
        return done
    cache_dir = Path(cache_dir) if cache_dir is not None else out.parent / ".cache"
    archive, sha = _fetch_archive(str(url), cache_dir, progress)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.extract-") as tmp:
        root = _find_root(safe_extract(archive, tmp, progress=progress), "CXR_png", "ManualMask")
        left, right = _pngs(root / "ManualMask" / "leftMask"), _pngs(root / "ManualMask" / "rightMask")
        pairs, skipped = {}, []
        for name, image in _pngs(root / "CXR_png").items():
            missing = [side for side, found in (("left", left), ("right", right)) if name not in found]
            if missing:
                skipped.append((image.name, f"no {' or '.join(missing)} lung mask"))
            else:
                pairs[name] = (image, [left[name], right[name]])
        return _convert(pairs, out, {**params, "archive_sha256": sha}, size, skipped, [], progress)


def convert_kaggle(src: str | os.PathLike, out: str | os.PathLike, *, size: int | None = None,
                   progress: bool = True) -> ConversionSummary:
    """Convert the Kaggle "Chest Xray Masks and Labels" set (zip/tar or folder) to ``out``.

    Looks for the folder holding ``CXR_png`` and ``masks`` (normally ``Lung Segmentation``);
    masks are ``NAME_mask.png`` (Shenzhen) or ``NAME.png`` (Montgomery). Images without a
    mask are skipped and listed in the summary; the unlabelled ``test/`` images are counted
    in its notes. ``size`` resizes to ``size`` x ``size``. A complete ``out`` is left as it is.
    """
    src, out = Path(src).expanduser(), Path(out).expanduser()
    if not src.exists():
        raise DataError(f"{src}: not found (give the Kaggle archive or its extracted folder)")
    params = {"dataset": "kaggle", "size": size}
    if (done := _existing(out, params)) is not None:
        return done
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.extract-") as tmp:
        top = src if src.is_dir() else safe_extract(src, tmp, progress=progress)
        root = _find_root(top, "CXR_png", "masks")
        masks = _pngs(root / "masks")
        pairs, skipped, used = {}, [], set()
        for name, image in _pngs(root / "CXR_png").items():
            mask = masks.get(f"{name}_mask") or masks.get(name)
            if mask is None:
                skipped.append((image.name, "no mask"))
            else:
                pairs[name] = (image, [mask])
                used.add(mask.stem)
        skipped += [(m.name, "mask without image") for stem, m in masks.items() if stem not in used]
        notes = []
        if (test := _pngs(root / "test")):
            notes.append(f"ignored {len(test)} unlabelled image(s) in {root.name}/test/")
        return _convert(pairs, out, {**params, "source": src.name}, size, skipped, notes, progress)
