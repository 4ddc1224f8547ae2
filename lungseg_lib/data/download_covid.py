"""COVID-19 and other pneumonia chest X-rays with whole-lung masks (``covid_pneumonia_512``).

:func:`fetch_covid_pneumonia_512` builds the folder from its two public GitHub repositories at
pinned commits: each original image (the COVID-19 image data collection of Cohen et al., as a
fork keeps it) and each V7 Labs mask is downloaded on its own, checked against its SHA-256 in
the shipped manifest ``data_sums/covid_pneumonia_512.csv`` and refused, naming the file, when
it differs; then it is derived as the data set's README says (:func:`derive_image`,
:func:`derive_mask`), and the derived files are compared with the shipped
``data_sums/covid_pneumonia_512.sha256``.

Where the files come from is a URL template (:data:`DEFAULT_URL`, GitHub's raw files) with the
fields ``{owner}``, ``{name}``, ``{commit}`` and ``{path}``; ``url`` may also be a base URL
(files at ``BASE/OWNER/NAME/COMMIT/PATH``, the layout of raw.githubusercontent.com) or a
local folder of either layout ``OWNER/NAME/COMMIT/PATH`` or ``OWNER+NAME/COMMIT/PATH`` (the
shared copy's ``sources_sample/``). The rules for showing these images in figures are in
:mod:`lungseg_lib.data.licences`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import urllib.parse
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..errors import DataError
from ..files import replace_folder, sha256_file
from .archives import download_retrying
from .download import read_sums
from .imageio import write_png
from .layout import MARKER, ConversionSummary, existing_output, staging

log = logging.getLogger(__name__)

DATASET = "covid-pneumonia-512"
IMAGES_REPO, IMAGES_COMMIT = "s-mostafa-a/covid-chestxray-dataset", "173779df5bb2ab06fa1dc7f84ee9a212c759464b"
MASKS_REPO, MASKS_COMMIT = "v7labs/covid-19-xray-dataset", "51fca0d0d089b2fa7b0b95f0aed32ebaebd561f2"
MASKS_FOLDER = "annotations/all-images-semantic-masks"  # V7's masks: <v7_mask_id>.png
DEFAULT_URL = "https://raw.githubusercontent.com/{owner}/{name}/{commit}/{path}"
SUMS_DIR = Path(__file__).with_name("data_sums")
MANIFEST = SUMS_DIR / "covid_pneumonia_512.csv"  # the data set's manifest.csv, as shipped
SUMS = SUMS_DIR / "covid_pneumonia_512.sha256"  # SHA-256 of the derived images/ and masks/
EXTERNAL_SITE = "Hannover Medical School, Hannover, Germany"  # the external-site test set
MAX_SIDE = 512
MASK_VALUES = (0, 127, 255)  # V7's semantic masks: background, Ignore (devices over lung), lung
COLUMNS = ("file", "patient", "site", "finding", "view", "license", "doi", "url", "width", "height",
           "ieee8023_file", "ieee8023_sha256", "v7_mask_id", "v7_mask_sha256", "ignore_px")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # output names (stems): no path, no space
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
README = f"""\
# covid_pneumonia_512: lung masks on COVID-19 and other pneumonia chest X-rays

Written by `lungseg data fetch {DATASET}` from two public GitHub repositories at pinned
commits; every original matched its SHA-256 in manifest.csv before it was used.

- Images: the COVID-19 image data collection (ieee8023/covid-chestxray-dataset) as its fork
  https://github.com/{IMAGES_REPO} keeps it at commit {IMAGES_COMMIT}
  (column `ieee8023_file`). Cite J. P. Cohen, P. Morrison, L. Dao, K. Roth, T. Q. Duong,
  M. Ghassemi, "COVID-19 Image Data Collection: Prospective Predictions Are the Future",
  Machine Learning for Biomedical Imaging (MELBA) 2020, arXiv:2006.11988.
- Masks: V7 Labs, https://github.com/{MASKS_REPO} at commit {MASKS_COMMIT}
  ({MASKS_FOLDER}/<v7_mask_id>.png), CC BY 4.0. Credit V7 Labs.

Derived: each original read as grey (OpenCV IMREAD_GRAYSCALE); when its longer side exceeds
{MAX_SIDE}, resized with INTER_AREA to round(w*s) x round(h*s), s = {MAX_SIDE}/max(w,h). The mask
(lung 255 and Ignore 127, both lung) resized the same way and thresholded at >= 128; 255 lung.

