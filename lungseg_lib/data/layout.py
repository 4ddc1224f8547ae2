"""The standard layout a download or conversion writes, and how it writes it.

The standard layout is a folder with ``images/NAME.png``, ``masks/NAME.png`` (8-bit,
lung = 255, background = 0, both lungs in one file) and ``manifest.csv`` with columns
``file, source, tb_label``. It is built in a hidden staging folder next to ``out`` and renamed
into place when finished; a ``.complete`` marker (written last) makes reruns leave a finished
output as it is. Every image that is not converted is listed in :class:`ConversionSummary`
``.skipped``.
"""

from __future__ import annotations

import csv
import json
import logging
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..errors import DataError
from ..files import replace_folder
from .imageio import binarize_mask, read_pixels, resize_pair, write_png

log = logging.getLogger(__name__)

MARKER = ".complete"
NAME_RE = re.compile(r"^(MCUCXR|CHNCXR)_\d+_([01])$")
SOURCES = {"MCUCXR": "montgomery", "CHNCXR": "shenzhen"}


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


def existing_output(out: Path, params: dict) -> ConversionSummary | None:
    """Return the summary of a complete output made with ``params``; None if ``out`` is free."""
    marker = out / MARKER
    if marker.exists():
        try:
            info = json.loads(marker.read_text(encoding="utf-8"))
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


def staging(out: Path) -> Path:
    """A fresh hidden staging folder ``.<out>.partial`` beside ``out`` with images/ and masks/."""
    stage = out.parent / f".{out.name}.partial"
    shutil.rmtree(stage, ignore_errors=True)  # left over from an interrupted run
    (stage / "images").mkdir(parents=True)
    (stage / "masks").mkdir()
    return stage


def write_manifest(folder: Path, rows: list[tuple[str, str, str]]) -> None:
    """``folder/manifest.csv`` with columns file, source, tb_label (a staging folder: no rename)."""
    with open(folder / "manifest.csv", "w", newline="", encoding="utf-8") as f:
        csv.writer(f, lineterminator="\n").writerows([("file", "source", "tb_label"), *rows])


def merged_mask(masks: list[np.ndarray], paths: list | None = None) -> np.ndarray:
    """The union of ``masks`` (e.g. the left and the right lung), each binarized by the one rule
    (:func:`lungseg_lib.data.imageio.binarize_mask`: 0/1 masks as ``> 0``), as uint8 0/255."""
    lung = np.zeros(masks[0].shape, bool)
    for m, path in zip(masks, paths or ["mask"] * len(masks)):
        lung |= binarize_mask(m, path)[0]
    return lung.astype(np.uint8) * 255


def convert(pairs: dict[str, tuple[Path, list[Path]]], out: Path, params: dict, size: int | None,
            skipped: list[tuple[str, str]], notes: list[str], progress: bool) -> ConversionSummary:
    """Write ``pairs`` (name -> (image, mask files to merge)) in the standard layout."""
    stage = staging(out)
    rows = []
    for name, (image_path, mask_paths) in tqdm(sorted(pairs.items()), desc=f"convert to {out.name}",
                                                unit="image", disable=not progress):
        match = NAME_RE.match(name)
        if not match:
            skipped.append((image_path.name, "file name is not MCUCXR_####_0/1 or CHNCXR_####_0/1"))
            continue
        try:
            img = read_pixels(image_path)
            masks = [read_pixels(p) for p in mask_paths]
        except DataError as exc:
            skipped.append((image_path.name, str(exc)))
            continue
        bad = [(p.name, m.shape) for p, m in zip(mask_paths, masks) if m.shape != img.shape]
        if bad:
            skipped.append((image_path.name, f"mask {bad[0][0]} is {bad[0][1][1]}x{bad[0][1][0]} pixels, "
                                              f"image is {img.shape[1]}x{img.shape[0]}"))
            continue
        try:
            merged = merged_mask(masks, mask_paths)
        except DataError as exc:
            skipped.append((image_path.name, str(exc)))
            continue
        img, mask = resize_pair(img, merged, size)
        write_png(stage / "images" / f"{name}.png", img)
        write_png(stage / "masks" / f"{name}.png", mask)
        rows.append((f"{name}.png", SOURCES[match.group(1)], match.group(2)))
    write_manifest(stage, rows)
    summary = ConversionSummary(out, len(rows), skipped, notes)
    (stage / MARKER).write_text(json.dumps({**params, "written": summary.written, "skipped": skipped,
                                            "notes": notes}, indent=2) + "\n", encoding="utf-8")
    replace_folder(stage, out)  # existing_output() allowed only an empty folder
    if skipped:
        log.warning("%s: %d image(s) skipped; see the conversion summary", out, len(skipped))
    return summary


def pngs(folder: Path) -> dict[str, Path]:
    """PNG files in ``folder`` by stem, ignoring hidden files (e.g. macOS ``._`` forks)."""
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.iterdir())
            if p.suffix.lower() == ".png" and not p.name.startswith(".") and p.is_file()}


def find_root(top: Path, *children: str) -> Path:
    """The folder under ``top`` (itself included) holding all ``children``; shallowest wins."""
    found = sorted((p for p in [top, *top.rglob("*")] if p.is_dir() and "__MACOSX" not in p.parts
                    and all((p / c).is_dir() for c in children)), key=lambda p: len(p.parts))
    if not found:
        raise DataError(f"{top}: no folder containing {' and '.join(children)} found")
    if len(found) > 1 and len(found[1].parts) == len(found[0].parts):
        raise DataError(f"{top}: several folders contain {' and '.join(children)}: "
                        f"{found[0]}, {found[1]}; pass the one to use")
    return found[0]
