"""Find image/mask pairs in a data folder, check them, split them and load them.

A data folder holds ``images/NAME.ext`` and ``masks/NAME.ext`` (or ``masks/NAME_mask.ext``)
and optionally ``manifest.csv`` with columns ``file, source`` and a label column
(``tb_label`` or ``label``). Every problem is reported with the file it concerns; nothing is
dropped silently.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from ..files import write_csv
from .imageio import IMAGE_SUFFIXES, binarize_mask, read_image, read_pixels

DATA_ENV = "LUNGSEG_DATA"
SPLIT_FRACTIONS = (0.7, 0.1, 0.2)


@dataclass(frozen=True)
class Pair:
    """One chest X-ray and its lung mask."""

    name: str
    image: Path
    mask: Path
    source: str = "unknown"
    label: str = ""


@dataclass
class Problem:
    """A problem with one file, shown as ``file: what``."""

    file: Path
    what: str

    def __str__(self) -> str:
        return f"{self.file}: {self.what}"


@dataclass
class Scan:
    """The result of scanning a data folder: usable pairs and every problem found."""

    root: Path
    pairs: list[Pair] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def data_set_dir(name: str) -> Path | None:
    """The folder of the data set ``name`` (e.g. ``covid_pneumonia_512``) on this machine: the
    repository's ``data/NAME``, ``$LUNGSEG_DATA`` when it is that set, or its sibling ``NAME``
    (CI and the book point ``$LUNGSEG_DATA`` at one set of a folder holding them all); None."""
    from ..project import REPO_ROOT

    candidates = [REPO_ROOT / "data" / name]
    if os.environ.get(DATA_ENV):
        env = Path(os.environ[DATA_ENV]).expanduser()
        candidates += [env] if env.name == name else [env.parent / name]
    return next((c for c in candidates if (c / "images").is_dir()), None)


def resolve_data_dir(path: str | os.PathLike | None = None) -> Path:
    """Return the data folder from ``path`` (a folder, or the name of a data set found by
    :func:`data_set_dir`) or ``$LUNGSEG_DATA``, or raise a helpful error."""
    if path and not Path(path).expanduser().is_dir() and os.sep not in str(path) and data_set_dir(str(path)):
        return data_set_dir(str(path))
    path = path or os.environ.get(DATA_ENV)
    if not path:
        raise DataError(
            "no data folder given: pass --data PATH or set LUNGSEG_DATA; to get the data the runs "
            "were trained on run `lungseg data fetch shenzhen-montgomery-512 --out "
            "data/shenzhen_montgomery_512`"
        )
    root = Path(path).expanduser()
    if not (root / "images").is_dir():
        raise DataError(f"{root}: not a data folder (no images/ subfolder); see `lungseg data --help`")
    return root


def portable_path(path: str | os.PathLike, repo_root: Path) -> str:
    """``path`` as committed run files record it: relative to the repository when inside it,
    else the folder's name alone (a data root is then found by :func:`locate_data`)."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(repo_root.resolve()))
    except ValueError:
        return path.name


def locate_data(recorded: str, repo_root: Path, fingerprint_of=None) -> Path:
    """The data folder a run recorded (see :func:`portable_path`) on this machine.

    Looked for as the recorded path itself, then inside the repository, then under its
    ``data/`` folder, then beside ``$LUNGSEG_DATA`` under the same name, then ``$LUNGSEG_DATA``. ``fingerprint_of``: an optional
    ``(root -> fingerprint, expected)`` pair; a folder whose fingerprint differs is an error.
    """
    candidates = [Path(recorded), repo_root / recorded, repo_root / "data" / Path(recorded).name]
    if os.environ.get(DATA_ENV):
        env = Path(os.environ[DATA_ENV]).expanduser()
        candidates += [env.parent / Path(recorded).name, env]  # a sibling of the same name first
    found = next((c for c in candidates if (c / "images").is_dir()), None)
    if found is None:
        raise DataError(f"the data folder {recorded!r} of this run is not here: set {DATA_ENV} to "
                        f"it (looked in {', '.join(str(c) for c in candidates)})")
    if fingerprint_of is not None:
        compute, expected = fingerprint_of
        actual = compute(found)
        if expected and actual != expected:
            raise DataError(f"{found}: data fingerprint {actual} differs from the run's {expected}: "
                            "not the data this run was trained on")
    return found


def _stem_of_mask(path: Path) -> str:
    return path.stem[: -len("_mask")] if path.stem.endswith("_mask") else path.stem


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def _read_manifest(root: Path) -> dict[str, tuple[str, str]]:
    path = root / "manifest.csv"
    if not path.exists():
        return {}
    try:
        table = pd.read_csv(path, dtype=str).fillna("")
    except Exception as exc:
        raise DataError(f"{path}: unreadable manifest ({exc})") from exc
    if "file" not in table.columns:
        raise DataError(f"{path}: manifest has no 'file' column (columns: {list(table.columns)})")
    label_col = next((c for c in ("tb_label", "label") if c in table.columns), None)
    sources = table["source"] if "source" in table.columns else [""] * len(table)
    labels = table[label_col] if label_col else [""] * len(table)
    return {Path(f).stem: (s or "unknown", lab) for f, s, lab in zip(table["file"], sources, labels)}


