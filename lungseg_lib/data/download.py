"""Download and convert the public lung-segmentation data sets to the standard layout
(:mod:`lungseg_lib.data.layout`; downloading and unpacking: :mod:`lungseg_lib.data.archives`).

* :func:`fetch_montgomery` downloads the Montgomery County set from the U.S. National
  Library of Medicine (resumable, checked, SHA-256 recorded) and converts it.
* :func:`fetch_shenzhen_montgomery_512` downloads the 704-pair Shenzhen + Montgomery set the
  runs were trained on (512 x 512, a pinned commit of a public repository), checks every file
  against the committed SHA-256 list ``data_sums/shenzhen_montgomery_512.sha256`` and writes
  it unchanged (:func:`layout_shenzhen_montgomery` is its offline half).
* the COVID-19 and other pneumonia films with whole-lung masks (covid_pneumonia_512) are in
  :mod:`lungseg_lib.data.download_covid`.
* :func:`convert_kaggle` converts the Kaggle "Chest Xray Masks and Labels" archive or folder
  (Shenzhen + Montgomery).
* archives are unpacked by :func:`lungseg_lib.data.archives.safe_extract`, which refuses
  members that would land outside the target folder.

Outputs are built in a hidden staging folder next to ``out`` and renamed into place when
finished; a ``.complete`` marker (written last) makes reruns leave a finished output as it
is. Every image that is not converted is listed in :class:`ConversionSummary` ``.skipped``.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import logging
import os
import re
import shutil
import tarfile
import tempfile
import urllib.parse
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from ..errors import DataError
from ..files import atomic_write_text, replace_folder, sha256_file
from .archives import cache_name, check_zip, download, download_retrying, members, safe_extract
from .layout import (MARKER, NAME_RE, SOURCES, ConversionSummary, convert, existing_output, find_root, pngs, staging,
                     write_manifest)

log = logging.getLogger(__name__)

MONTGOMERY_URL = "https://openi.nlm.nih.gov/imgs/collections/NLM-MontgomeryCXRSet.zip"
# SHA-256 of the archive at MONTGOMERY_URL as pinned by the torch-em project's loader; a
# different hash only gives a warning (NLM may republish the archive).
MONTGOMERY_SHA256 = "54601e952315d8f67383e9202a6e145997ade429f54f7e0af44b4e158714f424"
# The 704 Shenzhen + Montgomery pairs at 512 x 512 the runs were trained on: folders data/cxr
# and data/masks of this commit of a public repository, as GitHub's archive of that commit.
# GitHub does not promise byte-identical archives over time, so every file is checked against
# the committed SHA-256 list instead of the archive as a whole.
SM512_REPOSITORY = "rochadiego/MultiResUNet-lung-segmentation"
SM512_COMMIT = "234c65ba9f3cd7e4c9f84b476745ff928694470f"
SM512_URL = f"https://codeload.github.com/{SM512_REPOSITORY}/tar.gz/{SM512_COMMIT}"
SM512_SUMS = Path(__file__).with_name("data_sums") / "shenzhen_montgomery_512.sha256"
SM512_DATASET = "shenzhen-montgomery-512"
SM512_FOLDERS = {"cxr": "images", "masks": "masks"}  # archive's data/<folder> -> standard layout
_SM512_MEMBER_RE = re.compile(r"(?:^|/)data/(cxr|masks)/([^/]+\.png)$")
_SUM_LINE_RE = re.compile(r"^([0-9a-fA-F]{64}) [ *]((?:images|masks)/[^/]+)$")
SM512_README = f"""\
# Shenzhen + Montgomery chest X-rays with manual lung masks (512 x 512)

Written by `lungseg data fetch {SM512_DATASET}` from the public repository
https://github.com/{SM512_REPOSITORY} at commit {SM512_COMMIT}
(folders data/cxr and data/masks: the layout of the Kaggle set "Chest Xray Masks and Labels",
resized to 512 x 512); every file matched the SHA-256 list {SM512_SUMS.name}.

Images: U.S. National Library of Medicine (NIH), Bethesda MD; Department of Health and Human
Services, Montgomery County MD; Shenzhen No.3 People's Hospital. Released publicly for
research; credit these institutions and cite:
- S. Jaeger et al., "Automatic tuberculosis screening using chest radiographs",
  IEEE Transactions on Medical Imaging 33(2):233-245, 2014.
