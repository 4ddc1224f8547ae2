"""Weights for users (lungseg_lib.engine.weights): `lungseg weights export` writes a release folder
with a model card and SHA256SUMS; `lungseg weights fetch` downloads a published file with its
SHA-256 checked, end to end against a local HTTP server (success, corrupted download, no
network); the committed registry and the default model's folder."""

from __future__ import annotations

import hashlib
import http.server
import json
import socket
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from xray_helpers import chest_picture, tiny_model_dir

from lungseg_lib import api, cli
from lungseg_lib.engine import weights
from lungseg_lib.engine.weights import WeightsError


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory.mktemp("tiny") / "model")


def summary(mean):
    return {"mean": mean, "ci_low": mean - 0.01, "ci_high": mean + 0.005, "median": mean, "n": 141, "std": 0.03}


@pytest.fixture
def evaluated_run(tiny, tmp_path):
    """A run folder as training and evaluation leave it (the tiny model as its weights)."""
    import shutil

    run = tmp_path / "runs" / "cpu" / "unet3_compact" / "seed0"
    shutil.copytree(tiny, run)
    info = json.loads((run / "config.json").read_text(encoding="utf-8"))
    info["config"].update(profile="cpu", data="shenzhen_montgomery_512", batch_size=4)
    info.update(data_root="shenzhen_montgomery_512", data_fingerprint="7669c3a19ba5a6ac",
                split_file="data/splits/shenzhen_montgomery_512.csv",
                split_sizes={"train": 492, "val": 71, "test": 141},
                environment={"git_commit": "58bc4d21aeb438e97c8c797871ed2a459cab2fa0", "git_dirty_library": False,
                             "tensorflow": "2.21.0", "keras": "3.15.1", "python": "3.11.7",
                             "device": "CPU (x86_64, 2 cores)"})
    (run / "config.json").write_text(json.dumps(info), encoding="utf-8")
    (run / "metrics.json").write_text(json.dumps({
        "model": "unet3_compact", "profile": "cpu", "split": "test", "n_images": 141,
        "run_dir": "runs/cpu/unet3_compact/seed0",
        "raw": {"dice": summary(0.9512), "iou": summary(0.91)}, "post": {"dice": summary(0.9566), "iou": summary(0.9187)},
        "timings": {"inference_ms_per_image": 12.5}}), encoding="utf-8")
    (run / "training.json").write_text(json.dumps({"best_epoch": 16, "best_val_dice": 0.9642, "params": 408705}), encoding="utf-8")
    return run


# --------------------------------------------------------------------------- export


def test_export_writes_a_release_folder(evaluated_run, tmp_path, capsys):
    out = tmp_path / "release"
    assert cli.main(["weights", "export", str(evaluated_run), "--out", str(out)]) == 0
    name = "lungseg-unet3_compact-cpu-seed0"
    files = sorted(p.name for p in out.iterdir())
    assert files == sorted(["SHA256SUMS", "config.json", "metrics.json", "training.json", "model_card.md",
                            f"{name}.keras", "shenzhen_montgomery_512.csv"])
    assert weights.check_sums(out) == []
    sums = (out / "SHA256SUMS").read_text(encoding="utf-8")
    digest = hashlib.sha256((out / f"{name}.keras").read_bytes()).hexdigest()
    assert f"{digest}  {name}.keras" in sums and "SHA256SUMS" not in sums
    card = (out / "model_card.md").read_text(encoding="utf-8")
    for text in ("# Model card: lungseg-unet3_compact-cpu-seed0", "Not a medical device",
                 "adults; posteroanterior (PA) chest X-rays", "CC BY-NC-SA 4.0", "Dice | 0.9512 [0.9412, 0.9562] | "
                 "0.9566 [0.9466, 0.9616]", "test split, 141 images", "58bc4d21aeb438e97c8c797871ed2a459cab2fa0",
                 "train 492, val 71, test 141", "epoch 16, validation Dice 0.9642", "## Intended use",
                 "## Limitations", '"image_size": 32', digest, "Jaeger et al. 2014"):
        assert text in card, text
    entry = json.loads(capsys.readouterr().out.split("with the file's URL:\n", 1)[1])
    assert entry["name"] == name and entry["sha256"] == digest and entry["config"]["image_size"] == 32
    model = api.load_model(out)  # the folder is a model folder
    result = api.segment(chest_picture()[0], model=model)
    assert result.areas.right_px > 0


