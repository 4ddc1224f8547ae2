"""`lungseg bench` and the speed page: structure of the JSON, errors, table, notebook.

These tests check shapes and fields, never a speed (timings on a shared machine are noise);
the speeds themselves are in the committed benchmark files under bench/.
"""

import copy
import json
import shutil

import pytest

from lungseg_lib import bench
from lungseg_lib.bench import measure, run
from lungseg_lib.report import speed
from lungseg_lib.cli import main

STATS = {"median", "q1", "q3", "min", "max", "n", "calls_per_repeat"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A real tiny benchmark through the CLI: unet3_compact at 64 x 64, 2 repeats."""
    out = tmp_path_factory.mktemp("bench") / "tiny.json"
    rc = main(["bench", "--models", "unet3_compact", "--sizes", "64", "--repeats", "2", "--warmup", "1",
               "--min-repeat-s", "0.01", "--infer-batches", "1,4", "--out", str(out)])
    assert rc == 0
    return out


def test_tiny_bench_json_has_every_field(tiny):
    doc = json.loads(tiny.read_text(encoding="utf-8"))
    assert doc["complete"] is True and doc["schema"] == bench.SCHEMA
    assert doc["command"].startswith("lungseg bench --models unet3_compact")
    m = doc["machine"]
    assert m["cpu_model"] and m["usable_cpus"] >= 1 and m["logical_cpus"] >= 1 and "gpu" in m
    assert m["software"]["tensorflow"] and m["label"] and len(m["load_average_start"]) == 3
    assert 0 <= m["cpu_busy_start"] <= 1 and 0 <= m["cpu_busy_end"] <= 1
    assert doc["device"]["kind"] == "cpu" and doc["device"]["name"].startswith("CPU")
    assert doc["settings"]["repeats"] == 2 and doc["settings"]["infer_batches"] == [1, 4]
    assert "paper_claims" not in doc  # the papers' claims are the report's (report.speed.PAPER_CLAIMS)
    (r,) = doc["results"]
    assert set(bench.RESULT_FIELDS) <= set(r) and "error" not in r
    assert (r["model"], r["size"], r["batch"]) == ("unet3_compact", 64, 4)  # the paper recipe's batch
    assert r["mixed_precision"] == "float32" and r["jit_compile"] is False and r["params"] == 441601  # transposed-conv decoder
    for key in ("train_images_per_s", "infer_ms_batch1", "infer_ms_best_batch", "post_ms",
                "pipeline_images_per_s"):
        s = r[key]
        assert set(s) == STATS and s["n"] == 2, key
        assert 0 < s["min"] <= s["q1"] <= s["median"] <= s["q3"] <= s["max"], key
    assert r["best_batch"] in (1, 4) and set(r["infer_ms_by_batch"]) <= {"1", "4"}
    assert r["memory_kind"] == "host" and r["memory_method"]
    assert r["peak_memory_mb"] >= max(r["peak_memory_train_mb"], r["peak_memory_infer_mb"]) > 0
    assert r["host_baseline_mb"] > 0 and r["train_first_call_s"] > 0 and r["worker_seconds"] > 0
    assert r["flops_per_image"] == pytest.approx(26.7e9 / 16, rel=0.01)  # 26.7 GFLOP at 256 px, 1/16 at 64
    assert r["matmul_gflops"]["median"] > 1  # this machine's float32 matrix-multiply rate
    row = speed.speed_table([tiny]).iloc[0]
    assert 0 < row["roofline"] == pytest.approx(row["achieved_gflops"] / row["matmul_gflops"])


def test_bad_model_name_lists_the_valid_ones(capsys):
    with pytest.raises(KeyError, match="valid names: .*unet3_compact"):
        run.run_bench(models=["unet3_compat"], out=None)
    assert main(["bench", "--models", "nope", "--out", "x.json"]) == 2
    assert "nasnet_decoder" in capsys.readouterr().err


def test_bad_settings_are_errors():
    with pytest.raises(ValueError, match="multiples of 4"):
        run.run_bench(models=["unet3_compact"], sizes=[30])
    with pytest.raises(ValueError, match="--device"):
        run.run_bench(models=["unet3_compact"], device="tpu")
    with pytest.raises(ValueError, match="repeats"):
        run.run_bench(models=["unet3_compact"], repeats=0)


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="a GPU machine: nothing to refuse")
def test_device_gpu_without_a_gpu_is_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match="--device gpu: no GPU is visible"):
        run.run_bench(models=["unet3_compact"], sizes=[64], device="gpu", out=tmp_path / "g.json")


def test_a_failing_worker_is_an_error_row(tmp_path, capsys):
    out = tmp_path / "t.json"
    doc = run.run_bench(models=["unet3_compact"], sizes=[64], repeats=1, timeout_s=0.05, out=out)
    (r,) = doc["results"]
    assert "timed out" in r["error"] and r["model"] == "unet3_compact"
    assert json.loads(out.read_text(encoding="utf-8"))["complete"] is True
    table = speed.speed_table([out])
    assert len(table) == 1 and table["error"].notna().all()
    assert speed.headline(table, "cpu", "unet3_compact", 64) is None


def _stats(median):
    return {"median": median, "q1": 0.9 * median, "q3": 1.1 * median, "min": 0.8 * median,
            "max": 1.2 * median, "n": 5, "calls_per_repeat": 1}


def _row(model, ms, img_s, precision="float32", device="cpu"):
    return {"model": model, "size": 256, "batch": 4, "device": device, "device_name": device,
            "mixed_precision": precision, "jit_compile": False, "params": 1_000_000,
            "train_images_per_s": _stats(img_s), "train_first_call_s": 3.0,
            "infer_ms_batch1": _stats(ms), "infer_ms_best_batch": _stats(ms / 2), "best_batch": 16,
            "infer_ms_by_batch": {"1": _stats(ms), "16": _stats(ms / 2)}, "infer_first_call_s": 1.0,
            "peak_memory_mb": 900.0, "memory_kind": "host", "memory_method": "hand-made",
            "peak_memory_train_mb": 900.0, "peak_memory_infer_mb": 800.0, "host_peak_mb": 900.0,
            "host_baseline_mb": 700.0, "post_ms": _stats(0.4), "pipeline_images_per_s": _stats(900.0),
            "worker_seconds": 10.0}


def hand_made(device="cpu"):
    rows = [_row("nasnet_decoder", 120.0, 2.0, device=device), _row("unet3_compact", 10.0, 30.0, device=device),
            {"model": "unet", "size": 256, "batch": 8, "device": device, "mixed_precision": "float32",
             "jit_compile": False, "error": "killed by signal 9 (out of memory?)"},
            _row("unet22", 20.0, 3.0 if device == "cpu" else 30.0, device=device)]
    return {"schema": bench.SCHEMA, "machine": {"label": f"hand-made {device}", "cpu_model": "X"},
            "device": {"kind": device, "name": device}, "created": "2025-01-01T00:00:00+00:00",
            "command": "hand", "settings": {"repeats": 5}, "complete": True, "results": rows}


def test_speed_table_figure_and_claims_on_hand_made_json(tmp_path):
    cpu = tmp_path / "cpu.json"
    cpu.write_text(json.dumps(hand_made("cpu")), encoding="utf-8")
    gpu_doc = hand_made("gpu")
    fp32 = copy.deepcopy(gpu_doc["results"][1])
    gpu_doc["results"][1].update(mixed_precision="mixed_float16", infer_ms_batch1=_stats(1.5),
                                 train_images_per_s=_stats(300.0))
    fp32.update(infer_ms_batch1=_stats(3.0))
    gpu_doc["results"].append(fp32)
    gpu = tmp_path / "gpu.json"
    gpu.write_text(json.dumps(gpu_doc), encoding="utf-8")

    table = speed.speed_table([cpu, gpu])
    assert list(table.columns) == list(speed.TABLE_COLUMNS) and len(table) == 9
    row = table[(table.file == "cpu.json") & (table.model == "nasnet_decoder")].iloc[0]
    assert row.infer_ms_b1 == 120.0 and row.train_img_s == 2.0 and row.params_m == 1.0
    assert row.machine == "hand-made cpu" and row.best_batch == 16 and row.infer_ms_best == 60.0
    assert table[table.model == "unet"].infer_ms_b1.isna().all() and table.error.notna().sum() == 2
    head = speed.headline(table, "gpu", "unet3_compact")
    assert head.precision == "mixed_float16" and head.infer_ms_b1 == 1.5  # the GPU default variant
    claims = speed.claims_table(table)
    assert list(claims["claim (quoted)"]) == ["in under 50 milliseconds per slice using a GPU"] * 2 + [
        "The received results from GPU performed 3.0 times faster when compared to CPU"]  # 003, Sec. VII
    assert list(claims["model"]) == ["unet3_compact"] * 2 + ["unet22"]  # the 3.0x claim is Sarada's U-Net
    assert "Sarada" in claims.source[2] and "Ainala" in claims.source[0]
    assert "1.5 ms per slice" in claims.ours[0] and "10.0x" in claims.ours[2]
    shown = speed.display_table(table)
    assert len(shown) == 9 and shown["inference ms/image, batch 1 [IQR]"][0] == "120.0 [108.0, 132.0]"
    assert shown["best batch"][0] == "16" and "out of memory" in shown["note"][2]
    fig = speed.speed_figure(table)
    assert len(fig.axes) == 3 and fig.axes[0].get_yticklabels()[0].get_text() == "nasnet_decoder"
    fig.savefig(tmp_path / "speed.png")
    assert speed.speed_table([]).empty and len(speed.speed_figure(speed.speed_table([])).axes) == 0

    broken = tmp_path / "broken.json"
    broken.write_text('{"results": []}', encoding="utf-8")
    with pytest.raises(ValueError, match="broken.json: not a lungseg benchmark file"):
        speed.speed_table([broken])


def test_rows_measured_on_an_older_model_get_a_note(tmp_path):
    from lungseg_lib.report.profile_runs import registry

    doc = hand_made("cpu")
    today = int(registry().set_index("name").loc["unet3_compact", "params"])
    doc["results"][1]["params"] = today  # unet3_compact as registered today; nasnet_decoder at 1 M
    path = tmp_path / "cpu.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    shown = speed.display_table(speed.speed_table([path]))
    notes = dict(zip(shown["model"], shown["note"]))
    assert notes["unet3_compact"] == "" and notes["unet"].startswith("killed by signal 9")
    assert "earlier version of the model (1.00 M parameters" in notes["nasnet_decoder"]


def test_summarize_and_rates():
    s = measure.summarize([4.0, 1.0, 3.0, 2.0])
    assert (s["median"], s["min"], s["max"], s["n"]) == (2.5, 1.0, 4.0, 4)
    r = measure._rate({**s, "calls_per_repeat": 1}, images=4)  # seconds per call -> images/s
    assert r["median"] == 4 / 2.5 and r["max"] == 4.0 and r["min"] == 1.0 and r["q1"] <= r["q3"]
    mask = measure.prediction_like_mask(64)
    from lungseg_lib.core.postprocess import keep_largest_components

    assert len(keep_largest_components(mask).removed_areas) >= 3  # blobs and speckle to clean


def _glued(nb: dict, key: str):
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            meta = out.get("metadata", {}).get("scrapbook", {})
            if meta.get("name") == key:
                return out["data"]["application/papermill.record/text/plain"]
    raise KeyError(key)


def test_notebook_runs_with_defaults_and_without_benchmarks(tmp_path):
    from lungseg_lib.notebooks import notebook_parameters, notebook_path, run_notebook

    assert set(notebook_parameters(notebook_path("speed"))) == {"bench_dir", "size", "figures_dir"}
    bench_dir = tmp_path / "bench"
    bench_dir.mkdir()
    (bench_dir / "cpu.json").write_text(json.dumps(hand_made("cpu")), encoding="utf-8")
    out = run_notebook("speed", tmp_path / "speed.ipynb",
                       {"bench_dir": str(bench_dir), "figures_dir": str(tmp_path / "fig")})
    nb = json.loads(out.read_text(encoding="utf-8"))
    assert "cpu.json (hand-made cpu" in _glued(nb, "speed_status")
    assert float(_glued(nb, "speed_cpu_unet3_compact_infer_ms")) == 10.0
    assert _glued(nb, "speed_gpu_unet3_compact_infer_ms") == "nan"
    assert (tmp_path / "fig" / "speed.png").exists() and (tmp_path / "fig" / "speed.pdf").exists()

    shutil.rmtree(bench_dir)  # no benchmark at all: a message, not a crash
    out = run_notebook("speed", tmp_path / "speed_empty.ipynb",
                       {"bench_dir": str(bench_dir), "figures_dir": str(tmp_path / "fig0")})
    assert "No benchmark yet" in _glued(json.loads(out.read_text(encoding="utf-8")), "speed_status")


def test_default_model_timing_reads_the_record_or_says_it_is_missing(tmp_path):
    import math

    from lungseg_lib.report.speed import default_model_timing

    missing = default_model_timing(tmp_path / "timing.json")
    assert math.isnan(missing["default_segment_ms"]) and "not measured yet" in missing["default_timing"]
    record = {"images": 2, "calls": 6, "image_size": 256,
              "segment_ms": {"median": 83.0, "q1": 80.0, "q3": 90.0, "n": 6},
              "network_ms": {"median": 61.0, "q1": 60.0, "q3": 62.0, "n": 10},
              "machine": {"cpu_model": "AMD EPYC", "usable_cpus": 2, "load_average_start": [0.2, 0, 0],
                          "load_average_end": [1.1, 0, 0]}}
    (tmp_path / "timing.json").write_text(json.dumps(record), encoding="utf-8")
    found = default_model_timing(tmp_path / "timing.json")
    assert found["default_segment_ms"] == 83.0 and found["default_network_ms"] == 61.0
    assert "83 ms per image" in found["default_timing"] and "2 usable cores" in found["default_timing"]
    assert found["default_timing"].endswith("End to end, that is under the target of 100 ms per image on 2 cores.")
    record["segment_ms"]["median"], record["machine"]["usable_cpus"] = 120.0, 4
    (tmp_path / "timing.json").write_text(json.dumps(record), encoding="utf-8")
    assert default_model_timing(tmp_path / "timing.json")["default_timing"].endswith(
        "over the target of 100 ms per image on 2 cores, but measured with 4 usable cores, not 2.")


@pytest.mark.parametrize("low, high, verdict", [(0.968, 0.975, "reaches"), (0.955, 0.966, "falls short of"),
                                                (0.960, 0.972, "cannot be told apart from")])
def test_default_model_accuracy_against_its_target(tmp_path, low, high, verdict):
    import math

    from lungseg_lib.report.speed import default_model_accuracy

    missing = default_model_accuracy(tmp_path)
    assert math.isnan(missing["default_test_dice"]) and "not shipped yet" in missing["default_accuracy"]
    metrics = {"model": "unet3_compact", "image_size": 256, "split": "test", "n_images": 141,
               "post": {"dice": {"mean": (low + high) / 2, "ci_low": low, "ci_high": high}}}
    (tmp_path / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    (tmp_path / "model.keras").write_bytes(b"0" * 1_500_000)
    found = default_model_accuracy(tmp_path)
    assert found["default_mb"] == 1.5 and found["default_test_low"] == low
    assert f"which {verdict} the target of 0.967" in found["default_accuracy"]
    assert "141 images of the test split" in found["default_accuracy"] and "1.50 MB" in found["default_accuracy"]