- S. Candemir et al., "Lung segmentation in chest radiographs using anatomical atlases with
  nonrigid registration", IEEE Transactions on Medical Imaging 33(2):577-590, 2014.
- S. Jaeger et al., "Two public chest X-ray datasets for computer-aided screening of
  pulmonary diseases", Quantitative Imaging in Medicine and Surgery 4(6):475-477, 2014.
Montgomery masks: manual, from the National Library of Medicine (both lungs in one file).
Shenzhen masks: S. Stirenko et al., "Chest X-ray analysis of tuberculosis by deep learning
with segmentation and augmentation", arXiv:1803.01199, 2018 (CC BY-NC-SA 4.0).
"""


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
            expected = json.loads(record.read_text(encoding="utf-8"))["sha256"]
        except (ValueError, KeyError) as exc:
            raise DataError(f"{record}: unreadable hash record ({exc}); delete it and rerun") from exc
        sha = sha256_file(archive, progress)
        if sha != expected:
            raise DataError(
                f"{archive}: SHA-256 {sha} does not match {expected} recorded in {record.name} when it "
                f"was downloaded; the file changed or is damaged: delete it (and {record.name}) and rerun"
            )
        return archive, sha
    if not archive.exists():
        download(url, archive, progress)
    check_zip(archive)
    sha = sha256_file(archive, progress)
    atomic_write_text(record, json.dumps({"file": name, "url": url, "bytes": archive.stat().st_size,
                                          "sha256": sha}, indent=2) + "\n")
    if url == MONTGOMERY_URL and sha != MONTGOMERY_SHA256:
        log.warning("%s: SHA-256 %s differs from the published %s (archive republished?)",
                    archive, sha, MONTGOMERY_SHA256)
    return archive, sha


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
    if (done := existing_output(out, params)) is not None:
        return done
    cache_dir = Path(cache_dir) if cache_dir is not None else out.parent / ".cache"
    archive, sha = _fetch_archive(str(url), cache_dir, progress)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.extract-") as tmp:
        root = find_root(safe_extract(archive, tmp, progress=progress), "CXR_png", "ManualMask")
        left, right = pngs(root / "ManualMask" / "leftMask"), pngs(root / "ManualMask" / "rightMask")
        pairs, skipped = {}, []
        for name, image in pngs(root / "CXR_png").items():
            missing = [side for side, found in (("left", left), ("right", right)) if name not in found]
            if missing:
                skipped.append((image.name, f"no {' or '.join(missing)} lung mask"))
            else:
                pairs[name] = (image, [left[name], right[name]])
        return convert(pairs, out, {**params, "archive_sha256": sha}, size, skipped, [], progress)


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
    if (done := existing_output(out, params)) is not None:
        return done
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.extract-") as tmp:
        top = src if src.is_dir() else safe_extract(src, tmp, progress=progress)
        root = find_root(top, "CXR_png", "masks")
        masks = pngs(root / "masks")
        pairs, skipped, used = {}, [], set()
        for name, image in pngs(root / "CXR_png").items():
            mask = masks.get(f"{name}_mask") or masks.get(name)
            if mask is None:
                skipped.append((image.name, "no mask"))
            else:
                pairs[name] = (image, [mask])
                used.add(mask.stem)
        skipped += [(m.name, "mask without image") for stem, m in masks.items() if stem not in used]
        notes = []
        if (test := pngs(root / "test")):
            notes.append(f"ignored {len(test)} unlabelled image(s) in {root.name}/test/")
        return convert(pairs, out, {**params, "source": src.name}, size, skipped, notes, progress)


def read_sums(path: str | os.PathLike, name_re: re.Pattern = NAME_RE) -> dict[str, str]:
    """``{"images/NAME.png": sha256, "masks/NAME.png": sha256, ...}`` from a list in
    ``sha256sum`` format; a DataError names the list (and line) of a malformed entry, and a
    name listed without both its image and its mask. ``name_re``: the names allowed (default:
    the Shenzhen + Montgomery names, CHNCXR_0001_0)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DataError(f"{path}: cannot read the checksum list ({exc})") from exc
    sums: dict[str, str] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        match = _SUM_LINE_RE.match(line.rstrip("\r"))
        if not match or not name_re.match(PurePosixPath(match.group(2)).stem) \
                or not match.group(2).endswith(".png"):
            example = " (NAME as CHNCXR_0001_0)" if name_re is NAME_RE else ""
            raise DataError(f"{path}, line {number}: expected 'SHA256  images/NAME.png' or "
                            f"'SHA256  masks/NAME.png'{example}, got {line[:100]!r}")
        if match.group(2) in sums:
            raise DataError(f"{path}, line {number}: {match.group(2)} is listed twice")
        sums[match.group(2)] = match.group(1).lower()
    if not sums:
        raise DataError(f"{path}: empty checksum list")
    names = {folder: {PurePosixPath(n).name for n in sums if n.startswith(f"{folder}/")}
             for folder in ("images", "masks")}
    if unpaired := sorted(names["images"] ^ names["masks"]):
        where = "images" if unpaired[0] in names["images"] else "masks"
        raise DataError(f"{path}: {where}/{unpaired[0]} is listed without its "
                        f"{'mask' if where == 'images' else 'image'}")
    return sums


