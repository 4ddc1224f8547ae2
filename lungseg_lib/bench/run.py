"""``lungseg bench``: the parent process. It checks the settings, describes the machine, runs one
fresh worker process per (model, size, precision, XLA) combination (:mod:`lungseg_lib.bench.measure`)
and writes the JSON file after every one."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from ..environment import cgroup_cpu_quota, cpu_model, git_commit, memory_gb, usable_cpus
from . import DEFAULT_INFER_BATCHES, MIN_REPEAT_S, SCHEMA

# ----------------------------------------------------------------------------- machine

def _nvidia_smi() -> list[dict]:
    try:
        text = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                               "--format=csv,noheader"], capture_output=True, text=True, encoding="utf-8", errors="replace",
                              timeout=20, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    rows = [[v.strip() for v in line.split(",")] for line in text.strip().splitlines() if line.strip()]
    return [{"name": r[0], "driver": r[1], "memory": r[2]} for r in rows if len(r) == 3]


def cpu_busy(seconds: float = 1.0) -> float | None:
    """Fraction of all CPUs' time spent busy over the next ``seconds`` (from /proc/stat):
    how much else is running on the machine right now (0 = idle)."""
    def sample():
        values = [int(v) for v in Path("/proc/stat").read_text(encoding="utf-8").splitlines()[0].split()[1:]]
        idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
        return sum(values[:8]), idle

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return round(1 - (idle1 - idle0) / max(1, total1 - total0), 3)


def machine_info() -> dict:
    """The machine, as far as the parent process can tell without importing TensorFlow."""
    gpus = _nvidia_smi()
    return {
        "cpu_model": cpu_model(), "logical_cpus": os.cpu_count(), "usable_cpus": usable_cpus(),
        "cgroup_cpu_quota": cgroup_cpu_quota(), "memory_gb": memory_gb(),
        "gpu": gpus[0]["name"] if gpus else None, "gpus": gpus,
        "os": platform.platform(), "python": platform.python_version(), "git_commit": git_commit(),
        "load_average_start": [round(v, 2) for v in os.getloadavg()],
        "cpu_busy_start": cpu_busy(),
    }

# ----------------------------------------------------------------------------- the benchmark

def _variants(setting, device: str, what: str) -> list[bool]:
    table = {"off": [False], "on": [True], "both": [False, True],
             "auto": [device == "gpu"], False: [False], True: [True]}
    if setting not in table or (what == "jit_compile" and setting == "auto"):
        valid = "off, on, both" + (", auto" if what == "mixed_precision" else "")
        raise ValueError(f"{what}: {setting!r} is not one of {valid}")
    return table[setting]


def _checked(models, sizes, batch, device, repeats, warmup, min_repeat_s, infer_batches) -> tuple:
    """The models, sizes and inference batches to run, every setting checked first (a wrong one
    is a ValueError, or a KeyError listing the valid model names)."""
    from ..core.models import check_input_shape, get_spec, list_models

    if device not in ("cpu", "gpu"):
        raise ValueError(f"--device: {device!r} is not cpu or gpu")
    models = list(models) if models else list_models()
    for name in models:
        get_spec(name)  # KeyError listing the valid names
    sizes = [int(s) for s in sizes]
    for name in models:
        for s in sizes:
            check_input_shape(name, (s, s, 1))
    if repeats < 1 or warmup < 1 or min_repeat_s < 0:
        raise ValueError("repeats and warmup must be >= 1 and min_repeat_s >= 0")
    if batch is not None and batch < 1:
        raise ValueError(f"--batch must be >= 1, got {batch}")
    infer_batches = sorted(set(int(b) for b in (infer_batches or DEFAULT_INFER_BATCHES[device])) | {1})
    if infer_batches[0] < 1:
        raise ValueError(f"infer batches must be >= 1, got {infer_batches}")
    return models, sizes, infer_batches


def _new_doc(device: str, label: str | None, command: str | None, settings: dict, log) -> dict:
    """The benchmark file before its first result: schema, machine, settings."""
    machine = machine_info()
    machine["label"] = label or (f"GPU: {machine['gpu']}" if device == "gpu" and machine["gpu"] else
                                 f"CPU: {machine['cpu_model']}, {machine['usable_cpus']} cores")
    if (machine["cpu_busy_start"] or 0) > 0.25:
        log(f"warning: the CPUs are {100 * machine['cpu_busy_start']:.0f} % busy with other work "
            f"(load average {machine['load_average_start'][0]} on {machine['usable_cpus']} cores): "
            "the timings will be too slow")
    return {"schema": SCHEMA, "machine": machine, "device": {"kind": device, "name": None},
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": command or "lungseg_lib.bench.run.run_bench(...)", "settings": settings,
            "complete": False, "results": []}


def _add_row(doc: dict, row: dict, label: str | None) -> None:
    """Add a worker's row; the first one also names the software and (on a GPU) the device."""
    if "fatal" in row:
        raise ValueError(row["fatal"])
    machine = doc["machine"]
    versions = row.pop("versions", None)
    if versions:
        machine.setdefault("software", versions)
        doc["device"]["name"] = doc["device"]["name"] or row["device_name"]
        if doc["device"]["kind"] == "gpu" and not machine["gpu"]:  # no nvidia-smi: TensorFlow's name
            machine["gpu"] = row["device_name"]
            machine["label"] = label or f"GPU: {row['device_name']}"
    doc["results"].append(row)


