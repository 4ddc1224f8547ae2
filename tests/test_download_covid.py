"""Tests for lungseg_lib.data.download_covid (the covid_pneumonia_512 fetch) and
lungseg_lib.data.licences, over a local HTTP server: the shared copy's four original pairs
(sources_sample/, skipped when absent) and synthetic originals made here."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from test_download import _no_retry_wait, mtimes, serve  # noqa: F401 (fixtures and a helper)

from lungseg_lib.data import download_covid as dc
from lungseg_lib.data.download import read_sums, verify_sums
from lungseg_lib.data.licences import figure_credit, may_show
from lungseg_lib.errors import DataError

REPO = Path(__file__).resolve().parents[1]
# the shared copy: LUNGSEG_COVID_DATA, else ../shared/data/covid_pneumonia_512 beside the repository
SHARED = Path(os.environ.get("LUNGSEG_COVID_DATA") or REPO.parent / "shared" / "data" / "covid_pneumonia_512")
SAMPLE = SHARED / "sources_sample"
IMAGES = f"{dc.IMAGES_REPO.replace('/', '+')}/{dc.IMAGES_COMMIT}"  # sources_sample's layout
MASKS = f"{dc.MASKS_REPO.replace('/', '+')}/{dc.MASKS_COMMIT}/{dc.MASKS_FOLDER}"
TEMPLATE = "/{owner}+{name}/{commit}/{path}"  # after the server's base URL


def encode(ext: str, arr: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(ext, arr)
    assert ok
    return buf.tobytes()


def synthetic_originals(root: Path) -> tuple[Path, dict[str, bytes]]:
    """Three originals in sources_sample's layout (a colour JPEG larger than 512, a small RGBA
    PNG, a 16-bit PNG larger than 512) with V7-style masks (0, 127 Ignore, 255 lung), and their
    manifest; returns (manifest, {file: original image bytes})."""
    rng = np.random.default_rng(0)
    specs = [("a.png", "images/a one.jpg", (500, 700), ".jpg", 3),  # a space in the path: quoted
             ("b.png", "images/b.png", (200, 300), ".png", 4),
             ("c.png", "images/c.PNG", (640, 640), ".png", 1)]
    rows, originals = [], {}
    for i, (file, path, (h, w), ext, channels) in enumerate(specs):
        dtype, top = (np.uint16, 65535) if file == "c.png" else (np.uint8, 255)
        img = rng.integers(0, top, (h, w, channels) if channels > 1 else (h, w)).astype(dtype)
        img = cv2.GaussianBlur(img, (9, 9), 3)  # JPEG-friendly, still varied
        mask = np.zeros((h, w), np.uint8)
        mask[h // 5: 4 * h // 5, w // 8: 7 * w // 8] = 255
        mask[h // 2: h // 2 + 7, w // 2: w // 2 + 9] = 127  # a device over the lung
        data, mask_data = encode(ext, img), encode(".png", mask)
        (root / IMAGES / path).parent.mkdir(parents=True, exist_ok=True)
        (root / IMAGES / path).write_bytes(data)
        (root / MASKS).mkdir(parents=True, exist_ok=True)
        (root / MASKS / f"{900 + i}.png").write_bytes(mask_data)
        originals[file] = data
        rows.append({"file": file, "patient": str(i), "site": "Somewhere", "finding": "COVID-19",
                     "view": "PA", "license": "CC BY 4.0", "doi": "", "url": f"https://example.org/{i}",
                     "width": str(w), "height": str(h), "ieee8023_file": path,
                     "ieee8023_sha256": hashlib.sha256(data).hexdigest(), "v7_mask_id": str(900 + i),
                     "v7_mask_sha256": hashlib.sha256(mask_data).hexdigest(), "ignore_px": "63"})
    manifest = root / "manifest.csv"
    pd.DataFrame(rows, columns=dc.COLUMNS).to_csv(manifest, index=False, lineterminator="\n")
    return manifest, originals


def expected_pair(root: Path, row: dict) -> tuple[np.ndarray, np.ndarray]:
    """The README's rule, written out here: grey as cv2.imread reads it, INTER_AREA to
    round(w*s) x round(h*s) when the longer side exceeds 512, the mask (127 and 255 lung) >= 128."""
    img = cv2.imread(str(root / IMAGES / row["ieee8023_file"]), cv2.IMREAD_GRAYSCALE)
    mask = np.where(cv2.imread(str(root / MASKS / f"{row['v7_mask_id']}.png"), cv2.IMREAD_GRAYSCALE) > 0,
                    255, 0).astype(np.uint8)
    h, w = img.shape
    if max(h, w) > 512:
        s = 512 / max(h, w)
        img = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        mask = cv2.resize(mask, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)
        mask = np.where(mask >= 128, 255, 0).astype(np.uint8)
    return img, mask


@pytest.fixture
def synth(tmp_path):
    """(originals folder, manifest, sums list of the expected derived files, original bytes)."""
    root = tmp_path / "sources"
    manifest, originals = synthetic_originals(root)
    lines = []
    table = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    for k, arr in enumerate(("images", "masks")):
        for row in table.to_dict("records"):
            digest = hashlib.sha256(encode(".png", expected_pair(root, row)[k])).hexdigest()
            lines.append(f"{digest}  {arr}/{row['file']}\n")
    sums = tmp_path / "synth.sha256"
    sums.write_text("".join(lines), encoding="utf-8")
    return root, manifest, sums, originals


def fetch(out: Path, url, manifest, sums, **kw):
    return dc.fetch_covid_pneumonia_512(out, url=url, manifest=manifest, sums=sums, progress=False, **kw)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith((".part", ".partial")))


# ----------------------------------------------------------------------------- synthetic originals


def test_fetch_derives_as_the_readme_says_and_checks_every_file(tmp_path, serve, synth):
    root, manifest, sums, _ = synth
    base, handler = serve(root=root)
    out = tmp_path / "data" / "covid_pneumonia_512"
    summary = fetch(out, base + TEMPLATE, manifest, sums)
    assert summary.written == 3 and not summary.reused and not summary.skipped
    assert summary.notes == ["every original matches its SHA-256 in manifest.csv (6 files)",
                             "every derived file matches synth.sha256 (6 files)"]
    table = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    for row in table.to_dict("records"):
        img, mask = expected_pair(root, row)
        np.testing.assert_array_equal(cv2.imread(str(out / "images" / row["file"]), cv2.IMREAD_UNCHANGED), img)
        np.testing.assert_array_equal(cv2.imread(str(out / "masks" / row["file"]), cv2.IMREAD_UNCHANGED), mask)
    shapes = {f: cv2.imread(str(out / "images" / f)).shape[:2] for f in ("a.png", "b.png", "c.png")}
    assert shapes == {"a.png": (366, 512), "b.png": (200, 300), "c.png": (512, 512)}
    assert (out / "manifest.csv").read_text(encoding="utf-8") == manifest.read_text(encoding="utf-8")
    assert verify_sums(out, out / "SHA256SUMS", dc.NAME_RE) == 6
    assert read_sums(out / "SHA256SUMS", dc.NAME_RE) == read_sums(sums, dc.NAME_RE)
    credits = (out / "README.md").read_text(encoding="utf-8")
    assert "V7 Labs" in credits and "Cohen" in credits and dc.IMAGES_COMMIT in credits and dc.MASKS_COMMIT in credits
    assert sorted(p.name for p in out.iterdir()) == [".complete", "README.md", "SHA256SUMS", "images",
                                                     "manifest.csv", "masks"]
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["covid_pneumonia_512"]  # cache gone
    assert sorted(handler.paths) == sorted(
        f"/{IMAGES}/{p}" for p in ("images/a%20one.jpg", "images/b.png", "images/c.PNG")) + sorted(
        f"/{MASKS}/{900 + i}.png" for i in range(3))

    before, asked = mtimes(out), len(handler.paths)  # a rerun leaves the complete folder as it is
    again = fetch(out, base + TEMPLATE, manifest, sums)
    assert again.reused and again.written == 3 and mtimes(out) == before and len(handler.paths) == asked
    with pytest.raises(DataError, match=r"already holds a conversion with names="):
        fetch(out, base + TEMPLATE, manifest, sums, names=["a.png"])


def test_a_changed_original_is_refused_naming_the_file(tmp_path, serve, synth):
    root, manifest, sums, originals = synth
    path = root / IMAGES / "images" / "b.png"
    path.write_bytes(originals["b.png"][:-30] + bytes(30))
    base, _ = serve(root=root)
    out, cache = tmp_path / "out", tmp_path / "cache"
    with pytest.raises(DataError, match=rf"^images/b\.png \({dc.IMAGES_REPO} at {dc.IMAGES_COMMIT[:7]}, for "
                                        r"b\.png\): SHA-256 [0-9a-f]{64} does not match [0-9a-f]{64} in the "
                                        r"manifest: .*rerun"):
        fetch(out, base + TEMPLATE, manifest, sums, cache_dir=cache)
    assert not out.exists() and not list(tmp_path.glob(".out*"))
    cached = cache / dc.DATASET / IMAGES / "images"
    assert sorted(p.name for p in cached.iterdir()) == ["a one.jpg"]  # the bad copy deleted, the good kept

    path.write_bytes(originals["b.png"])  # the server has the pinned file again: the rerun resumes
    base2, handler = serve(root=root)
    assert fetch(out, base2 + TEMPLATE, manifest, sums, cache_dir=cache).written == 3
    assert f"/{IMAGES}/images/a%20one.jpg" not in handler.paths and len(handler.paths) == 4


def test_a_changed_mask_is_refused_naming_the_file(tmp_path, synth):
    root, manifest, sums, _ = synth
    mask = root / MASKS / "902.png"
    mask.write_bytes(encode(".png", np.full((640, 640), 255, np.uint8)))
    with pytest.raises(DataError, match=rf"^{dc.MASKS_FOLDER}/902\.png \({dc.MASKS_REPO} at [0-9a-f]{{7}}, "
                                        r"for c\.png\): SHA-256"):
        fetch(tmp_path / "out", root, manifest, sums)  # a local folder of the sources_sample layout
    with pytest.raises(DataError, match=r"902\.png: download failed .*\(the original .*/902\.png of c\.png\)"):
        fetch(tmp_path / "out", f"{root}/{{owner}}+{{name}}/{{commit}}/nowhere/{{path}}", manifest, sums, tries=1)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("ranges_ok", [True, False], ids=["resumed", "restarted"])
def test_a_connection_cut_halfway_resumes(tmp_path, serve, synth, ranges_ok):
    root, manifest, sums, originals = synth
    base, handler = serve(root=root, ranges_ok=ranges_ok, cuts=1)
    out = tmp_path / "out"
    assert fetch(out, base + TEMPLATE, manifest, sums, cache_dir=tmp_path / "cache").written == 3
    first = f"/{IMAGES}/images/a%20one.jpg"
    assert handler.paths[:2] == [first, first]  # the first file, cut, then asked for again
    assert handler.requests[:2] == [None, f"bytes={len(originals['a.png']) // 2}-"]
    assert (out / "images" / "a.png").is_file() and leftovers(tmp_path) == []
    assert not (tmp_path / "cache").exists()


def test_an_interrupted_fetch_leaves_no_output_and_a_rerun_resumes(tmp_path, serve, synth):
    root, manifest, sums, originals = synth
    base, handler = serve(root=root, cuts=1)
    out, cache = tmp_path / "out", tmp_path / "cache"
    with pytest.raises(DataError, match=r"download (failed|incomplete).*rerun to resume into .*a one\.jpg\.part"):
        fetch(out, base + TEMPLATE, manifest, sums, cache_dir=cache, tries=1)
    part = cache / dc.DATASET / IMAGES / "images" / "a one.jpg.part"
    assert part.read_bytes() == originals["a.png"][: len(originals["a.png"]) // 2]
    assert not out.exists() and not list(tmp_path.glob(".out*"))
    assert fetch(out, base + TEMPLATE, manifest, sums, cache_dir=cache, tries=1).written == 3
    assert handler.requests[1] == f"bytes={len(originals['a.png']) // 2}-" and leftovers(tmp_path) == []


def test_a_derived_file_unlike_the_shipped_list_is_reported(tmp_path, synth):
    root, manifest, sums, _ = synth
    lines = sums.read_text(encoding="utf-8").splitlines(keepends=True)
    sums.write_text("0" * 64 + lines[0][64:] + "".join(lines[1:]), encoding="utf-8")
    summary = fetch(tmp_path / "out", root, manifest, sums, keep_cache=True)
    assert summary.written == 3 and "1 of 6 derived file(s) differ from synth.sha256" in summary.notes[1]
    assert "images/a.png" in summary.notes[1]
    assert (tmp_path / ".cache" / dc.DATASET / IMAGES / "images" / "c.PNG").is_file()  # kept


def test_manifest_checks_name_the_manifest(tmp_path, synth):
    _, manifest, _, _ = synth
    table = pd.read_csv(manifest, dtype=str, keep_default_na=False)
    assert list(dc.read_manifest(manifest, names=["c", "a.png"])["file"]) == ["a.png", "c.png"]
    with pytest.raises(DataError, match=r"manifest\.csv: 1 name\(s\) are not in the manifest: zz"):
        dc.read_manifest(manifest, names=["zz.png"])
    bad = tmp_path / "bad.csv"
    for change, message in [(lambda t: t.drop(columns="v7_mask_sha256"), r"lacks the column\(s\) v7_mask_sha256"),
                            (lambda t: t.assign(ieee8023_sha256="abc"), r"line 2 \(a\.png\): a SHA-256"),
                            (lambda t: t.assign(file="../x.png"), r"line 2: file '\.\./x\.png' is not NAME\.png"),
                            (lambda t: t.assign(ieee8023_file="../../etc/passwd"), r"line 2 \(a\.png\): bad"),
                            (lambda t: pd.concat([t, t.iloc[:1]]), r"a\.png is listed twice")]:
        change(table).to_csv(bad, index=False)
        with pytest.raises(DataError, match=rf"bad\.csv.*{message}"):
            dc.read_manifest(bad)


def test_url_template(tmp_path):
    assert dc.url_template(None) == dc.DEFAULT_URL
    assert dc.url_template("https://mirror.example/raw/") == "https://mirror.example/raw/{owner}/{name}/{commit}/{path}"
    assert dc.url_template("http://h/{owner}+{name}/{commit}/{path}") == "http://h/{owner}+{name}/{commit}/{path}"
    url = dc.DEFAULT_URL.format(owner="v7labs", name="covid-19-xray-dataset", commit=dc.MASKS_COMMIT,
                                path=f"{dc.MASKS_FOLDER}/1676199.png")
    assert url == ("https://raw.githubusercontent.com/v7labs/covid-19-xray-dataset/"
                   f"{dc.MASKS_COMMIT}/annotations/all-images-semantic-masks/1676199.png")
    for layout in ("s-mostafa-a+covid-chestxray-dataset", "s-mostafa-a/covid-chestxray-dataset"):
        (tmp_path / layout.split("+")[0] / layout).mkdir(parents=True)
        joint = "{owner}+{name}" if "+" in layout else "{owner}/{name}"
        assert dc.url_template(tmp_path / layout.split("+")[0]) == \
            f"{(tmp_path / layout.split('+')[0]).as_uri()}/{joint}/{{commit}}/{{path}}"
    with pytest.raises(DataError, match=r"fields are \{owner\}"):
        dc.url_template("http://h/{repo}/{commit}/{path}")
    with pytest.raises(DataError, match=r"needs \{path\}"):
        dc.url_template("http://h/{owner}/{name}")
    clones = tmp_path / "git clones"  # a local template (no commit folder in a clone), quoted
    assert dc.url_template(f"{clones}/{{name}}/{{path}}") == f"{clones.as_uri()}/{{name}}/{{path}}"
    with pytest.raises(DataError, match=r"nowhere: not a folder"):
        dc.url_template(tmp_path / "nowhere")


def test_cli_fetch_covid(tmp_path, serve, synth, monkeypatch, capsys):
    from lungseg_lib import cli

    root, manifest, sums, _ = synth
    monkeypatch.setattr(dc, "MANIFEST", manifest)  # the shipped lists are for the real files
    monkeypatch.setattr(dc, "SUMS", sums)
    base, _ = serve(root=root)
    out = tmp_path / "data" / "covid_pneumonia_512"
    argv = ["data", "fetch", "covid-pneumonia-512", "--out", str(out), "--url", base + TEMPLATE]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert f"{out}: 3 image/mask pairs (written)" in printed and "every derived file matches" in printed
    assert cli.main(argv + ["--size", "256"]) == 2
    assert "--size: not for covid-pneumonia-512" in capsys.readouterr().err
    monkeypatch.setattr(dc, "MANIFEST", dc.SUMS_DIR / "covid_pneumonia_512.csv")
    assert cli.main(["data", "fetch", "covid-pneumonia-512", "--out", str(tmp_path / "x"), "--url",
                     "http://h/{owner}"]) == 2
    assert "needs {path}" in capsys.readouterr().err


# ----------------------------------------------------------------------------- the shipped lists


def test_the_shipped_lists_describe_the_402_pairs():
    table = dc.read_manifest()
    assert len(table) == 402 and table["patient"].nunique() == 234
    assert (table["site"] == dc.EXTERNAL_SITE).sum() == 84
    sums = read_sums(dc.SUMS, dc.NAME_RE)
    assert sorted(sums) == sorted(f"{d}/{f}" for d in ("images", "masks") for f in table["file"])
    assert all(p.startswith("images/") for p in table["ieee8023_file"])


def test_the_shipped_lists_are_the_shared_copy_s():
    if not (SHARED / "manifest.csv").is_file():
        pytest.skip(f"{SHARED} is not here")
    assert dc.MANIFEST.read_bytes() == (SHARED / "manifest.csv").read_bytes()
    assert dc.SUMS.read_bytes() == (SHARED / "SHA256SUMS").read_bytes()


def sample_names() -> list[str]:
    if not SAMPLE.is_dir():
        pytest.skip(f"{SAMPLE} is not here (the shared copy's four original pairs)")
    table = dc.read_manifest()
    present = {p.name for p in (SAMPLE / IMAGES / "images").iterdir()}
    names = [f for f, p in zip(table["file"], table["ieee8023_file"]) if Path(p).name in present]
    assert len(names) == 4
    return names


def check_like_the_shared_copy(out: Path, names: list[str]) -> None:
    """``out`` holds ``names`` pixel for pixel (and byte for byte) as the shared copy does."""
    for folder in ("images", "masks"):
        assert sorted(p.name for p in (out / folder).iterdir()) == sorted(names)
        for name in names:
            ours = cv2.imread(str(out / folder / name), cv2.IMREAD_UNCHANGED)
            theirs = cv2.imread(str(SHARED / folder / name), cv2.IMREAD_UNCHANGED)
            assert ours.dtype == theirs.dtype == np.uint8
            np.testing.assert_array_equal(ours, theirs, err_msg=f"{folder}/{name}")
            assert (out / folder / name).read_bytes() == (SHARED / folder / name).read_bytes()
    shared_lines = (SHARED / "manifest.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    assert (out / "manifest.csv").read_text(encoding="utf-8") == "".join(
        [shared_lines[0]] + [line for line in shared_lines[1:] if line.split(",")[0] in names])
    shared_sums = set((SHARED / "SHA256SUMS").read_text(encoding="utf-8").splitlines())
    assert set((out / "SHA256SUMS").read_text(encoding="utf-8").splitlines()) <= shared_sums


def test_sample_over_http_is_pixel_identical_to_the_shared_copy(tmp_path, serve):
    names = sample_names()
    base, handler = serve(root=SAMPLE, cuts=1)  # served as it is; the first answer cut halfway
    summary = dc.fetch_covid_pneumonia_512(tmp_path / "covid", url=base + TEMPLATE, names=names, progress=False)
    assert summary.written == 4
    assert summary.notes[-1] == "every derived file matches covid_pneumonia_512.sha256 (8 files)"
    check_like_the_shared_copy(summary.out, names)
    assert len(handler.paths) == 9 and handler.requests[1].startswith("bytes=")
    marker = json.loads((summary.out / ".complete").read_text(encoding="utf-8"))
    assert marker["names"] == sorted(n[:-4] for n in names) and marker["dataset"] == dc.DATASET


def test_sample_from_a_local_folder_is_pixel_identical_to_the_shared_copy(tmp_path):
    names = sample_names()
    out = dc.fetch_covid_pneumonia_512(tmp_path / "covid", url=SAMPLE, names=names, progress=False).out
    check_like_the_shared_copy(out, names)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["covid"]


# ----------------------------------------------------------------------------- licences


def test_may_show_on_every_licence_of_the_shipped_manifest():
    expected = {"CC BY 3.0": True, "CC BY 4.0": True, "CC BY-NC-SA": True, "CC BY-NC-SA 4.0": True,
                "CC BY-NC-ND": False, "CC BY-NC-ND 4.0": False, "": False,
                "listed as authorized for everyone": False}
    assert set(dc.read_manifest()["license"]) == set(expected)  # a new licence string needs a decision
    assert {text: may_show(text) for text in expected} == expected
    for text, ok in [("CC-BY-SA 4.0", True), ("cc by-nc 2.0", True), ("CC BY-SA 3.0 Unported", True),
                     ("CC BY-ND 4.0", False), ("CC0 1.0", False), ("MIT", False), (None, False),
                     ("  CC BY 4.0 ", True), ("CC BY 4.0 (see site)", False)]:
        assert may_show(text) is ok, text


def test_figure_credit_names_the_licence_and_the_source():
    table = dc.read_manifest()
    shown = table[table["license"].map(may_show)]
    assert len(shown) == 84 + 6 + 60 + 60
    row = shown.iloc[0]
    credit = figure_credit(row)
    assert credit.startswith(f"{row['file']}: {row['url']}, {row['license']}") and "V7 Labs" in credit
    sa = shown[shown["license"] == "CC BY-NC-SA 4.0"].iloc[0]
    assert "shared under CC BY-NC-SA 4.0" in figure_credit(next(shown[shown.file == sa.file].itertuples()))
    for text in ("CC BY-NC-ND 4.0", "", "listed as authorized for everyone"):
        hidden = table[table["license"] == text].iloc[0]
        with pytest.raises(DataError, match=rf"^{hidden['file']}: licence .* does not allow"):
            figure_credit(hidden)
    with pytest.raises(DataError, match=r"x\.png: no source URL"):
        figure_credit({"file": "x.png", "license": "CC BY 4.0", "url": ""})