def verify_sums(folder: str | os.PathLike, sums: str | os.PathLike | None = None,
                name_re: re.Pattern = NAME_RE) -> int:
    """Check every file of the list ``sums`` (default: the committed 704-pair list) in
    ``folder``; return how many. A missing or different file is a DataError naming it.
    ``name_re``: as for :func:`read_sums`."""
    folder, sums_path = Path(folder), Path(sums) if sums is not None else SM512_SUMS
    expected = read_sums(sums_path, name_re)
    for name, digest in expected.items():
        path = folder / name
        if not path.is_file():
            raise DataError(f"{path}: missing (listed in {sums_path.name})")
        if (actual := sha256_file(path)) != digest:
            raise DataError(f"{path}: SHA-256 {actual} does not match {digest} in {sums_path.name}")
    return len(expected)


def _copy_checked(src: Path, stage: Path, expected: dict[str, str], sums_path: Path,
                  progress: bool) -> set[str]:
    """Copy each listed file of ``src`` (``*/data/cxr/NAME.png``, ``*/data/masks/NAME.png``)
    to ``stage/images`` or ``stage/masks`` after checking its SHA-256; return the names.

    Only listed names are written, never a member's own path: an archive cannot write
    outside ``stage``. A mismatch is a DataError naming the file."""
    done: set[str] = set()
    try:
        with tqdm(total=len(expected), desc=f"check and copy {src.name}", unit="file",
                  disable=not progress) as bar:
            for member, read in members(src):
                match = _SM512_MEMBER_RE.search(member)
                name = match and f"{SM512_FOLDERS[match.group(1)]}/{match.group(2)}"
                if name not in expected:
                    continue
                if name in done:
                    raise DataError(f"{src}: {name} found twice (again as {member!r})")
                data = read()
                if (digest := hashlib.sha256(data).hexdigest()) != expected[name]:
                    raise DataError(f"{name}: SHA-256 {digest} does not match {expected[name]} listed in "
                                    f"{sums_path.name} (member {member!r} of {src}): damaged, or not the "
                                    f"pinned data")
                (stage / name).write_bytes(data)
                done.add(name)
                bar.update()
    except (zipfile.BadZipFile, tarfile.TarError, zlib.error, EOFError, gzip.BadGzipFile) as exc:
        raise DataError(f"{src}: corrupt or incomplete archive ({exc})") from exc
    return done


def _sm512_params(sums_path: Path) -> dict:
    """What a complete output records and a rerun must match: the data set and its list."""
    return {"dataset": SM512_DATASET, "sums_sha256": sha256_file(sums_path)}


