"""Speed benchmarks: training throughput, inference latency, memory, input pipeline, post-processing.

    run_bench(models=None, sizes=(256,), batch=None, device="cpu", repeats=5, ..., out=FILE)
    speed_table(files) -> DataFrame; speed_figure(table, size=256) -> Figure
    PAPER_CLAIMS: the related papers' speed claims, quoted

``lungseg bench`` calls :func:`run_bench`. Every (model, size, precision, XLA) combination
is measured in its own fresh Python process (``python -m lungseg_lib.bench --worker``), so
one model's memory, graphs and thread pools never affect the next, and the process's peak
memory is that model's. In each worker, in this order:

1. **input pipeline**: :func:`lungseg_lib.pipeline.train_dataset` (shuffle, augmentation,
   batching, prefetch) over in-memory synthetic images of the size, iterated without a
   model: images/s it can deliver;
2. **post-processing**: :func:`lungseg_lib.core.postprocess.keep_largest_components` on a
   prediction-like binary mask of the size (two lungs, three false-positive blobs, speckle):
   ms per mask;
3. **inference**: ``model.predict_on_batch`` (``training=False``, numpy in and out, so the
   time includes the copies to and from a GPU) at batch 1 and at each of
   ``infer_batches`` in increasing order until one gains less than 10 % per image: ms per
   image; the best batch is the one with the lowest median;
4. **training**: ``model.train_on_batch`` of the model compiled as the training engine
   compiles it (``build_compiled_model(resolve_config(model, "paper", {image_size, batch_size}))``,
   the paper's loss and optimizer) on a fixed batch: images/s of the model alone.

Every measurement starts with ``warmup`` untimed calls (the first traces the graph: about
27 s for the NASNet-decoder on a CPU; its time is kept as ``first_call_s``), then
``repeats`` timed repeats of ``k`` calls each, ``k`` chosen from the last warm-up call so
that a repeat lasts at least ``min_repeat_s`` (one call for slow models, many for fast
ones). Each statistic is the median, quartiles, min and max over the repeats.

**Memory.** On a GPU: TensorFlow's allocator peak (``tf.config.experimental.
get_memory_info("GPU:0")["peak"]``, reset before each phase). On a CPU: the worker's
resident-set high-water mark (``VmHWM`` of ``/proc/self/status``), reset to the current
resident size before each phase by writing ``5`` to ``/proc/self/clear_refs``; it includes
the TensorFlow runtime and the data, whose share is ``host_baseline_mb`` (the resident size
just before the model is built). Where ``clear_refs`` cannot be written, the peak is the
process's lifetime high-water mark (``memory_method`` says which).

**Devices.** ``device="cpu"`` hides every GPU from the workers (``CUDA_VISIBLE_DEVICES=-1``);
``device="gpu"`` requires one and uses ``GPU:0`` with memory growth. Mixed precision
(``mixed_float16``, Keras wraps the optimizer in a loss-scale optimizer) is on by default on a
GPU and off on a CPU; XLA (``jit_compile``) is off by default and set explicitly in both
cases (Keras' own default, ``"auto"``, would switch it on for training on a GPU).
"""

from __future__ import annotations

import gc
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from . import papers as _papers
from .environment import cgroup_cpu_quota, cpu_model, git_commit, memory_gb, usable_cpus

#: The related papers' speed claims, quoted verbatim (they are claims, not measurements of
#: ours); ``paper`` is the key of the paper in :data:`lungseg_lib.papers.PAPERS`.
PAPER_CLAIMS = {
    "infer_ms_per_slice_gpu": {
        "value": 50.0, "relation": "<", "unit": "ms per slice", "device": "GPU",
        "model": "unet3_compact", "paper": "ainala2023",
        "source": _papers.source("ainala2023") + ", abstract",
        "quote": "in under 50 milliseconds per slice using a GPU",
        "quantity": "inference time per 2-D slice on an unnamed GPU"},
    "gpu_training_speedup_over_cpu": {
        "value": 3.0, "relation": "~", "unit": "x", "device": "GPU vs CPU",
        "model": "unet22", "paper": "sarada2019",
        "source": _papers.source("sarada2019") + ", Sec. VII",
        "quote": "The received results from GPU performed 3.0 times faster when compared to CPU",
        "quantity": ("the time of a whole training run: 'almost forty-five minutes' on 'a single CPU "
                     "(8 cores of Intel i7)' against an unnamed single GPU; ours: training images "
                     "per second, GPU over CPU")},
}