def find_pairs(root: str | os.PathLike) -> Scan:
    """Pair ``images/`` with ``masks/`` by file stem; report missing masks, strays and duplicates."""
    root = Path(root)
    scan = Scan(root)
    if not (root / "images").is_dir():
        raise DataError(f"{root}: no images/ folder")
    if not (root / "masks").is_dir():
        raise DataError(f"{root}: no masks/ folder")
    images, masks = _files(root / "images"), _files(root / "masks")
    if not images:
        raise DataError(f"{root / 'images'}: no image files ({', '.join(IMAGE_SUFFIXES)})")
    by_stem: dict[str, list[Path]] = {}
    for m in masks:
        by_stem.setdefault(_stem_of_mask(m), []).append(m)
    counts = Counter(p.stem for p in images)
    manifest = _read_manifest(root)
    for img in images:
        found = by_stem.get(img.stem, [])
        if counts[img.stem] > 1:
            scan.problems.append(Problem(img, f"duplicate stem '{img.stem}' in images/"))
        elif not found:
            scan.problems.append(Problem(img, "no mask (looked for masks/NAME.* and masks/NAME_mask.*)"))
        elif len(found) > 1:
            scan.problems.append(Problem(img, f"several masks: {', '.join(m.name for m in found)}"))
        else:
            source, label = manifest.get(img.stem, ("unknown", ""))
            scan.pairs.append(Pair(img.stem, img, found[0], source, label))
    for stem, ms in by_stem.items():
        if stem not in counts:
            scan.problems.extend(Problem(m, "mask without image") for m in ms)
    return scan


@dataclass
class PairStats:
    """What :func:`check_pair` measured on one readable pair."""

    shape: tuple[int, int]
    mask_fraction: float
    binary: bool


def check_pair(pair: Pair) -> tuple[PairStats | None, list[Problem]]:
    """Read one pair fully; return its statistics and any problems (unreadable, size, grey mask)."""
    problems = []
    try:
        img = read_image(pair.image)
    except DataError as exc:
        return None, [Problem(pair.image, str(exc).split(": ", 1)[-1])]
    try:
        mask = read_pixels(pair.mask)
    except DataError as exc:
        return None, [Problem(pair.mask, str(exc).split(": ", 1)[-1])]
    if mask.shape != img.shape:
        problems.append(Problem(pair.mask, f"mask size {mask.shape[1]}x{mask.shape[0]} differs from "
                                           f"image size {img.shape[1]}x{img.shape[0]} ({pair.image.name})"))
    try:
        binary, was_binary = binarize_mask(mask, pair.mask)
    except DataError as exc:
        return None, problems + [Problem(pair.mask, str(exc).split(": ", 1)[-1])]
    if not binary.any():
        problems.append(Problem(pair.mask, "mask is empty (no lung pixel)"))
    return PairStats(img.shape, float(binary.mean()), was_binary), problems


def check_folder(root: str | os.PathLike) -> tuple[Scan, pd.DataFrame]:
    """Scan a folder and read every pair; return the scan (with all problems) and a stats table."""
    scan = find_pairs(root)
    rows, good = [], []
    for pair in scan.pairs:
        stats, problems = check_pair(pair)
        scan.problems.extend(problems)
        if stats is None or problems:
            continue
        good.append(pair)
        rows.append({"name": pair.name, "source": pair.source, "label": pair.label,
                     "height": stats.shape[0], "width": stats.shape[1],
                     "mask_fraction": stats.mask_fraction, "binary_mask": stats.binary})
    scan.pairs = good
    return scan, pd.DataFrame(rows)


def check_report(scan: Scan, stats: pd.DataFrame) -> str:
    """A human-readable summary of :func:`check_folder`'s result, one line per problem."""
    lines = [f"{scan.root}: {len(scan.pairs)} usable pairs, {len(scan.problems)} problem(s)"]
    if len(stats):
        sizes = Counter(f"{w}x{h}" for w, h in zip(stats.width, stats.height))
        lines.append("image sizes: " + ", ".join(f"{s} ({n})" for s, n in sizes.most_common()))
        lines.append("sources: " + ", ".join(f"{s} ({n})" for s, n in Counter(stats.source).most_common()))
        q = stats.mask_fraction.quantile([0, 0.5, 1]).round(3).tolist()
        lines.append(f"mask fraction: min {q[0]}, median {q[1]}, max {q[2]}")
        grey = int((~stats.binary_mask).sum())
        if grey:
            lines.append(f"{grey} mask(s) have grey edge values: binarized by the rule in "
                         "lungseg_lib.data.imageio.binarize_mask (> half the maximum)")
    lines += [f"PROBLEM {p}" for p in scan.problems]
    return "\n".join(lines)