def run_bench(models=None, sizes=(256,), batch: int | None = None, device: str = "cpu",
              repeats: int = 5, warmup: int = 2, min_repeat_s: float = MIN_REPEAT_S,
              infer_batches=None, mixed_precision="auto", jit_compile="off",
              pipeline_images: int = 64, out=None, label: str | None = None,
              timeout_s: float | None = None, command: str | None = None, log=print) -> dict:
    """Benchmark ``models`` (default: all) at ``sizes``; write the JSON to ``out`` (atomically,
    after every model, with ``"complete": false`` until the last one) and return it.

    ``batch``: the training batch (default: each model's paper recipe). ``infer_batches``:
    the batches tried for inference throughput (default 1,4,16 on a CPU, 1,8,32,128 on a
    GPU; in increasing order, stopping after the first one that improves the best ms per
    image by less than 10 %).
    ``mixed_precision``: auto (on for a GPU), on, off or both; ``jit_compile``: off, on or
    both. A model whose worker fails gets a row with an ``error`` and no numbers; a problem
    with the whole run (no GPU for ``device="gpu"``) raises ValueError.
    """
    models, sizes, infer_batches = _checked(models, sizes, batch, device, repeats, warmup, min_repeat_s,
                                            infer_batches)
    mp_variants = _variants(mixed_precision, device, "mixed_precision")
    jit_variants = _variants(jit_compile, device, "jit_compile")
    settings = {"models": models, "sizes": sizes, "batch": batch, "device": device,
                "repeats": repeats, "warmup": warmup, "min_repeat_s": min_repeat_s,
                "infer_batches": infer_batches, "mixed_precision": mixed_precision,
                "jit_compile": jit_compile, "pipeline_images": pipeline_images,
                "pipeline": "pipeline.train_dataset with augmentation, in-memory images",
                "isolation": "one fresh Python process per row"}
    doc = _new_doc(device, label, command, settings, log)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
    if device == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = "-1"
    t0 = time.perf_counter()
    jobs = [(m, s, mp, jit) for m in models for s in sizes for mp in mp_variants for jit in jit_variants]
    for i, (name, size, mp, jit) in enumerate(jobs, 1):
        task = {"model": name, "size": size, "batch": batch, "device": device,
                "mixed_precision": mp, "jit_compile": jit, "repeats": repeats, "warmup": warmup,
                "min_repeat_s": min_repeat_s, "infer_batches": infer_batches,
                "pipeline_images": pipeline_images}
        _add_row(doc, _run_worker(task, env, timeout_s), label)
        log(f"[{i}/{len(jobs)}] " + result_line(doc["results"][-1]))
        if out:
            _write(out, doc)
    doc["complete"] = True
    doc["seconds"] = round(time.perf_counter() - t0, 1)
    doc["machine"]["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
    doc["machine"]["cpu_busy_end"] = cpu_busy()
    if out:
        _write(out, doc)
    return doc


def _run_worker(task: dict, env: dict, timeout_s: float | None) -> dict:
    """Run :func:`lungseg_lib.bench.measure.measure` for ``task`` in a fresh process; a failure becomes an error row."""
    head = {k: task[k] for k in ("model", "size", "batch", "device")}
    head.update(mixed_precision="mixed_float16" if task["mixed_precision"] else "float32",
                jit_compile=bool(task["jit_compile"]))
    with tempfile.TemporaryDirectory(prefix="lungseg-bench-") as tmp:
        result_path = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "lungseg_lib.bench", "--worker", json.dumps(task), str(result_path)]
        try:
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return {**head, "error": f"timed out after {timeout_s} s"}
        if result_path.exists() and proc.returncode in (0, 3):
            return json.loads(result_path.read_text(encoding="utf-8"))
        lines = [ln for ln in (proc.stderr or "").strip().splitlines() if ln.strip()]
        why = lines[-1] if lines else f"exit code {proc.returncode}"
        if proc.returncode < 0:
            why = f"killed by signal {-proc.returncode} (out of memory?); last output: {why}"
        return {**head, "error": why}


def _write(path, doc: dict) -> None:
    from ..files import atomic_write_text

    atomic_write_text(path, json.dumps(doc, indent=1, sort_keys=False) + "\n")


def result_line(row: dict) -> str:
    """One line per result row, for the terminal."""
    what = f"{row['model']} {row['size']}px {row['mixed_precision']}{' XLA' if row['jit_compile'] else ''}"
    if row.get("error"):
        return f"{what}: ERROR {row['error']}"
    return (f"{what}: train {row['train_images_per_s']['median']:.2f} img/s (batch {row['batch']}), "
            f"infer {row['infer_ms_batch1']['median']:.2f} ms/img at batch 1, "
            f"{row['infer_ms_best_batch']['median']:.2f} at batch {row['best_batch']}, "
            f"peak {row['peak_memory_mb']:.0f} MB ({row['memory_kind']}), "
            f"pipeline {row['pipeline_images_per_s']['median']:.0f} img/s, "
            f"post {row['post_ms']['median']:.3f} ms  [{row['worker_seconds']:.0f} s]")
