"""Tests for lungseg_lib.data.download on tiny fake archives (no network)."""

from __future__ import annotations

import csv
import hashlib
import http.server
import io
import json
import tarfile
import threading
import urllib.parse
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from lungseg_lib.data import archives, download
from lungseg_lib.data.archives import safe_extract
from lungseg_lib.data.download import (
    convert_kaggle,
    fetch_montgomery,
    fetch_shenzhen_montgomery_512,
    layout_shenzhen_montgomery,
    read_sums,
    verify_sums,
)
from lungseg_lib.data.layout import ConversionSummary
from lungseg_lib.errors import DataError

H, W = 48, 40
MONT_NAMES = ["MCUCXR_0001_0", "MCUCXR_0002_1", "MCUCXR_0003_0"]


def png(arr: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", arr)
    assert ok
    return buf.tobytes()


def read(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


def xray(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (H, W), dtype=np.uint8)


def left_right(i: int) -> tuple[np.ndarray, np.ndarray]:
    """Left and right masks that overlap in column 20 and hold grey values on both sides of 127."""
    left, right = np.zeros((H, W), np.uint8), np.zeros((H, W), np.uint8)
    left[5 + i:40, 3:21] = 255
    left[0, :] = 100  # below the threshold: background
    right[8:44 - i, 20:37] = 200  # above the threshold: lung
    return left, right


def make_montgomery_zip(path: Path, *, compression=zipfile.ZIP_DEFLATED, extra=()) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression) as zf:
        for i, name in enumerate(MONT_NAMES):
            left, right = left_right(i)
            zf.writestr(f"MontgomerySet/CXR_png/{name}.png", png(xray(i)))
            zf.writestr(f"MontgomerySet/ManualMask/leftMask/{name}.png", png(left))
            zf.writestr(f"MontgomerySet/ManualMask/rightMask/{name}.png", png(right))
            zf.writestr(f"MontgomerySet/ClinicalReadings/{name}.txt", "Patient's Sex: F\n")
        # one image with only a left mask: must be skipped and reported
        zf.writestr("MontgomerySet/CXR_png/MCUCXR_0004_1.png", png(xray(4)))
        zf.writestr("MontgomerySet/ManualMask/leftMask/MCUCXR_0004_1.png", png(left_right(0)[0]))
        zf.writestr("MontgomerySet/CXR_png/Thumbs.db", b"junk")
        zf.writestr("MontgomerySet/NLM-MontgomeryCXRSet-ReadMe.pdf", b"%PDF")
        for name, data in extra:
            zf.writestr(name, data)
    return path


@pytest.fixture
def mont_zip(tmp_path) -> Path:
    return make_montgomery_zip(tmp_path / "src" / "NLM-MontgomeryCXRSet.zip")


@pytest.fixture
def mont_stored_zip(tmp_path) -> Path:
    return make_montgomery_zip(tmp_path / "src" / "NLM-MontgomeryCXRSet.zip", compression=zipfile.ZIP_STORED)


def fetch(mont_zip: Path, tmp_path: Path, out="out", **kw) -> ConversionSummary:
    return fetch_montgomery(tmp_path / out, url=mont_zip.as_uri(), cache_dir=tmp_path / "cache",
                            progress=False, **kw)


def manifest(out: Path) -> list[dict]:
    with open(out / "manifest.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def mtimes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")}


# ----------------------------------------------------------------------------- Montgomery