DEFAULT_INFER_BATCHES = {"cpu": (1, 4, 16), "gpu": (1, 8, 32, 128)}
MIN_BATCH_GAIN = 0.10  # a larger inference batch is tried only while each one gains this much per image
STAT_KEYS = ("median", "q1", "q3", "min", "max", "n")
RESULT_FIELDS = (
    "model", "size", "batch", "device", "device_name", "mixed_precision", "jit_compile", "params",
    "train_images_per_s", "train_first_call_s", "infer_ms_batch1", "infer_ms_best_batch",
    "best_batch", "infer_ms_by_batch", "infer_first_call_s", "peak_memory_mb", "memory_kind",
    "memory_method", "peak_memory_train_mb", "peak_memory_infer_mb", "host_peak_mb",
    "host_baseline_mb", "post_ms", "pipeline_images_per_s", "worker_seconds")
SCHEMA = "lungseg-bench/1"


# ----------------------------------------------------------------------------- statistics

def summarize(values) -> dict:
    """Median, quartiles, min, max and count of a list of numbers (floats, for JSON)."""
    v = np.asarray(list(values), float)
    if v.size == 0:
        raise ValueError("no values to summarize")
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    return {"median": float(med), "q1": float(q1), "q3": float(q3), "min": float(v.min()),
            "max": float(v.max()), "n": int(v.size)}


def _time_repeats(call, per_call: float, repeats: int, warmup: int, min_repeat_s: float,
                  warmup_s: float = 0.0) -> dict:
    """Time ``call()``: ``warmup`` untimed calls (and more until ``warmup_s`` seconds have
    passed after the first), then ``repeats`` repeats of ``k`` calls.

    Returns the statistics of ``per_call * (seconds per call)`` over the repeats (so
    ``per_call`` converts to the unit wanted), with ``calls_per_repeat`` (``k``: enough
    calls for ``min_repeat_s``, judged from the warm-up calls after the first) and
    ``first_call_s`` (the first call, which includes tracing).
    """
    t0 = time.perf_counter()
    call()
    first = time.perf_counter() - t0
    n, spent = 0, 0.0
    while n < warmup - 1 or spent < warmup_s:
        t0 = time.perf_counter()
        call()
        spent += time.perf_counter() - t0
        n += 1
    per = spent / n if n else first
    k = max(1, min(10_000, math.ceil(min_repeat_s / max(per, 1e-7))))
    values = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(k):
            call()
        values.append(per_call * (time.perf_counter() - t0) / k)
    stats = summarize(values)
    stats.update(calls_per_repeat=k, first_call_s=float(first))
    return stats


# ----------------------------------------------------------------------------- memory