def test_export_leaves_out_the_optimizer_state(tmp_path):
    """A trained model.keras carries Adam's two slots per weight; the released file does not,
    and predicts exactly what the run's file predicts."""
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((16, 16, 1))
    model = keras.Model(inp, keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid")(
        keras.layers.Conv2D(64, 3, padding="same", activation="relu")(inp)))
    model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy")
    x = np.random.default_rng(0).random((2, 16, 16, 1), np.float32)
    model.fit(x, (x > 0.5).astype(np.float32), epochs=1, verbose=0)
    model.save(tmp_path / "trained.keras")
    weights.save_for_inference(tmp_path / "trained.keras", tmp_path / "release.keras")
    assert (tmp_path / "release.keras").stat().st_size < 0.6 * (tmp_path / "trained.keras").stat().st_size
    released = keras.models.load_model(tmp_path / "release.keras", compile=False)
    np.testing.assert_array_equal(released.predict(x, verbose=0), model.predict(x, verbose=0))


def test_registry_entry_keeps_what_using_the_model_needs(evaluated_run):
    """Input normalisation and hole filling travel with published weights (a fetched folder's
    config.json is the entry's config)."""
    info = json.loads((evaluated_run / "config.json").read_text(encoding="utf-8"))
    info["config"].update(normalize="clahe", post_fill_holes=True, epochs=3)
    (evaluated_run / "config.json").write_text(json.dumps(info), encoding="utf-8")
    config = weights.registry_entry(evaluated_run)["config"]
    assert config["normalize"] == "clahe" and config["post_fill_holes"] is True and config["post_k"] == 2
    assert "epochs" not in config  # training-only settings stay with the run