def layout_shenzhen_montgomery(src: str | os.PathLike, out: str | os.PathLike, *,
                               sums: str | os.PathLike | None = None,
                               progress: bool = True) -> ConversionSummary:
    """Write the pairs of ``src`` to ``out`` in the standard layout, byte for byte.

    ``src``: GitHub's archive (tar or zip) of the pinned commit, or a folder holding its
    ``data/cxr`` and ``data/masks``. Every file of ``sums`` (default: the committed list of
    the 704 pairs) must be there with its SHA-256; other files are ignored. ``manifest.csv``
    gets ``source`` from the name prefix (CHNCXR_ shenzhen, MCUCXR_ montgomery) and
    ``tb_label`` from the ``_0``/``_1`` suffix; ``README.md`` says where the files come from
    and how to credit and cite them. ``out`` appears only when complete; a
    complete ``out`` made from the same list is left as it is.
    """
    src, out = Path(src).expanduser(), Path(out).expanduser()
    sums_path = Path(sums) if sums is not None else SM512_SUMS
    expected = read_sums(sums_path)
    params = _sm512_params(sums_path)
    if (done := existing_output(out, params)) is not None:
        return done
    if not src.exists():
        raise DataError(f"{src}: not found (give the archive of {SM512_REPOSITORY} at {SM512_COMMIT[:7]} "
                        f"or its extracted folder)")
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = staging(out)
    try:
        found = _copy_checked(src, stage, expected, sums_path, progress)
        if missing := sorted(set(expected) - found):
            raise DataError(f"{src}: {len(missing)} file(s) listed in {sums_path.name} are missing, "
                            f"first {missing[0]} (looked for */data/cxr/NAME.png and */data/masks/NAME.png)")
        rows = [(f"{stem}.png", SOURCES[m.group(1)], m.group(2))
                for stem in sorted(PurePosixPath(n).stem for n in expected if n.startswith("images/"))
                if (m := NAME_RE.match(stem))]
        write_manifest(stage, rows)
        # where the files come from and whom to credit, with the list they were checked against
        (stage / "README.md").write_text(SM512_README.replace(SM512_SUMS.name, sums_path.name), encoding="utf-8")
        notes = [f"every file matches {sums_path.name} ({len(expected)} files)"]
        (stage / MARKER).write_text(json.dumps({**params, "source": src.name, "written": len(rows),
                                                "skipped": [], "notes": notes}, indent=2) + "\n", encoding="utf-8")
        replace_folder(stage, out)  # existing_output() allowed only an empty folder
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return ConversionSummary(out, len(rows), [], notes)


def fetch_shenzhen_montgomery_512(out: str | os.PathLike, *, url: str | None = None,
                                  sums: str | os.PathLike | None = None,
                                  cache_dir: str | os.PathLike | None = None, tries: int = 3,
                                  keep_archive: bool = False, progress: bool = True) -> ConversionSummary:
    """Download the 704 Shenzhen + Montgomery pairs (512 x 512) the runs were trained on into
    ``out`` (standard layout and ``manifest.csv``), every file checked against ``sums``.

    ``url`` (default :data:`SM512_URL`: GitHub's archive of :data:`SM512_COMMIT` of
    :data:`SM512_REPOSITORY`) may be http(s), ``file://``, or a local archive or folder (then
    nothing is downloaded). The download goes to ``<cache_dir>/NAME.part`` (default cache:
    ``<out's parent>/.cache``) and is resumed with an HTTP Range request after an
    interruption, up to ``tries`` times here and again by a rerun (a server that ignores
    ranges makes it start again). The archive is deleted once ``out`` is written (unless
    ``keep_archive``), and also when it proves damaged, so that a rerun downloads it again.
    See :func:`layout_shenzhen_montgomery` for the checks and the output.
    """
    out, url = Path(out).expanduser(), str(url or SM512_URL)
    sums_path = Path(sums) if sums is not None else SM512_SUMS
    if (done := existing_output(out, _sm512_params(sums_path))) is not None:
        return done
    if "://" not in url:
        return layout_shenzhen_montgomery(url, out, sums=sums_path, progress=progress)
    cache = Path(cache_dir) if cache_dir is not None else out.parent / ".cache"
    cache.mkdir(parents=True, exist_ok=True)
    archive = cache / cache_name(url)
    if not archive.exists():
        download_retrying(url, archive, progress, tries)
    try:
        summary = layout_shenzhen_montgomery(archive, out, sums=sums_path, progress=progress)
    except DataError as exc:
        archive.unlink(missing_ok=True)
        raise DataError(f"{exc}; the downloaded archive was deleted: rerun to download it again") from exc
    if not keep_archive:
        archive.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            cache.rmdir()  # only when empty
    return summary