Licences differ per image (column `license`: CC BY 3.0, CC BY 4.0, CC BY-NC-SA, CC BY-NC-ND,
"listed as authorized for everyone", blank = not stated); `url` is each image's source.
Training and evaluating on them is research use; a published figure shows only images whose
licence allows adapted copies (lungseg_lib.data.licences.may_show), credited with their `url`.
Patients, not images, are the unit: keep all images of a patient on one side of any split.
The 84 images of {EXTERNAL_SITE} are the external-site test set. Not for clinical use.
"""


def read_manifest(path: str | os.PathLike | None = None, names=None) -> pd.DataFrame:
    """The manifest (default: the shipped one) as strings, checked: its columns, one row per
    ``file``, SHA-256 values; ``names`` (files or stems) keeps only those rows, in that order
    of the manifest. A DataError names the manifest and the row."""
    path = Path(path) if path is not None else MANIFEST
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: unreadable manifest ({exc})") from exc
    if missing := [c for c in COLUMNS if c not in table.columns]:
        raise DataError(f"{path}: manifest lacks the column(s) {', '.join(missing)}")
    for number, row in enumerate(table.itertuples(index=False), 2):
        stem, ext = os.path.splitext(row.file)
        if ext != ".png" or not NAME_RE.match(stem):
            raise DataError(f"{path}, line {number}: file {row.file!r} is not NAME.png")
        if not (_SHA_RE.match(row.ieee8023_sha256) and _SHA_RE.match(row.v7_mask_sha256)):
            raise DataError(f"{path}, line {number} ({row.file}): a SHA-256 is not 64 hex digits")
        if not row.v7_mask_id.isdigit() or ".." in row.ieee8023_file.split("/"):
            raise DataError(f"{path}, line {number} ({row.file}): bad v7_mask_id or ieee8023_file")
    if (dup := table["file"][table["file"].duplicated()]).any():
        raise DataError(f"{path}: {dup.iloc[0]} is listed twice")
    if names is not None:
        wanted = {Path(n).stem for n in names}
        if unknown := sorted(wanted - {Path(f).stem for f in table["file"]}):
            raise DataError(f"{path}: {len(unknown)} name(s) are not in the manifest: {', '.join(unknown[:10])}")
        table = table[[Path(f).stem in wanted for f in table["file"]]].reset_index(drop=True)
    return table


def url_template(url: str | os.PathLike | None = None) -> str:
    """The template the originals are fetched from (see the module's doc): :data:`DEFAULT_URL`,
    a template with ``{owner} {name} {commit} {path}`` (a URL or a local path, e.g. to git
    clones: ``/clones/{name}/{path}``), a base URL, or a local folder."""
    url = str(url or DEFAULT_URL)
    if "{" in url:
        try:
            url.format(owner="o", name="n", commit="c", path="p")
        except (KeyError, IndexError, ValueError) as exc:
            raise DataError(f"--url {url!r}: fields are {{owner}} {{name}} {{commit}} {{path}} ({exc!r})") from exc
        if "{path}" not in url:
            raise DataError(f"--url {url!r}: a template needs {{path}}")
        if "://" not in url:  # a local path: the part before the first field as a file: URL
            head, brace, tail = url.partition("{")
            url = Path(head).expanduser().absolute().as_uri() + ("/" if head.endswith("/") else "") + brace + tail
        return url
    if "://" not in url:
        folder = Path(url).expanduser().resolve()
        if not folder.is_dir():
            raise DataError(f"{folder}: not a folder (a local copy of the originals: "
                            "OWNER+NAME/COMMIT/PATH or OWNER/NAME/COMMIT/PATH)")
        owner, name = IMAGES_REPO.split("/")
        joint = "{owner}+{name}" if (folder / f"{owner}+{name}").is_dir() else "{owner}/{name}"
        return f"{folder.as_uri()}/{joint}/{{commit}}/{{path}}"
    return url.rstrip("/") + "/{owner}/{name}/{commit}/{path}"


def originals(row) -> list[tuple[str, str, str, str]]:
    """``(repository, commit, path, sha256)`` of a manifest row's original image and mask."""
    return [(IMAGES_REPO, IMAGES_COMMIT, row.ieee8023_file, row.ieee8023_sha256),
            (MASKS_REPO, MASKS_COMMIT, f"{MASKS_FOLDER}/{row.v7_mask_id}.png", row.v7_mask_sha256)]


def fetch_original(template: str, cache: Path, source: tuple[str, str, str, str], file: str,
                   tries: int = 3) -> bytes:
    """The bytes of one original, from ``cache`` (``OWNER+NAME/COMMIT/PATH``) or downloaded
    there (resumable), checked against its SHA-256; a mismatch is a DataError naming the
    original and the output ``file``, and the downloaded copy is deleted."""
    repo, commit, path, expected = source
    owner, name = repo.split("/")
    dest = cache / f"{owner}+{name}" / commit / path
    if dest.is_file() and sha256_file(dest) != expected:
        dest.unlink()  # damaged or stale in the cache: download it again
    if not dest.is_file():
        dest.parent.mkdir(parents=True, exist_ok=True)
        url = template.format(owner=owner, name=name, commit=commit, path=urllib.parse.quote(path))
        try:
            download_retrying(url, dest, False, tries)
        except DataError as exc:
            raise DataError(f"{exc} (the original {path} of {file})") from exc
    data = dest.read_bytes()
    if (digest := hashlib.sha256(data).hexdigest()) != expected:
        dest.unlink()
        raise DataError(f"{path} ({repo} at {commit[:7]}, for {file}): SHA-256 {digest} does not match "
                        f"{expected} in the manifest: damaged, or not the pinned file; deleted, rerun to "
                        "download it again")
    return data


def fitted_size(width: int, height: int) -> tuple[int, int] | None:
    """``(w, h)`` after the longer side is brought to :data:`MAX_SIDE`, or None when it fits."""
    if max(width, height) <= MAX_SIDE:
        return None
    s = MAX_SIDE / max(width, height)
    return round(width * s), round(height * s)


def _decode_grey(data: bytes, what: str) -> np.ndarray:
    """An image file's bytes read as grey the way OpenCV's ``imread(IMREAD_GRAYSCALE)`` does."""
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise DataError(f"{what}: unreadable image file")
    return img


def shrink(img: np.ndarray) -> np.ndarray:
    """``img`` resized with INTER_AREA to :func:`fitted_size` when its longer side exceeds
    :data:`MAX_SIDE`, else unchanged."""
    if (size := fitted_size(img.shape[1], img.shape[0])) is None:
        return img
    return cv2.resize(img, size, interpolation=cv2.INTER_AREA)


def derive_image(data: bytes, what: str = "image") -> np.ndarray:
    """The data set's image from an original's bytes: read as grey by OpenCV (IMREAD_GRAYSCALE:
    JPEGs decoded to grey by libjpeg, colour and alpha dropped by OpenCV's own rule, 16 bits
    scaled to 8; PIL's ``convert('L')`` differs by a grey level on some JPEGs), then
    :func:`shrink`."""
    return shrink(_decode_grey(data, what))


def derive_mask(data: bytes, shape: tuple[int, int], what: str = "mask") -> np.ndarray:
    """The data set's mask (uint8, 255 lung) from a V7 mask's bytes (0, 127 Ignore, 255 lung):
    lung or Ignore as 255, resized like the image (``shape``: the original's) with INTER_AREA
    and thresholded at >= 128. Other values or another size are a DataError naming ``what``."""
    mask = _decode_grey(data, what)
    if mask.shape != tuple(shape):
        raise DataError(f"{what}: mask is {mask.shape[1]}x{mask.shape[0]}, its image {shape[1]}x{shape[0]}")
    if stray := sorted(set(np.unique(mask).tolist()) - set(MASK_VALUES)):
        raise DataError(f"{what}: mask values {stray[:5]} besides 0, 127 (Ignore) and 255 (lung)")
    return np.where(shrink(np.where(mask > 0, 255, 0).astype(np.uint8)) >= 128, 255, 0).astype(np.uint8)


def _derive_row(row, template: str, cache: Path, stage: Path, tries: int) -> None:
    """Fetch, check and derive one manifest row into ``stage/images`` and ``stage/masks``."""
    image_src, mask_src = originals(row)
    image_bytes = fetch_original(template, cache, image_src, row.file, tries)
    mask_bytes = fetch_original(template, cache, mask_src, row.file, tries)
    original = _decode_grey(image_bytes, image_src[2])
    if (original.shape[1], original.shape[0]) != (int(row.width), int(row.height)):
        raise DataError(f"{image_src[2]} (for {row.file}): {original.shape[1]}x{original.shape[0]}, the "
                        f"manifest says {row.width}x{row.height}")
    write_png(stage / "images" / row.file, shrink(original))
    write_png(stage / "masks" / row.file, derive_mask(mask_bytes, original.shape, mask_src[2]))


def write_sums(folder: Path, files: list[str]) -> dict[str, str]:
    """``folder/SHA256SUMS`` of ``images/F`` and ``masks/F`` for each of ``files`` (sorted,
    ``sha256sum`` format, images first); return it as ``{name: sha256}``."""
    sums = {f"{sub}/{f}": sha256_file(folder / sub / f) for sub in ("images", "masks") for f in sorted(files)}
    (folder / "SHA256SUMS").write_text("".join(f"{d}  {n}\n" for n, d in sums.items()), encoding="utf-8")
    return sums


def compare_sums(derived: dict[str, str], sums_path: Path) -> list[str]:
    """Notes on how the derived files compare with the shipped list ``sums_path``."""
    listed = read_sums(sums_path, NAME_RE)
    differ = sorted(n for n, d in derived.items() if listed.get(n) != d)
    if not differ:
        return [f"every derived file matches {sums_path.name} ({len(derived)} files)"]
    log.warning("%d derived file(s) differ from %s (or are not listed), first %s", len(differ),
                sums_path.name, differ[0])
    return [f"{len(differ)} of {len(derived)} derived file(s) differ from {sums_path.name} or are not "
            f"listed there: {', '.join(differ[:10])} (the originals matched their SHA-256; another "
            "OpenCV, libjpeg or zlib may decode or compress them differently)"]


def _params(manifest: Path, names) -> dict:
    """What a complete output records and a rerun must match."""
    return {"dataset": DATASET, "manifest_sha256": sha256_file(manifest),
            "names": sorted(Path(n).stem for n in names) if names is not None else None}


def _build(table: pd.DataFrame, out: Path, template: str, cache: Path, lists: tuple[Path, Path],
           params: dict, tries: int, progress: bool) -> ConversionSummary:
    """Write the folder from ``table``'s originals: staged, then renamed into place when complete."""
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = staging(out)
    try:
        for row in tqdm(list(table.itertuples(index=False)), desc=f"fetch {DATASET}", unit="pair",
                        disable=not progress):
            _derive_row(row, template, cache, stage, tries)
        table.to_csv(stage / "manifest.csv", index=False, lineterminator="\n")
        notes = [f"every original matches its SHA-256 in {lists[0].name} ({2 * len(table)} files)"]
        notes += compare_sums(write_sums(stage, list(table["file"])), lists[1])
        (stage / "README.md").write_text(README, encoding="utf-8")
        (stage / MARKER).write_text(json.dumps({**params, "written": len(table), "skipped": [],
                                                "notes": notes}, indent=2) + "\n", encoding="utf-8")
        replace_folder(stage, out)  # existing_output() allowed only an empty folder
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return ConversionSummary(out, len(table), [], notes)


def fetch_covid_pneumonia_512(out: str | os.PathLike, *, url: str | os.PathLike | None = None, names=None,
                              manifest: str | os.PathLike | None = None, sums: str | os.PathLike | None = None,
                              cache_dir: str | os.PathLike | None = None, tries: int = 3,
                              keep_cache: bool = False, progress: bool = True) -> ConversionSummary:
    """Build ``covid_pneumonia_512`` in ``out`` from the originals at the pinned commits.

    ``url``: where the originals are (:func:`url_template`; default GitHub's raw files).
    ``names``: only these files of the manifest (tests, samples). ``manifest`` and ``sums``:
    the lists to check against (default: the shipped ones). Each original goes to
    ``<cache_dir>/covid-pneumonia-512/OWNER+NAME/COMMIT/PATH`` (default cache: ``<out's
    parent>/.cache``); a cut download resumes (HTTP Range) up to ``tries`` times here and again
    by a rerun, which also reuses the originals already checked. ``out`` (images/, masks/,
    manifest.csv, SHA256SUMS, README.md) appears only when complete; the cache is then deleted
    unless ``keep_cache``. A complete ``out`` made from the same manifest and names is left as
    it is. A derived file that differs from ``sums`` is reported in the summary's notes.
    """
    out = Path(out).expanduser()
    manifest_path = Path(manifest) if manifest is not None else MANIFEST
    table = read_manifest(manifest_path, names)
    params = _params(manifest_path, names)
    if (done := existing_output(out, params)) is not None:
        return done
    template = url_template(url)
    cache_root = Path(cache_dir) if cache_dir is not None else out.parent / ".cache"
    cache = cache_root / DATASET
    lists = (manifest_path, Path(sums) if sums is not None else SUMS)
    summary = _build(table, out, template, cache, lists, params, tries, progress)
    if not keep_cache:
        shutil.rmtree(cache, ignore_errors=True)
        with contextlib.suppress(OSError):
            cache_root.rmdir()  # only when empty
    return summary