def make_split(pairs: list[Pair], fractions=SPLIT_FRACTIONS, seed: int = 0,
               test_names: set[str] | None = None) -> pd.DataFrame:
    """Split pairs into train/val/test, stratified by (source, label), deterministic for a seed.

    ``test_names``: a fixed test set (a paper's own, e.g. the 200 test images of Zhang's set);
    those pairs are the test split and the others are split into train and val in the ratio of
    ``fractions``' first two. A name that is not a pair here is a DataError.
    """
    if abs(sum(fractions) - 1) > 1e-6:
        raise ValueError(f"split fractions must sum to 1, got {fractions}")
    rng = np.random.default_rng(seed)
    rows = []
    if test_names is not None:
        unknown = sorted(set(test_names) - {p.name for p in pairs})
        if unknown:
            raise DataError(f"{len(unknown)} test name(s) are not image/mask pairs here: {', '.join(unknown[:20])}")
        rows = [{"file": p.image.name, "source": p.source, "label": p.label, "split": "test"}
                for p in pairs if p.name in test_names]
        pairs = [p for p in pairs if p.name not in test_names]
        fractions = (fractions[0] / (fractions[0] + fractions[1]), fractions[1] / (fractions[0] + fractions[1]), 0.0)
    groups: dict[tuple[str, str], list[Pair]] = {}
    for p in sorted(pairs, key=lambda p: p.name):
        groups.setdefault((p.source, p.label), []).append(p)
    for key in sorted(groups):
        members = groups[key]
        order = rng.permutation(len(members))
        n_test = int(round(fractions[2] * len(members)))
        n_val = int(round(fractions[1] * len(members)))
        for rank, i in enumerate(order):
            split = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
            p = members[i]
            rows.append({"file": p.image.name, "source": p.source, "label": p.label, "split": split})
    return pd.DataFrame(rows).sort_values("file").reset_index(drop=True)


def read_names(path: str | os.PathLike) -> set[str]:
    """Image names listed in a text file, one per line, with or without extension (a paper's
    own test set for :func:`make_split`)."""
    return {Path(line).stem for line in Path(path).read_text(encoding="utf-8").split() if line.strip()}


def write_split(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write a split table as CSV atomically."""
    return write_csv(path, table)


def load_split(path: str | os.PathLike, root: str | os.PathLike) -> dict[str, list[Pair]]:
    """Return ``{"train": [...], "val": [...], "test": [...]}`` pairs for a split CSV and folder.

    Every file the split names must be a usable pair in ``root``; missing ones are listed.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: split file not found; create it with `lungseg data split`")
    table = pd.read_csv(path, dtype=str).fillna("")
    scan = find_pairs(root)
    by_stem = {p.name: p for p in scan.pairs}
    missing = [f for f in table["file"] if Path(f).stem not in by_stem]
    if missing:
        shown = ", ".join(missing[:20]) + (f" and {len(missing) - 20} more" if len(missing) > 20 else "")
        raise DataError(f"{path}: {len(missing)} file(s) of the split are not usable pairs in {root}: {shown}")
    out: dict[str, list[Pair]] = {"train": [], "val": [], "test": []}
    for f, split in zip(table["file"], table["split"]):
        out.setdefault(split, []).append(by_stem[Path(f).stem])
    return out


def load_arrays(pairs: list[Pair], size: int, how: str = "stretch") -> tuple[np.ndarray, np.ndarray]:
    """Read pairs and bring them to the square input by the rule ``how``
    (:func:`~lungseg_lib.data.imageio.resize_pair`: area for images, nearest for masks).

    Returns images ``(N, size, size, 1)`` float32 in [0, 1] and masks ``(N, size, size, 1)``
    float32 in {0, 1}. Raises DataError naming the first bad file.
    """
    from .imageio import read_mask, resize_pair

    images = np.empty((len(pairs), size, size, 1), np.float32)
    masks = np.empty((len(pairs), size, size, 1), np.float32)
    for i, p in enumerate(pairs):
        img, mask = read_image(p.image), read_mask(p.mask)
        if img.shape != mask.shape:
            raise DataError(f"{p.mask}: mask size {mask.shape[::-1]} differs from image size {img.shape[::-1]}")
        images[i, ..., 0], masks[i, ..., 0] = resize_pair(img, mask, size, how)
    return images, masks


def fingerprint(pairs: list[Pair]) -> str:
    """A short SHA-256 over the names, sizes and bytes of the files of ``pairs``."""
    import hashlib

    h = hashlib.sha256()
    for p in sorted(pairs, key=lambda p: p.name):
        for f in (p.image, p.mask):
            h.update(f.name.encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]