def test_export_refuses_overwrite_and_unevaluated_runs(evaluated_run, tmp_path, capsys):
    out = tmp_path / "release"
    assert cli.main(["weights", "export", str(evaluated_run), "--out", str(out), "--name", "model"]) == 0
    assert (out / "model.keras").is_file()
    assert cli.main(["weights", "export", str(evaluated_run), "--out", str(out)]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert cli.main(["weights", "export", str(evaluated_run), "--out", str(out), "--force"]) == 0
    assert sorted(p.name for p in out.glob("*.keras")) == ["lungseg-unet3_compact-cpu-seed0.keras"]
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no staging left
    (evaluated_run / "metrics.json").unlink()
    assert cli.main(["weights", "export", str(evaluated_run), "--out", str(tmp_path / "x")]) == 2
    assert "not evaluated" in capsys.readouterr().err
    assert cli.main(["weights", "export", str(evaluated_run), "--out", str(tmp_path / "y"), "--name", "a/b"]) == 2


# --------------------------------------------------------------------------- fetch


class _Files(http.server.BaseHTTPRequestHandler):
    files: dict = {}

    def do_GET(self):  # noqa: N802 (http.server API)
        body = self.files.get(self.path.lstrip("/"))
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    handler = type("Files", (_Files,), {"files": {}})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield handler.files, f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def registry(tmp_path: Path, url: str, sha: str, name="tiny-v1") -> Path:
    path = tmp_path / "registry.json"
    path.write_text(json.dumps({"weights": [{"name": name, "file": f"{name}.keras", "url": url, "sha256": sha,
                                             "config": {"model": "unet3_compact", "image_size": 32, "post_k": 2}}]}), encoding="utf-8")
    return path


def test_fetch_downloads_checks_and_uses_the_cache(tiny, server, tmp_path, monkeypatch, capsys):
    files, base = server
    payload = (tiny / "model.keras").read_bytes()
    files["v1/tiny-v1.keras"] = payload
    reg = registry(tmp_path, f"{base}/v1/tiny-v1.keras", hashlib.sha256(payload).hexdigest())
    monkeypatch.setattr(weights, "REGISTRY", reg)
    monkeypatch.setenv("LUNGSEG_CACHE", str(tmp_path / "cache"))
    assert cli.main(["weights", "fetch", "tiny-v1"]) == 0
    target = tmp_path / "cache" / "tiny-v1" / "tiny-v1.keras"
    assert capsys.readouterr().out.strip().endswith(str(target))
    assert target.read_bytes() == payload
    assert sorted(p.name for p in target.parent.iterdir()) == ["config.json", "tiny-v1.keras"]
    files.clear()  # cached: no second download
    assert weights.fetch("tiny-v1") == target
    assert cli.main(["weights", "list"]) == 0 and "tiny-v1" in capsys.readouterr().out
    result = api.segment(chest_picture()[0], model="tiny-v1")  # by name, through the cache
    assert result.areas.left_px > 0


def test_fetch_refuses_a_corrupted_download_and_leaves_nothing(tiny, server, tmp_path, monkeypatch, capsys):
    files, base = server
    payload = (tiny / "model.keras").read_bytes()
    files["tiny-v1.keras"] = payload[:-10] + b"corrupted!"
    monkeypatch.setattr(weights, "REGISTRY", registry(tmp_path, f"{base}/tiny-v1.keras",
                                                      hashlib.sha256(payload).hexdigest()))
    cache = tmp_path / "cache"
    with pytest.raises(WeightsError, match="SHA-256 differs from the registry's .* refused and deleted"):
        weights.fetch("tiny-v1", cache=cache)
    assert not [p for p in cache.rglob("*") if p.is_file()]
    assert cli.main(["weights", "fetch", "tiny-v1", "--cache", str(cache)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lungseg: error: ") and "SHA-256 differs" in err
    assert not [p for p in cache.rglob("*") if p.is_file()]


def test_fetch_without_network_says_so(tmp_path, monkeypatch):
    with socket.socket() as s:  # a port where nothing listens: connection refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(weights, "REGISTRY", registry(tmp_path, f"http://127.0.0.1:{port}/tiny-v1.keras", "0" * 64))
    with pytest.raises(WeightsError, match=r"tiny-v1: cannot download http://127\.0\.0\.1:\d+/tiny-v1\.keras "
                                           r"\(.*refused.*\); check the network"):
        weights.fetch("tiny-v1", cache=tmp_path / "cache")
    assert not [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]


def test_fetch_unknown_name_lists_the_published(tmp_path, monkeypatch):
    monkeypatch.setattr(weights, "REGISTRY", registry(tmp_path, "https://example.org/a.keras", "a" * 64))
    with pytest.raises(WeightsError, match="nope: not in the weights registry registry.json; valid: tiny-v1"):
        weights.fetch("nope", cache=tmp_path)
    with pytest.raises(FileNotFoundError, match="published: tiny-v1"):
        weights.model_folder("nope")


@pytest.mark.parametrize("entry, what", [
    ({"name": "a"}, "lacks file, url, sha256, config"),
    ({"name": "a", "file": "a.keras", "url": "u", "sha256": "XYZ", "config": {}}, "64 lower-case hex"),
    ({"name": "a", "file": "../a.keras", "url": "u", "sha256": "a" * 64, "config": {}}, "plain names"),
])
def test_registry_entries_are_checked(tmp_path, entry, what):
    path = tmp_path / "r.json"
    path.write_text(json.dumps({"weights": [entry]}), encoding="utf-8")
    with pytest.raises(WeightsError, match=what):
        weights.load_registry(path)


def test_committed_registry_is_valid():
    for e in weights.load_registry():
        assert e["url"].startswith("https://"), e["name"]
        assert {"model", "image_size"} <= set(e["config"]), e["name"]


def test_default_model_shipped_within_limits_or_clearly_missing():
    """Once shipped: at most 5 MB, checksums and model card in place; until then, an error."""
    folder = weights.DEFAULT_MODEL_DIR
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    assert ("It is not shipped yet" in readme) != (folder / "model.keras").exists(), "the README's word is stale"
    if not (folder / "model.keras").exists():
        with pytest.raises(weights.DefaultModelMissing, match="not shipped with this version"):
            weights.default_model_dir()
        assert "Not shipped yet" in (folder / "README.md").read_text(encoding="utf-8")
        return
    assert (folder / "model.keras").stat().st_size <= weights.MAX_DEFAULT_MB * 1e6
    assert weights.check_sums(folder) == []
    card = (folder / "model_card.md").read_text(encoding="utf-8")
    assert "Not a medical device" in card and "## Metrics" in card and "This is the default model" in card
    assert np.isfinite(json.loads((folder / "metrics.json").read_text(encoding="utf-8"))["post"]["dice"]["mean"])
    result = api.segment(chest_picture(256, 256)[0])  # the shipped model itself, as a user calls it
    assert result.labels.shape == (256, 256) and result.probability.dtype == np.float32


def test_the_default_models_card_needs_no_run(evaluated_run, tmp_path, monkeypatch):
    """Exported into the package's default-model folder, the card's use section needs no --run."""
    monkeypatch.setattr(weights, "DEFAULT_MODEL_DIR", tmp_path / "default_model")
    weights.export_run(evaluated_run, tmp_path / "default_model", name="model")
    card = (tmp_path / "default_model" / "model_card.md").read_text(encoding="utf-8")
    assert 'result = segment("chest.png")' in card and "THIS_FOLDER" not in card
    weights.export_run(evaluated_run, tmp_path / "other" / "default_model", name="model")  # same name, elsewhere
    assert "THIS_FOLDER" in (tmp_path / "other" / "default_model" / "model_card.md").read_text(encoding="utf-8")


def test_exported_files_get_plain_permissions_whatever_the_runs_files_have(evaluated_run, tmp_path):
    import stat

    from lungseg_lib import files

    for f in evaluated_run.iterdir():
        f.chmod(0o600)  # as runs written before the fix have them
    out = weights.export_run(evaluated_run, tmp_path / "release")
    assert stat.S_IMODE(out.stat().st_mode) == files.FOLDER_MODE
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()} == {p.name: files.FILE_MODE for p in out.iterdir()}


def test_model_card_gives_the_harder_images_from_the_run_files(evaluated_run, tmp_path):
    from lungseg_lib.engine.model_card import harder_images
    from lungseg_lib.engine.perturbations import FAMILIES

    assert harder_images(evaluated_run) == []  # neither per_image.csv nor robustness.csv
    names = [f"img{i}" for i in range(4)]
    pd.DataFrame({"name": names, "label": [0, 1, 1, 0], "dice_post": [0.9, 0.8, 0.7, 0.9]}).to_csv(
        evaluated_run / "per_image.csv", index=False)
    pd.DataFrame([{"name": n, "family": f, "severity": s, "dice_post": 0.5 if s else 0.9}
                  for n in names for f in FAMILIES for s in range(6)]).to_csv(evaluated_run / "robustness.csv", index=False)
    text = "\n".join(harder_images(evaluated_run))
    assert "| tuberculosis images (2) | 0.7500 [" in text
    assert "| under intensity shifts (" in text and "severities 1-5) | 0.5000 [0.5000, 0.5000] |" in text
    assert "| darker: brightness_down at severity 5 (factor 0.5) | 0.5000" in text


def test_a_damaged_default_model_is_refused_naming_the_file(tmp_path, monkeypatch):
    """The shipped folder is checked against its SHA256SUMS when it is used: a changed file is
    an error that names it, not a model that silently predicts something else."""
    if not (weights.DEFAULT_MODEL_DIR / "model.keras").exists():
        pytest.skip("no default model shipped in this version")
    import shutil

    copy = tmp_path / "default_model"
    shutil.copytree(weights.DEFAULT_MODEL_DIR, copy)
    monkeypatch.setattr(weights, "DEFAULT_MODEL_DIR", copy)
    assert weights.default_model_dir() == copy
    with open(copy / "config.json", "a", encoding="utf-8") as f:
        f.write("\n")
    with pytest.raises(weights.WeightsError, match=r"config\.json: SHA-256 differs"):
        weights.default_model_dir()