def test_fetch_montgomery_file_url_writes_standard_layout(mont_zip, tmp_path):
    summary = fetch(mont_zip, tmp_path)
    out = tmp_path / "out"
    assert summary.out == out and Path(summary) == out
    assert summary.written == 3 and not summary.reused
    assert summary.skipped == [("MCUCXR_0004_1.png", "no right lung mask")]
    assert "MCUCXR_0004_1.png" in str(summary) and "3 image/mask pairs" in str(summary)

    assert sorted(p.name for p in (out / "images").iterdir()) == [f"{n}.png" for n in MONT_NAMES]
    assert sorted(p.name for p in (out / "masks").iterdir()) == [f"{n}.png" for n in MONT_NAMES]
    for i, name in enumerate(MONT_NAMES):
        np.testing.assert_array_equal(read(out / "images" / f"{name}.png"), xray(i))
        mask = read(out / "masks" / f"{name}.png")
        left, right = left_right(i)
        assert mask.dtype == np.uint8 and set(np.unique(mask)) == {0, 255}
        np.testing.assert_array_equal(mask == 255, (left > 127) | (right > 127))
    assert manifest(out) == [
        {"file": "MCUCXR_0001_0.png", "source": "montgomery", "tb_label": "0"},
        {"file": "MCUCXR_0002_1.png", "source": "montgomery", "tb_label": "1"},
        {"file": "MCUCXR_0003_0.png", "source": "montgomery", "tb_label": "0"},
    ]

    # the archive is cached with its SHA-256; nothing temporary is left behind
    cached = tmp_path / "cache" / mont_zip.name
    record = json.loads((tmp_path / "cache" / f"{mont_zip.name}.sha256.json").read_text(encoding="utf-8"))
    assert record["sha256"] == hashlib.sha256(cached.read_bytes()).hexdigest()
    assert cached.read_bytes() == mont_zip.read_bytes()
    assert not list((tmp_path / "cache").glob("*.part"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "out", "src"]
    assert json.loads((out / ".complete").read_text(encoding="utf-8"))["archive_sha256"] == record["sha256"]


def test_output_is_accepted_by_the_data_reader(mont_zip, tmp_path):
    from lungseg_lib.data.folders import check_folder

    scan, _ = check_folder(fetch(mont_zip, tmp_path).out)
    assert not scan.problems
    assert [(p.name, p.source, p.label) for p in scan.pairs] == [
        ("MCUCXR_0001_0", "montgomery", "0"), ("MCUCXR_0002_1", "montgomery", "1"),
        ("MCUCXR_0003_0", "montgomery", "0")]


def test_fetch_montgomery_accepts_local_path_and_default_cache(mont_zip, tmp_path):
    summary = fetch_montgomery(tmp_path / "data" / "mont", url=str(mont_zip), progress=False)
    assert summary.written == 3
    assert (tmp_path / "data" / ".cache" / mont_zip.name).is_file()


def test_resize_option(mont_zip, tmp_path):
    out = fetch(mont_zip, tmp_path, size=16).out
    for name in MONT_NAMES:
        assert read(out / "images" / f"{name}.png").shape == (16, 16)
        mask = read(out / "masks" / f"{name}.png")
        assert mask.shape == (16, 16) and set(np.unique(mask)) <= {0, 255}


def test_progress_bar_in_non_tty_run(mont_zip, tmp_path, capsys):
    fetch_montgomery(tmp_path / "out", url=mont_zip.as_uri(), cache_dir=tmp_path / "cache", progress=True)
    err = capsys.readouterr().err
    assert "download" in err and "convert" in err
    assert len(manifest(tmp_path / "out")) == 3


def test_rerun_is_idempotent(mont_zip, tmp_path):
    out = fetch(mont_zip, tmp_path).out
    before = mtimes(out)
    (tmp_path / "cache" / mont_zip.name).unlink()  # a complete output does not need the archive
    again = fetch(mont_zip, tmp_path)
    assert again.reused and again.written == 3 and again.skipped == [("MCUCXR_0004_1.png", "no right lung mask")]
    assert mtimes(out) == before
    with pytest.raises(DataError, match="size=None"):
        fetch(mont_zip, tmp_path, size=16)


def test_incomplete_output_folder_is_not_overwritten(mont_zip, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("user data", encoding="utf-8")
    with pytest.raises(DataError, match=r"out: exists but is not a complete conversion"):
        fetch(mont_zip, tmp_path)
    assert (tmp_path / "out" / "mine.txt").read_text(encoding="utf-8") == "user data"


def test_tampered_cached_archive_is_detected(mont_zip, tmp_path):
    fetch(mont_zip, tmp_path, out="a")
    cached = tmp_path / "cache" / mont_zip.name
    cached.write_bytes(cached.read_bytes() + b"x")
    with pytest.raises(DataError, match=rf"{mont_zip.name}: SHA-256 .* does not match .*delete it"):
        fetch(mont_zip, tmp_path, out="b")
    assert not (tmp_path / "b").exists()


def test_corrupt_zip_crc_error_names_archive(mont_stored_zip, tmp_path):
    with zipfile.ZipFile(mont_stored_zip) as zf:
        info = zf.getinfo("MontgomerySet/CXR_png/MCUCXR_0002_1.png")
    data = bytearray(mont_stored_zip.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for k in range(start + 100, start + 110):  # inside the stored PNG bytes
        data[k] ^= 0xFF
    mont_stored_zip.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"NLM-MontgomeryCXRSet\.zip: corrupt zip .*MCUCXR_0002_1\.png"):
        fetch(mont_stored_zip, tmp_path)
    assert not (tmp_path / "out").exists()
    # the extraction helper reports the same problem
    with pytest.raises(DataError, match=r"NLM-MontgomeryCXRSet\.zip: corrupt archive"):
        safe_extract(mont_stored_zip, tmp_path / "x", progress=False)


def test_not_a_zip_is_reported(tmp_path):
    bogus = tmp_path / "NLM-MontgomeryCXRSet.zip"
    bogus.write_bytes(b"<html>not found</html>")
    with pytest.raises(DataError, match=r"NLM-MontgomeryCXRSet\.zip: corrupt or incomplete zip"):
        fetch(bogus, tmp_path)


# ----------------------------------------------------------------------------- resumable HTTP


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    payload = b""
    ranges: list = []

    def do_GET(self):  # noqa: N802 (http.server API)
        rng = self.headers.get("Range")
        type(self).ranges.append(rng)
        start = int(rng.split("=")[1].rstrip("-")) if rng else 0
        body = self.payload[start:]
        self.send_response(206 if rng else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_http_download_resumes_partial_file(mont_zip, tmp_path):
    payload = mont_zip.read_bytes()
    handler = type("Handler", (_RangeHandler,), {"payload": payload, "ranges": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        cache = tmp_path / "cache"
        cache.mkdir()
        half = len(payload) // 2
        (cache / f"{mont_zip.name}.part").write_bytes(payload[:half])
        url = f"http://127.0.0.1:{server.server_address[1]}/{mont_zip.name}"
        summary = fetch_montgomery(tmp_path / "out", url=url, cache_dir=cache, progress=False)
    finally:
        server.shutdown()
        server.server_close()
    assert handler.ranges == [f"bytes={half}-"]
    assert (cache / mont_zip.name).read_bytes() == payload
    assert summary.written == 3


# ----------------------------------------------------------------------------- Shenzhen + Montgomery 512

SM_NAMES = ["CHNCXR_0001_0", "CHNCXR_0002_1", "MCUCXR_0001_0", "MCUCXR_0004_1"]
SM_TOP = f"MultiResUNet-lung-segmentation-{download.SM512_COMMIT}"  # GitHub's archive prefix


def sm_files(names=SM_NAMES, top=SM_TOP) -> dict[str, bytes]:
    """The pinned repository's layout (data/cxr, data/masks) with small synthetic PNGs, plus
    files the fetch must ignore."""
    files = {f"{top}/README.md": b"# MultiResUNet", f"{top}/models/best.txt": b"0.9"}
    for i, name in enumerate(names):
        files[f"{top}/data/cxr/{name}.png"] = png(xray(i))
        files[f"{top}/data/masks/{name}.png"] = png(np.maximum(*left_right(i)))
    files[f"{top}/data/test/CHNCXR_0900_0.png"] = png(xray(9))  # not in the list: ignored
    return files


def write_sums(path: Path, files: dict[str, bytes], names=SM_NAMES) -> Path:
    """A ``sha256sum``-format list of ``files`` as the standard layout names them."""
    lines = [f"{hashlib.sha256(files[f'{SM_TOP}/data/{src}/{n}.png']).hexdigest()}  {dst}/{n}.png"
             for src, dst in (("cxr", "images"), ("masks", "masks")) for n in names]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def make_tar_gz(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


class _ArchiveHandler(http.server.BaseHTTPRequestHandler):
    """Serves ``payload``, or with ``root`` the files of that folder by path (404 for others);
    honours Range requests if ``ranges_ok``; the first ``cuts`` answers send the headers of the
    whole body, then half of it, and close the connection. ``requests``: each request's Range
    header; ``paths``: each request's path."""

    payload, ranges_ok, cuts, requests, paths, root = b"", True, 0, [], [], None

    def _payload(self) -> bytes | None:
        if self.root is None:
            return self.payload
        path = (self.root / urllib.parse.unquote(self.path.lstrip("/"))).resolve()
        return path.read_bytes() if path.is_file() and path.is_relative_to(self.root.resolve()) else None

    def do_GET(self):  # noqa: N802 (http.server API)
        rng = self.headers.get("Range")
        type(self).requests.append(rng)
        type(self).paths.append(self.path)
        if (payload := self._payload()) is None:
            self.send_error(404)
            return
        start = int(rng.split("=")[1].rstrip("-")) if rng and self.ranges_ok else 0
        if start >= len(payload):
            self.send_error(416)
            return
        body = payload[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body)))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(payload) - 1}/{len(payload)}")
        self.end_headers()
        if type(self).cuts > 0:
            type(self).cuts -= 1
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def serve():
    """``serve(payload, ranges_ok=True, cuts=0, root=None) -> (url, handler)`` on 127.0.0.1 (a
    thread): the URL of the archive ``payload``, or with ``root`` (a folder, served as it is)
    the server's base URL, ``http://127.0.0.1:PORT``."""
    servers = []

    def start(payload: bytes = b"", ranges_ok: bool = True, cuts: int = 0, root: Path | None = None):
        handler = type("Handler", (_ArchiveHandler,), {"payload": payload, "ranges_ok": ranges_ok,
                                                         "cuts": cuts, "requests": [], "paths": [],
                                                         "root": root})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        port = server.server_address[1]
        if root is not None:
            return f"http://127.0.0.1:{port}", handler
        return f"http://127.0.0.1:{port}/rochadiego/MultiResUNet-lung-segmentation/tar.gz/{download.SM512_COMMIT}", handler

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def sm_archive(tmp_path):
    """(archive bytes, checksum list, files) of a small archive in the pinned layout."""
    files = sm_files()
    archive = make_tar_gz(tmp_path / "src.tar.gz", files)
    return archive.read_bytes(), write_sums(tmp_path / "subset.sha256", files), files


@pytest.fixture(autouse=True)
def _no_retry_wait(monkeypatch):
    monkeypatch.setattr(archives, "RETRY_WAIT_S", 0.0)


def check_sm_output(out: Path, files: dict[str, bytes], names=SM_NAMES) -> None:
    """``out`` holds exactly ``names`` in the standard layout, byte for byte, with the manifest."""
    assert sorted(p.name for p in (out / "images").iterdir()) == [f"{n}.png" for n in sorted(names)]
    assert sorted(p.name for p in (out / "masks").iterdir()) == [f"{n}.png" for n in sorted(names)]
    for name in names:
        assert (out / "images" / f"{name}.png").read_bytes() == files[f"{SM_TOP}/data/cxr/{name}.png"]
        assert (out / "masks" / f"{name}.png").read_bytes() == files[f"{SM_TOP}/data/masks/{name}.png"]


def leftovers(folder: Path) -> list[str]:
    """Partial downloads and staging folders under ``folder``."""
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith((".part", ".partial"))
                  or ".extract-" in p.name)


def test_fetch_sm512_over_http_writes_checked_standard_layout(tmp_path, serve, sm_archive):
    payload, sums, files = sm_archive
    url, handler = serve(payload)
    out = tmp_path / "data" / "shenzhen_montgomery_512"
    summary = fetch_shenzhen_montgomery_512(out, url=url, sums=sums, progress=False)
    assert summary.out == out and summary.written == 4 and not summary.skipped and not summary.reused
    check_sm_output(out, files)
    assert manifest(out) == [
        {"file": "CHNCXR_0001_0.png", "source": "shenzhen", "tb_label": "0"},
        {"file": "CHNCXR_0002_1.png", "source": "shenzhen", "tb_label": "1"},
        {"file": "MCUCXR_0001_0.png", "source": "montgomery", "tb_label": "0"},
        {"file": "MCUCXR_0004_1.png", "source": "montgomery", "tb_label": "1"},
    ]
    assert handler.requests == [None]
    assert verify_sums(out, sums) == 8
    # the archive is gone once the folder is written; nothing partial is left
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["shenzhen_montgomery_512"]
    assert sorted(p.name for p in out.iterdir()) == [".complete", "README.md", "images", "manifest.csv", "masks"]
    credits = (out / "README.md").read_text(encoding="utf-8")  # the data's credits travel with it
    assert download.SM512_COMMIT in credits and "Jaeger" in credits and "arXiv:1803.01199" in credits

    from lungseg_lib.data.folders import check_folder

    scan, _ = check_folder(out)
    assert not scan.problems and [(p.name, p.source, p.label) for p in scan.pairs][-1] == \
        ("MCUCXR_0004_1", "montgomery", "1")

    # a rerun leaves the complete folder as it is, without asking the server
    before = mtimes(out)
    again = fetch_shenzhen_montgomery_512(out, url=url, sums=sums, progress=False)
    assert again.reused and again.written == 4 and mtimes(out) == before and handler.requests == [None]


@pytest.mark.parametrize("ranges_ok", [True, False], ids=["resumed", "restarted"])
def test_fetch_sm512_survives_a_connection_cut_halfway(tmp_path, serve, sm_archive, ranges_ok):
    payload, sums, files = sm_archive
    url, handler = serve(payload, ranges_ok=ranges_ok, cuts=1)
    out = tmp_path / "out"
    assert fetch_shenzhen_montgomery_512(out, url=url, sums=sums, cache_dir=tmp_path / "cache",
                                         progress=False).written == 4
    check_sm_output(out, files)
    half = len(payload) // 2
    assert handler.requests == [None, f"bytes={half}-"]  # the second try asks for the rest
    assert leftovers(tmp_path) == [] and not (tmp_path / "cache").exists()


def test_interrupted_fetch_leaves_no_output_and_a_rerun_resumes(tmp_path, serve, sm_archive):
    payload, sums, files = sm_archive
    url, handler = serve(payload, cuts=2)
    out, cache = tmp_path / "out", tmp_path / "cache"
    with pytest.raises(DataError, match=r"download (failed|incomplete).*rerun to resume into .*\.part"):
        fetch_shenzhen_montgomery_512(out, url=url, sums=sums, cache_dir=cache, tries=1, progress=False)
    part = cache / f"MultiResUNet-lung-segmentation-{download.SM512_COMMIT}.tar.gz.part"
    assert part.read_bytes() == payload[: len(payload) // 2]  # kept for the rerun
    assert not out.exists() and not list(tmp_path.glob(".out*"))  # no folder that looks complete

    # the second cut comes halfway through the rest; the rerun's second try completes it
    summary = fetch_shenzhen_montgomery_512(out, url=url, sums=sums, cache_dir=cache, tries=2, progress=False)
    assert summary.written == 4 and handler.cuts == 0
    first, second = len(payload) // 2, len(payload) // 2 + (len(payload) - len(payload) // 2) // 2
    assert handler.requests == [None, f"bytes={first}-", f"bytes={second}-"]
    check_sm_output(out, files)
    assert leftovers(tmp_path) == []


def test_fetch_sm512_restarts_when_the_part_file_is_too_long(tmp_path, serve, sm_archive):
    """A .part file as long as the archive or longer (e.g. another file's): 416, then a restart."""
    payload, sums, files = sm_archive
    url, handler = serve(payload)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / f"MultiResUNet-lung-segmentation-{download.SM512_COMMIT}.tar.gz.part").write_bytes(payload + b"junk")
    out = fetch_shenzhen_montgomery_512(tmp_path / "out", url=url, sums=sums, cache_dir=cache, progress=False).out
    assert handler.requests == [f"bytes={len(payload) + 4}-", None]
    check_sm_output(out, files)
    assert leftovers(tmp_path) == []


def test_fetch_sm512_refuses_a_checksum_mismatch_naming_the_file(tmp_path, serve, sm_archive):
    _, sums, files = sm_archive
    bad = dict(files)
    key = f"{SM_TOP}/data/masks/CHNCXR_0002_1.png"
    bad[key] = bad[key][:-20] + bytes(20)  # a damaged mask
    payload = make_tar_gz(tmp_path / "bad.tar.gz", bad).read_bytes()
    url, _ = serve(payload)
    out = tmp_path / "data" / "sm"
    with pytest.raises(DataError, match=r"^masks/CHNCXR_0002_1\.png: SHA-256 [0-9a-f]{64} does not match "
                                        r"[0-9a-f]{64} listed in subset\.sha256 .*CHNCXR_0002_1\.png.*"
                                        r"archive was deleted: rerun"):
        fetch_shenzhen_montgomery_512(out, url=url, sums=sums, progress=False)
    assert not out.exists()
    assert sorted(p.name for p in (tmp_path / "data").rglob("*")) == [".cache"]  # archive deleted, no stage


def test_layout_sm512_from_folder_and_zip_and_its_errors(tmp_path, sm_archive):
    _, sums, files = sm_archive
    repo = tmp_path / "MultiResUNet-lung-segmentation"
    for name, data in files.items():  # an extracted copy of the archive (or a git clone)
        path = repo / name.split("/", 1)[1]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    check_sm_output(layout_shenzhen_montgomery(repo, tmp_path / "a", sums=sums, progress=False).out, files)
    check_sm_output(layout_shenzhen_montgomery(repo / "data", tmp_path / "a2", sums=sums,
                                               progress=False).out, files)

    zipped = tmp_path / "sm.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    # a local archive via the fetch function (nothing downloaded, the archive is kept)
    check_sm_output(fetch_shenzhen_montgomery_512(tmp_path / "b", url=str(zipped), sums=sums,
                                                  progress=False).out, files)
    assert zipped.exists()

    (repo / "data" / "cxr" / "MCUCXR_0001_0.png").unlink()
    with pytest.raises(DataError, match=r"MultiResUNet-lung-segmentation: 1 file\(s\) listed in subset\.sha256 "
                                        r"are missing, first images/MCUCXR_0001_0\.png"):
        layout_shenzhen_montgomery(repo, tmp_path / "c", sums=sums, progress=False)
    assert not (tmp_path / "c").exists() and not list(tmp_path.glob(".c.*"))

    truncated = tmp_path / "cut.tar.gz"
    truncated.write_bytes(make_tar_gz(tmp_path / "whole.tar.gz", files).read_bytes()[:-200])
    with pytest.raises(DataError, match=r"cut\.tar\.gz: corrupt or incomplete archive"):
        layout_shenzhen_montgomery(truncated, tmp_path / "d", sums=sums, progress=False)
    assert not (tmp_path / "d").exists()

    # an output made from another list is not silently taken for this one
    other = write_sums(tmp_path / "other.sha256", files, SM_NAMES[:2])
    with pytest.raises(DataError, match=r"a: already holds a conversion with sums_sha256="):
        layout_shenzhen_montgomery(repo, tmp_path / "a", sums=other, progress=False)


def test_read_sums_names_the_list_and_line(tmp_path, sm_archive):
    _, sums, _ = sm_archive
    assert len(read_sums(sums)) == 8
    lines = sums.read_text(encoding="utf-8").splitlines()
    bad = tmp_path / "bad.sha256"
    bad.write_text("\n".join(lines[:2] + ["not a checksum  images/x.png"]) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.sha256, line 3: expected 'SHA256  images/NAME\.png'"):
        read_sums(bad)
    bad.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")  # the last mask missing
    with pytest.raises(DataError, match=r"bad\.sha256: images/MCUCXR_0004_1\.png is listed without its mask"):
        read_sums(bad)


def test_committed_sums_list_is_the_704_pairs():
    sums = read_sums(download.SM512_SUMS)
    images = [n for n in sums if n.startswith("images/")]
    assert len(sums) == 1408 and len(images) == 704
    assert sum(n.startswith("images/CHNCXR_") for n in images) == 566  # Shenzhen; 138 Montgomery


def test_cli_fetch_sm512(tmp_path, sm_archive, monkeypatch, capsys):
    from lungseg_lib import cli

    _, sums, files = sm_archive
    archive = make_tar_gz(tmp_path / "local.tar.gz", files)
    monkeypatch.setattr(download, "SM512_SUMS", sums)  # the committed list is for the real files
    out = tmp_path / "data" / "shenzhen_montgomery_512"
    assert cli.main(["data", "fetch", "shenzhen-montgomery-512", "--out", str(out), "--url", str(archive)]) == 0
    assert f"{out}: 4 image/mask pairs (written)" in capsys.readouterr().out
    check_sm_output(out, files)
    assert cli.main(["data", "fetch", "shenzhen-montgomery-512", "--out", str(out), "--size", "256"]) == 2
    assert "--size: not for shenzhen-montgomery-512" in capsys.readouterr().err


# ----------------------------------------------------------------------------- the shared copy

REPO = Path(__file__).resolve().parents[1]


def shenzhen_montgomery_dir(real_data_dir: Path) -> Path:
    if not any((real_data_dir / "images").glob("CHNCXR_*")):
        pytest.skip(f"LUNGSEG_DATA={real_data_dir} is not the Shenzhen + Montgomery set")
    return real_data_dir


def recorded_fingerprints() -> set[str]:
    """``data_fingerprint`` of every committed run trained on the Shenzhen + Montgomery set."""
    found = set()
    for path in REPO.glob("runs/*/**/config.json"):
        info = json.loads(path.read_text(encoding="utf-8"))
        if Path(str(info.get("data_root", ""))).name == "shenzhen_montgomery_512":
            found.add(info["data_fingerprint"])
    return found


def shared_manifest(root: Path, names=None) -> list[dict]:
    rows = [{k: r[k] for k in ("file", "source", "tb_label")} for r in manifest(root)]
    return [r for r in rows if names is None or r["file"][:-4] in names]


def test_layout_of_the_shared_copy_has_the_runs_fingerprint(real_data_dir, tmp_path):
    """The archive's layout (data/cxr, data/masks) made from the shared copy, laid out by the
    fetch code: the same pairs, bytes, manifest and fingerprint as the shared copy and the runs."""
    from lungseg_lib.data.folders import find_pairs, fingerprint

    shared = shenzhen_montgomery_dir(real_data_dir)
    assert verify_sums(shared) == 1408  # the committed list describes the shared copy
    repo = tmp_path / f"MultiResUNet-lung-segmentation-{download.SM512_COMMIT}"
    for src, dst in (("images", "cxr"), ("masks", "masks")):
        (repo / "data" / dst).mkdir(parents=True)
        for f in (shared / src).glob("*.png"):
            (repo / "data" / dst / f.name).symlink_to(f)
    out = layout_shenzhen_montgomery(repo, tmp_path / "shenzhen_montgomery_512", progress=False).out

    for folder in ("images", "masks"):
        assert sorted(p.name for p in (out / folder).iterdir()) == sorted(p.name for p in (shared / folder).iterdir())
    assert manifest(out) == shared_manifest(shared)
    ours, theirs = find_pairs(out), find_pairs(shared)
    assert not ours.problems and len(ours.pairs) == 704
    assert [(p.name, p.source, p.label) for p in ours.pairs] == [(p.name, p.source, p.label) for p in theirs.pairs]
    recorded = recorded_fingerprints()
    assert len(recorded) == 1, f"the committed runs record several data fingerprints: {recorded}"
    assert fingerprint(ours.pairs) == fingerprint(theirs.pairs) == recorded.pop()
    assert verify_sums(out) == 1408


def test_fetched_subset_matches_the_shared_copy(real_data_dir, tmp_path, serve):
    """A few real pairs in the pinned archive's layout, checked against the committed list
    (those lines only), fetched over HTTP: the same bytes, manifest rows and fingerprint."""
    from lungseg_lib.data.folders import find_pairs, fingerprint

    shared = shenzhen_montgomery_dir(real_data_dir)
    names = ["CHNCXR_0001_0", "CHNCXR_0003_0", "MCUCXR_0001_0"]
    names += [p.stem for p in sorted((shared / "images").glob("*_1.png"))[:1]]
    files = {f"{SM_TOP}/data/{dst}/{n}.png": (shared / src / f"{n}.png").read_bytes()
             for src, dst in (("images", "cxr"), ("masks", "masks")) for n in names}
    sums = tmp_path / "subset.sha256"
    sums.write_text("".join(line for line in download.SM512_SUMS.read_text(encoding="utf-8").splitlines(keepends=True)
                            if line.split()[1][:-4].split("/")[1] in names))
    url, handler = serve(make_tar_gz(tmp_path / "subset.tar.gz", files).read_bytes(), cuts=1)
    out = fetch_shenzhen_montgomery_512(tmp_path / "data" / "sm", url=url, sums=sums, progress=False).out

    assert len(read_sums(sums)) == 2 * len(names) and len(handler.requests) == 2
    for folder in ("images", "masks"):
        assert sorted(p.name for p in (out / folder).iterdir()) == sorted(f"{n}.png" for n in names)
        for n in names:
            assert (out / folder / f"{n}.png").read_bytes() == (shared / folder / f"{n}.png").read_bytes()
    assert manifest(out) == shared_manifest(shared, names)
    subset = [p for p in find_pairs(shared).pairs if p.name in names]
    assert fingerprint(find_pairs(out).pairs) == fingerprint(subset)


# ----------------------------------------------------------------------------- safe extraction


def _zip_with(tmp_path: Path, name: str, *, symlink=False) -> Path:
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ok/fine.txt", "fine")
        info = zipfile.ZipInfo(name)
        if symlink:
            info.external_attr = 0o120777 << 16
        zf.writestr(info, "../../outside" if symlink else "evil")
    return path


@pytest.mark.parametrize("name, symlink, reason", [
    ("../evil.png", False, "'..'"),
    ("Lung Segmentation/../../evil.png", False, "'..'"),
    ("/tmp/evil.png", False, "absolute path"),
    ("C:\\evil.png", False, "absolute path"),
    ("Lung Segmentation/link.png", True, "a link"),
])
def test_safe_extract_refuses_unsafe_zip_members(tmp_path, name, symlink, reason):
    archive = _zip_with(tmp_path, name, symlink=symlink)
    dest = tmp_path / "dest"
    with pytest.raises(DataError, match=rf"evil\.zip: refusing to extract member .*{reason}") as exc:
        safe_extract(archive, dest, progress=False)
    assert repr(name) in str(exc.value)
    assert not list(dest.rglob("*"))  # checked before anything is written
    assert not (tmp_path / "evil.png").exists()


def _tar_with(tmp_path: Path, member: tarfile.TarInfo, data: bytes = b"") -> Path:
    path = tmp_path / "evil.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        ok = tarfile.TarInfo("ok/fine.txt")
        ok.size = 4
        tf.addfile(ok, io.BytesIO(b"fine"))
        member.size = len(data)
        tf.addfile(member, io.BytesIO(data))
    return path


def test_safe_extract_tar(tmp_path):
    good = _tar_with(tmp_path, tarfile.TarInfo("ok/also.txt"), b"also")
    dest = safe_extract(good, tmp_path / "good", progress=False)
    assert (dest / "ok" / "fine.txt").read_text(encoding="utf-8") == "fine" and (dest / "ok" / "also.txt").read_text(encoding="utf-8") == "also"

    evil = _tar_with(tmp_path, tarfile.TarInfo("../evil.png"), b"evil")
    with pytest.raises(DataError, match=r"refusing to extract member '\.\./evil\.png'"):
        safe_extract(evil, tmp_path / "d1", progress=False)
    link = tarfile.TarInfo("ok/link")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    with pytest.raises(DataError, match=r"refusing to extract member 'ok/link' \(a link\)"):
        safe_extract(_tar_with(tmp_path, link), tmp_path / "d2", progress=False)
    assert not (tmp_path / "evil.png").exists()


def test_fetch_refuses_archive_with_unsafe_member(tmp_path):
    archive = make_montgomery_zip(tmp_path / "m.zip", extra=[("../evil.png", b"evil")])
    with pytest.raises(DataError, match=r"m\.zip: refusing to extract member '\.\./evil\.png'"):
        fetch(archive, tmp_path)
    assert not (tmp_path / "out").exists() and not (tmp_path / "evil.png").exists()


# ----------------------------------------------------------------------------- Kaggle

KAGGLE = {  # image stem -> mask file name (None: no mask)
    "CHNCXR_0001_0": "CHNCXR_0001_0_mask.png",
    "CHNCXR_0002_1": "CHNCXR_0002_1_mask.png",
    "CHNCXR_0003_1": None,
    "MCUCXR_0001_0": "MCUCXR_0001_0.png",
}


def kaggle_files(top: str = "Lung Segmentation") -> dict[str, bytes]:
    files = {}
    for i, (stem, mask_name) in enumerate(KAGGLE.items()):
        files[f"{top}/CXR_png/{stem}.png"] = png(cv2.cvtColor(xray(i), cv2.COLOR_GRAY2BGR))  # RGB as on Kaggle
        if mask_name:
            left, right = left_right(i)
            files[f"{top}/masks/{mask_name}"] = png(np.maximum(left, right))
    files[f"{top}/masks/CHNCXR_0099_0_mask.png"] = png(np.zeros((H, W), np.uint8))  # no image
    for k in range(2):
        files[f"{top}/test/CHNCXR_09{k}0_0.png"] = png(xray(10 + k))
    return files


def check_kaggle_output(summary: ConversionSummary, out: Path) -> None:
    assert summary.written == 3
    assert sorted(summary.skipped) == [("CHNCXR_0003_1.png", "no mask"),
                                       ("CHNCXR_0099_0_mask.png", "mask without image")]
    assert summary.notes == ["ignored 2 unlabelled image(s) in Lung Segmentation/test/"]
    assert manifest(out) == [
        {"file": "CHNCXR_0001_0.png", "source": "shenzhen", "tb_label": "0"},
        {"file": "CHNCXR_0002_1.png", "source": "shenzhen", "tb_label": "1"},
        {"file": "MCUCXR_0001_0.png", "source": "montgomery", "tb_label": "0"},
    ]
    for i, stem in enumerate(KAGGLE):
        if KAGGLE[stem] is None:
            assert not (out / "images" / f"{stem}.png").exists()
            continue
        np.testing.assert_array_equal(read(out / "images" / f"{stem}.png"), xray(i))
        left, right = left_right(i)
        np.testing.assert_array_equal(read(out / "masks" / f"{stem}.png"),
                                      ((left > 127) | (right > 127)).astype(np.uint8) * 255)


def test_convert_kaggle_zip(tmp_path):
    archive = tmp_path / "archive.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, data in kaggle_files("data/Lung Segmentation").items():  # lenient about the top
            zf.writestr(name, data)
    summary = convert_kaggle(archive, tmp_path / "kaggle", progress=False)
    check_kaggle_output(summary, tmp_path / "kaggle")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["archive.zip", "kaggle"]  # no temp left


def test_convert_kaggle_directory_rerun_and_resize(tmp_path):
    for name, data in kaggle_files().items():
        (tmp_path / "src" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "src" / name).write_bytes(data)
    out = tmp_path / "kaggle"
    check_kaggle_output(convert_kaggle(tmp_path / "src", out, progress=False), out)
    before = mtimes(out)
    again = convert_kaggle(tmp_path / "src", out, progress=False)
    assert again.reused and mtimes(out) == before
    check_kaggle_output(again, out)

    small = convert_kaggle(tmp_path / "src", tmp_path / "small", size=24, progress=False).out
    assert read(small / "images" / "CHNCXR_0001_0.png").shape == (24, 24)
    assert set(np.unique(read(small / "masks" / "CHNCXR_0001_0.png"))) == {0, 255}


def test_convert_kaggle_reports_missing_layout(tmp_path):
    (tmp_path / "src" / "CXR_png").mkdir(parents=True)
    with pytest.raises(DataError, match="no folder containing CXR_png and masks"):
        convert_kaggle(tmp_path / "src", tmp_path / "out", progress=False)
    with pytest.raises(DataError, match="nope.zip: not found"):
        convert_kaggle(tmp_path / "nope.zip", tmp_path / "out", progress=False)


def test_convert_keeps_masks_stored_as_0_and_1(tmp_path):
    """Masks saved with lung = 1 (not 255) are binarized by the data reader's one rule
    (imageio.binarize_mask: 0/1 masks as > 0); a converter's own "> 127" emptied them."""
    from lungseg_lib.data.folders import check_folder

    src = tmp_path / "src" / "Lung Segmentation"
    for folder in ("CXR_png", "masks"):
        (src / folder).mkdir(parents=True)
    lung = np.zeros((H, W), np.uint8)
    lung[5:40, 3:37] = 1
    (src / "CXR_png" / "CHNCXR_0001_0.png").write_bytes(png(xray(0)))
    (src / "masks" / "CHNCXR_0001_0_mask.png").write_bytes(png(lung))
    out = convert_kaggle(tmp_path / "src", tmp_path / "out", progress=False).out
    np.testing.assert_array_equal(read(out / "masks" / "CHNCXR_0001_0.png"), lung * 255)
    scan, stats = check_folder(out)
    assert not scan.problems and stats["mask_fraction"].iloc[0] == pytest.approx(lung.mean())