def _status_kb(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return float(line.split()[1])
    except OSError:
        pass
    return None


class _HostMemory:
    """Peak resident memory of this process per phase (VmHWM, reset via clear_refs)."""

    def __init__(self):
        self.method = "VmHWM reset per phase (/proc/self/clear_refs)" if self._reset() else (
            "VmHWM of the whole worker process" if _status_kb("VmHWM") is not None else
            "ru_maxrss of the whole worker process")

    @staticmethod
    def _reset() -> bool:
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            return True
        except OSError:
            return False

    def start(self) -> None:
        self._reset()

    @staticmethod
    def peak_mb() -> float:
        kb = _status_kb("VmHWM")
        if kb is None:
            import resource

            kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
        return kb / 1024

    @staticmethod
    def current_mb() -> float | None:
        kb = _status_kb("VmRSS")
        return None if kb is None else kb / 1024


class _GpuMemory:
    """TensorFlow's allocator peak on GPU:0 per phase."""

    method = "tf.config.experimental.get_memory_info('GPU:0')['peak'], reset per phase"

    def start(self) -> None:
        import tensorflow as tf

        try:
            tf.config.experimental.reset_memory_stats("GPU:0")
        except (ValueError, RuntimeError):  # no reset here: the peak is since the process started
            self.method = "tf.config.experimental.get_memory_info('GPU:0')['peak'] since the start"

    @staticmethod
    def peak_mb() -> float:
        import tensorflow as tf

        return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20


# ----------------------------------------------------------------------------- inputs

def prediction_like_mask(size: int, seed: int = 0) -> np.ndarray:
    """A binary mask like a raw network prediction: two lungs, three false-positive blobs
    outside them and about 0.1 % salt speckle (what post-processing has to clean)."""
    from .data.synthetic import synthetic_pair

    rng = np.random.default_rng(seed)
    _, mask = synthetic_pair(size, rng)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for cx, cy in ((0.07, 0.3), (0.93, 0.6), (0.5, 0.95)):
        mask |= (xx - cx) ** 2 + (yy - cy) ** 2 <= 0.03 ** 2
    mask |= rng.random((size, size)) < 0.001
    return mask


def _images(size: int, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` synthetic (image, mask) pairs as float32 (n, size, size, 1) arrays."""
    from .data.synthetic import synthetic_pair

    rng = np.random.default_rng(seed)
    pairs = [synthetic_pair(size, rng, distractors=1) for _ in range(min(n, 16))]
    x = np.stack([p[0] for p in pairs]).astype(np.float32)[..., None] / 255.0
    y = np.stack([p[1] for p in pairs]).astype(np.float32)[..., None]
    reps = math.ceil(n / len(pairs))
    return np.tile(x, (reps, 1, 1, 1))[:n], np.tile(y, (reps, 1, 1, 1))[:n]


# ----------------------------------------------------------------------------- one worker

def measure(task: dict) -> dict:
    """Measure one model in this process (the worker's job; see the module docstring).

    ``task``: model, size, batch (None: the paper recipe's), device ("cpu"/"gpu"),
    mixed_precision (bool), jit_compile (bool), repeats, warmup, min_repeat_s,
    infer_batches, pipeline_images.
    """
    t_start = time.perf_counter()
    import keras
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if task["device"] == "gpu":
        if not gpus:
            raise _Fatal("--device gpu: no GPU is visible to TensorFlow "
                         f"(tensorflow {tf.__version__}; a CPU-only build or no CUDA driver)")
        for g in gpus:
            tf.config.experimental.set_memory_growth(g, True)
        details = tf.config.experimental.get_device_details(gpus[0])
        device_name = details.get("device_name", "GPU")
        memory = _GpuMemory()
    else:
        if gpus:  # only when run in-process on a GPU machine
            tf.config.set_visible_devices([], "GPU")
        device_name = f"CPU: {cpu_model()}, {usable_cpus()} cores"
        memory = _HostMemory()
    host = _HostMemory()

    from .engine.config import resolve_config
    from .core.models import count_params
    from .engine.pipeline import train_dataset
    from .core.postprocess import keep_largest_components
    from .engine.training import build_compiled_model

    keras.utils.set_random_seed(0)
    name, size = task["model"], task["size"]
    overrides = {"image_size": size}
    if task.get("batch"):
        overrides["batch_size"] = int(task["batch"])
    config = resolve_config(name, "paper", overrides)
    batch = config.batch_size
    R, W, min_s = int(task["repeats"]), int(task["warmup"]), float(task["min_repeat_s"])
    infer_batches = sorted(set(int(b) for b in task["infer_batches"]) | {1})
    x, y = _images(size, max(batch, max(infer_batches)))
    out = {"model": name, "size": size, "batch": batch, "device": task["device"],
           "device_name": device_name}

    # 1. input pipeline alone
    n_pipe = max(int(task["pipeline_images"]), batch)
    px, py = _images(size, n_pipe, seed=1)
    it = iter(train_dataset(px, py, batch, seed=0, start_epoch=0, epochs=1_000_000))
    # warm up for 5 repeats' time: the first repeat must not just empty the prefetch buffer
    stats = _time_repeats(lambda: next(it), 1.0, R, W + 1, min_s, warmup_s=5 * min_s)
    out["pipeline_images_per_s"] = _rate(stats, batch)
    del it  # stops the pipeline's threads: they must not compete with the model below
    gc.collect()

    # 2. post-processing alone
    mask = prediction_like_mask(size)
    stats = _time_repeats(lambda: keep_largest_components(mask, k=2), 1000.0, R, W, min_s)
    out["post_ms"] = _strip(stats)

    # 3. model: build under the precision policy, XLA set explicitly
    policy = "mixed_float16" if task["mixed_precision"] else "float32"
    keras.mixed_precision.set_global_policy(policy)
    out["host_baseline_mb"] = host.current_mb()
    memory.start()
    model = build_compiled_model(config)
    model.jit_compile = bool(task["jit_compile"])
    out.update(mixed_precision=policy, jit_compile=bool(model.jit_compile), params=count_params(model),
               memory_kind="gpu" if task["device"] == "gpu" else "host", memory_method=memory.method)

    # 4. inference at batch 1 and the candidate batches (ms per image)
    by_batch, first = {}, None
    for b in infer_batches:
        xb = x[:b]
        try:
            stats = _time_repeats(lambda: model.predict_on_batch(xb), 1000.0 / b, R, W, min_s)
        except tf.errors.ResourceExhaustedError:
            by_batch[str(b)] = "out of memory"
            break
        first = stats["first_call_s"] if first is None else first
        by_batch[str(b)] = _strip(stats)
        medians = [s["median"] for s in by_batch.values() if isinstance(s, dict)]
        if len(medians) >= 2 and stats["median"] > (1 - MIN_BATCH_GAIN) * min(medians[:-1]):
            break  # this batch gained < 10 % per image: larger ones are not worth their time
    timed = {int(b): s for b, s in by_batch.items() if isinstance(s, dict)}
    best = min(timed, key=lambda b: timed[b]["median"])
    out.update(infer_ms_batch1=timed[1], infer_ms_best_batch=timed[best], best_batch=best,
               infer_ms_by_batch=by_batch, infer_first_call_s=first,
               peak_memory_infer_mb=memory.peak_mb())

    # 5. training: the compiled model's own step on a fixed batch (images/s)
    memory.start()
    xb, yb = x[:batch], y[:batch]
    stats = _time_repeats(lambda: model.train_on_batch(xb, yb), 1.0, R, max(W, 2), min_s)
    out.update(train_images_per_s=_rate(stats, batch), train_first_call_s=stats["first_call_s"],
               peak_memory_train_mb=memory.peak_mb())
    out["peak_memory_mb"] = max(out["peak_memory_infer_mb"], out["peak_memory_train_mb"])
    out["host_peak_mb"] = host.peak_mb() if task["device"] == "gpu" else out["peak_memory_mb"]
    out["worker_seconds"] = time.perf_counter() - t_start
    out["versions"] = {"tensorflow": tf.__version__, "keras": keras.__version__,
                       "numpy": np.__version__, "python": platform.python_version()}
    return out


def _strip(stats: dict) -> dict:
    return {k: stats[k] for k in (*STAT_KEYS, "calls_per_repeat")}


def _rate(stats: dict, images: int) -> dict:
    """Seconds per call -> images per second (quartiles swap: fast calls are high rates)."""
    r = {"median": images / stats["median"], "q1": images / stats["q3"], "q3": images / stats["q1"],
         "min": images / stats["max"], "max": images / stats["min"], "n": stats["n"],
         "calls_per_repeat": stats["calls_per_repeat"]}
    return {k: (float(v) if k not in ("n", "calls_per_repeat") else v) for k, v in r.items()}


class _Fatal(RuntimeError):
    """A problem that stops the whole benchmark (not just one model), e.g. no GPU."""


def _worker_main(task_json: str, result_path: str) -> int:
    task = json.loads(task_json)
    try:
        result = measure(task)
    except _Fatal as exc:
        Path(result_path).write_text(json.dumps({"fatal": str(exc)}))
        return 3
    Path(result_path).write_text(json.dumps(result))
    return 0


# ----------------------------------------------------------------------------- machine

def _nvidia_smi() -> list[dict]:
    try:
        text = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                               "--format=csv,noheader"], capture_output=True, text=True,
                              timeout=20, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    rows = [[v.strip() for v in line.split(",")] for line in text.strip().splitlines() if line.strip()]
    return [{"name": r[0], "driver": r[1], "memory": r[2]} for r in rows if len(r) == 3]


def cpu_busy(seconds: float = 1.0) -> float | None:
    """Fraction of all CPUs' time spent busy over the next ``seconds`` (from /proc/stat):
    how much else is running on the machine right now (0 = idle)."""
    def sample():
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
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


def run_bench(models=None, sizes=(256,), batch: int | None = None, device: str = "cpu",
              repeats: int = 5, warmup: int = 2, min_repeat_s: float = 0.2,
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
    from .core.models import check_input_shape, get_spec, list_models

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
    mp_variants = _variants(mixed_precision, device, "mixed_precision")
    jit_variants = _variants(jit_compile, device, "jit_compile")

    machine = machine_info()
    machine["label"] = label or (f"GPU: {machine['gpu']}" if device == "gpu" and machine["gpu"] else
                                 f"CPU: {machine['cpu_model']}, {machine['usable_cpus']} cores")
    settings = {"models": models, "sizes": sizes, "batch": batch, "device": device,
                "repeats": repeats, "warmup": warmup, "min_repeat_s": min_repeat_s,
                "infer_batches": infer_batches, "mixed_precision": mixed_precision,
                "jit_compile": jit_compile, "pipeline_images": pipeline_images,
                "pipeline": "pipeline.train_dataset with augmentation, in-memory images",
                "isolation": "one fresh Python process per row"}
    doc = {"schema": SCHEMA, "machine": machine,
           "device": {"kind": device, "name": None},
           "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "command": command or "lungseg_lib.bench.run_bench(...)", "settings": settings,
           "paper_claims": PAPER_CLAIMS, "complete": False, "results": []}
    if (machine["cpu_busy_start"] or 0) > 0.25:
        log(f"warning: the CPUs are {100 * machine['cpu_busy_start']:.0f} % busy with other work "
            f"(load average {machine['load_average_start'][0]} on {machine['usable_cpus']} cores): "
            "the timings will be too slow")

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
        row = _run_worker(task, env, timeout_s)
        if "fatal" in row:
            raise ValueError(row["fatal"])
        versions = row.pop("versions", None)
        if versions:
            machine.setdefault("software", versions)
            doc["device"]["name"] = doc["device"]["name"] or row["device_name"]
            if device == "gpu" and not machine["gpu"]:  # no nvidia-smi: TensorFlow's name
                machine["gpu"] = row["device_name"]
                machine["label"] = label or f"GPU: {row['device_name']}"
        doc["results"].append(row)
        log(f"[{i}/{len(jobs)}] " + result_line(row))
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
    """Run :func:`measure` for ``task`` in a fresh process; a failure becomes an error row."""
    head = {k: task[k] for k in ("model", "size", "batch", "device")}
    head.update(mixed_precision="mixed_float16" if task["mixed_precision"] else "float32",
                jit_compile=bool(task["jit_compile"]))
    with tempfile.TemporaryDirectory(prefix="lungseg-bench-") as tmp:
        result_path = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "lungseg_lib.bench", "--worker", json.dumps(task), str(result_path)]
        try:
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return {**head, "error": f"timed out after {timeout_s} s"}
        if result_path.exists() and proc.returncode in (0, 3):
            return json.loads(result_path.read_text())
        lines = [ln for ln in (proc.stderr or "").strip().splitlines() if ln.strip()]
        why = lines[-1] if lines else f"exit code {proc.returncode}"
        if proc.returncode < 0:
            why = f"killed by signal {-proc.returncode} (out of memory?); last output: {why}"
        return {**head, "error": why}


def _write(path, doc: dict) -> None:
    from .files import atomic_write_text

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


# ----------------------------------------------------------------------------- reading

def load_bench(path) -> dict:
    """Read one benchmark JSON, with an error naming the file when it is not one."""
    from .files import read_json

    doc = read_json(path)
    missing = [k for k in ("machine", "device", "results", "settings") if k not in doc]
    if missing:
        raise ValueError(f"{path}: not a lungseg benchmark file (no {', '.join(missing)})")
    return doc


TABLE_COLUMNS = (
    "machine", "device", "model", "size", "batch", "precision", "xla", "params_m",
    "infer_ms_b1", "infer_ms_b1_q1", "infer_ms_b1_q3", "best_batch", "infer_ms_best",
    "train_img_s", "train_img_s_q1", "train_img_s_q3", "train_first_call_s", "pipeline_img_s", "post_ms",
    "peak_memory_mb", "memory_kind", "repeats", "complete", "error", "file")


def speed_table(files) -> "pd.DataFrame":
    """One row per benchmark result in ``files`` (paths of benchmark JSONs), medians and
    quartiles of each measure; an empty table (with the columns) when there is none."""
    import pandas as pd

    rows = []
    for path in files:
        doc = load_bench(path)
        m = doc["machine"]
        for r in doc["results"]:
            row = {"machine": m.get("label") or m.get("cpu_model"), "device": doc["device"]["kind"],
                   "model": r["model"], "size": r["size"], "batch": r.get("batch"),
                   "precision": r.get("mixed_precision"), "xla": bool(r.get("jit_compile")),
                   "repeats": doc["settings"].get("repeats"), "complete": bool(doc.get("complete")),
                   "error": r.get("error"), "file": Path(path).name}
            if not r.get("error"):
                row.update(
                    params_m=r["params"] / 1e6,
                    infer_ms_b1=r["infer_ms_batch1"]["median"], infer_ms_b1_q1=r["infer_ms_batch1"]["q1"],
                    infer_ms_b1_q3=r["infer_ms_batch1"]["q3"], best_batch=r["best_batch"],
                    infer_ms_best=r["infer_ms_best_batch"]["median"],
                    train_first_call_s=r.get("train_first_call_s"),
                    train_img_s=r["train_images_per_s"]["median"],
                    train_img_s_q1=r["train_images_per_s"]["q1"], train_img_s_q3=r["train_images_per_s"]["q3"],
                    pipeline_img_s=r["pipeline_images_per_s"]["median"], post_ms=r["post_ms"]["median"],
                    peak_memory_mb=r["peak_memory_mb"], memory_kind=r["memory_kind"])
            rows.append(row)
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


def display_table(table) -> "pd.DataFrame":
    """The speed table for the book: readable headers, medians with [quartiles] as text,
    a ``note`` column with the error of a failed model (when there is one)."""
    import pandas as pd

    def spread(med, q1, q3, digits):
        return [f"{m:.{digits}f} [{a:.{digits}f}, {b:.{digits}f}]" if pd.notna(m) else ""
                for m, a, b in zip(table[med], table[q1], table[q3])]

    def num(col, digits):
        return [f"{v:.{digits}f}" if pd.notna(v) else "" for v in table[col]]

    t = pd.DataFrame({
        "machine": table["machine"], "model": table["model"], "px": table["size"],
        "precision": table["precision"], "XLA": table["xla"].map({True: "on", False: "off"}),
        "params (M)": num("params_m", 2),
        "inference ms/image, batch 1 [IQR]": spread("infer_ms_b1", "infer_ms_b1_q1", "infer_ms_b1_q3", 1),
        "best batch": [str(int(b)) if pd.notna(b) else "" for b in table["best_batch"]],
        "inference ms/image, best batch": num("infer_ms_best", 1),
        "training images/s [IQR]": spread("train_img_s", "train_img_s_q1", "train_img_s_q3", 2),
        "training batch": [str(int(b)) if pd.notna(b) else "" for b in table["batch"]],
        "input pipeline images/s": num("pipeline_img_s", 0),
        "post-processing ms/image": num("post_ms", 2),
        "peak memory (MB)": num("peak_memory_mb", 0), "memory": table["memory_kind"].fillna(""),
    })
    if table["error"].notna().any():
        t["note"] = table["error"].fillna("")
    return t.reset_index(drop=True)


def headline(table, device: str, model: str, size: int = 256):
    """The row that speaks for ``model`` on ``device`` at ``size`` (None if there is none):
    the default variant first (float32 on a CPU, mixed precision on a GPU, no XLA), then
    files in name order."""
    t = table[(table["device"] == device) & (table["model"] == model) & (table["size"] == size)
              & table["error"].isna()]
    if t.empty:
        return None
    default = "mixed_float16" if device == "gpu" else "float32"
    rank = (t["precision"] != default).astype(int) * 2 + t["xla"].astype(int)
    return t.assign(_rank=rank).sort_values(["_rank", "file"], kind="stable").iloc[0]


def claims_table(table, size: int = 256) -> "pd.DataFrame":
    """The related papers' claims (quoted) beside our measurement of the same quantity."""
    import pandas as pd

    rows = []
    claim = PAPER_CLAIMS["infer_ms_per_slice_gpu"]
    for device in ("gpu", "cpu"):
        r = headline(table, device, claim["model"], size)
        ours = (f"{r['infer_ms_b1']:.1f} ms per slice at batch 1, {r['infer_ms_best']:.2f} ms at batch "
                f"{int(r['best_batch'])} ({r['machine']}, {r['precision']})" if r is not None
                else f"no {device.upper()} benchmark yet")
        rows.append({"claim (quoted)": claim["quote"], "source": claim["source"],
                     "ours": f"{device.upper()}: {ours}", "model": claim["model"], "size": size,
                     "quantity": claim["quantity"]})
    claim = PAPER_CLAIMS["gpu_training_speedup_over_cpu"]
    g, c = (headline(table, d, claim["model"], size) for d in ("gpu", "cpu"))
    ours = (f"{g['train_img_s'] / c['train_img_s']:.1f}x ({g['train_img_s']:.0f} vs "
            f"{c['train_img_s']:.1f} images/s; {g['machine']} vs {c['machine']})"
            if g is not None and c is not None else "needs both a GPU and a CPU benchmark")
    rows.append({"claim (quoted)": claim["quote"], "source": claim["source"], "ours": ours,
                 "model": claim["model"], "size": size, "quantity": claim["quantity"]})
    return pd.DataFrame(rows)


def _variant_label(machine: str, precision: str, xla: bool) -> str:
    extra = [p for p, on in (("mixed fp16", precision == "mixed_float16"), ("XLA", xla)) if on]
    return machine + (f" ({', '.join(extra)})" if extra else "")


def speed_figure(table, size: int = 256):
    """Inference latency (batch 1), training throughput and peak memory per model at ``size``,
    one colour per machine/variant: medians as points with quartile whiskers on log axes, memory
    as bars; the related paper's 50 ms per slice claim as a dashed line."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    t = table[(table["size"] == size) & table["error"].isna()].copy()
    if t.empty:
        fig = Figure(figsize=(8, 1.2))
        fig.text(0.5, 0.5, f"No benchmark results at {size} x {size} yet.", ha="center", va="center")
        return fig
    t["variant"] = [_variant_label(m, p, x) for m, p, x in zip(t["machine"], t["precision"], t["xla"])]
    order = list(dict.fromkeys(t["model"]))  # the files' order: the registry's
    variants = list(dict.fromkeys(t["variant"]))
    colors = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860"]
    fig = Figure(figsize=(12, 0.4 * len(order) * max(1, len(variants) ** 0.5) + 2.2),
                 layout="constrained")
    axes = fig.subplots(1, 3, sharey=True)
    panels = [("infer_ms_b1", "infer_ms_b1_q1", "infer_ms_b1_q3", "inference, batch 1 (ms/image)"),
              ("train_img_s", "train_img_s_q1", "train_img_s_q3", "training (images/s)"),
              ("peak_memory_mb", None, None, "peak memory (MB)")]
    height = 0.8 / len(variants)
    ypos = np.arange(len(order))
    for ax, (col, lo, hi, title) in zip(axes, panels):
        for j, v in enumerate(variants):
            sub = t[t["variant"] == v].set_index("model").reindex(order)
            y = ypos - 0.4 + height * (j + 0.5)
            x = sub[col].to_numpy(float)
            color = colors[j % len(colors)]
            if lo:  # log axis: points and whiskers (bar lengths would depend on the axis limit)
                err = np.vstack([x - sub[lo].to_numpy(float), sub[hi].to_numpy(float) - x])
                ax.errorbar(x, y, xerr=err, fmt="o", ms=5, color=color, elinewidth=1, capsize=2, label=v)
            else:
                ax.barh(y, x, height=height, color=color, label=v)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
        if lo:
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.grid(axis="y", alpha=0.15)
    claim = PAPER_CLAIMS["infer_ms_per_slice_gpu"]
    axes[0].axvline(claim["value"], color="k", ls="--", lw=1,
                    label=f"claim: \"{claim['quote']}\" ({_papers.short(claim['paper'])})")
    axes[0].set_yticks(ypos, order)
    axes[0].set_ylim(len(order) - 0.5, -0.5)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(3, len(labels)), fontsize=8,
               frameon=False)
    fig.suptitle(f"Speed at {size} x {size} pixels (medians over repeats; whiskers: quartiles; "
                 "memory: host on a CPU, GPU on a GPU)", fontsize=10)
    return fig

if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        sys.exit(_worker_main(sys.argv[2], sys.argv[3]))
    sys.exit("usage: python -m lungseg_lib.bench --worker TASK_JSON RESULT_PATH (use `lungseg bench`)")
