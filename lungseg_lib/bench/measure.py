"""One benchmark worker: :func:`measure` times one model in this (fresh) process, phase by
phase (see :mod:`lungseg_lib.bench`), with the statistics, memory probes and inputs it uses."""

from __future__ import annotations

import gc
import json
import math
import time
from pathlib import Path

import numpy as np

from ..environment import cpu_model, ml_versions, usable_cpus
from . import MIN_BATCH_GAIN, STAT_KEYS

# ----------------------------------------------------------------------------- statistics

def summarize(values) -> dict:
    """Median, quartiles, min, max and count of a list of numbers (floats, for JSON)."""
    v = np.asarray(list(values), float)
    if v.size == 0:
        raise ValueError("no values to summarize")
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    return {"median": float(med), "q1": float(q1), "q3": float(q3), "min": float(v.min()),
            "max": float(v.max()), "n": int(v.size)}


def time_repeats(call, per_call: float, repeats: int, warmup: int, min_repeat_s: float,
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
        for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
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
    from ..data.synthetic import synthetic_pair

    rng = np.random.default_rng(seed)
    _, mask = synthetic_pair(size, rng)
    yy, xx = np.mgrid[0:size, 0:size] / size
    for cx, cy in ((0.07, 0.3), (0.93, 0.6), (0.5, 0.95)):
        mask |= (xx - cx) ** 2 + (yy - cy) ** 2 <= 0.03 ** 2
    mask |= rng.random((size, size)) < 0.001
    return mask


def _images(size: int, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` synthetic (image, mask) pairs as float32 (n, size, size, 1) arrays."""
    from ..data.synthetic import synthetic_pair

    rng = np.random.default_rng(seed)
    pairs = [synthetic_pair(size, rng, distractors=1) for _ in range(min(n, 16))]
    x = np.stack([p[0] for p in pairs]).astype(np.float32)[..., None] / 255.0
    y = np.stack([p[1] for p in pairs]).astype(np.float32)[..., None]
    reps = math.ceil(n / len(pairs))
    return np.tile(x, (reps, 1, 1, 1))[:n], np.tile(y, (reps, 1, 1, 1))[:n]

# ----------------------------------------------------------------------------- one worker

def _device(task: dict):
    """Set up the task's device: (its name, the memory probe of its phases, the host probe)."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if task["device"] == "gpu":
        if not gpus:
            raise _Fatal("--device gpu: no GPU is visible to TensorFlow "
                         f"(tensorflow {tf.__version__}; a CPU-only build or no CUDA driver)")
        for g in gpus:
            tf.config.experimental.set_memory_growth(g, True)
        details = tf.config.experimental.get_device_details(gpus[0])
        return details.get("device_name", "GPU"), _GpuMemory(), _HostMemory()
    if gpus:  # only when run in-process on a GPU machine
        tf.config.set_visible_devices([], "GPU")
    return f"CPU: {cpu_model()}, {usable_cpus()} cores", _HostMemory(), _HostMemory()


def _pipeline_rate(size: int, batch: int, task: dict, timing: tuple) -> dict:
    """1. the input pipeline alone (augmentation included): images/s it can deliver."""
    from ..engine.pipeline import train_dataset

    R, W, min_s = timing
    px, py = _images(size, max(int(task["pipeline_images"]), batch), seed=1)
    batches = iter(train_dataset(px, py, batch, seed=0, start_epoch=0, epochs=1_000_000))
    # warm up for 5 repeats' time: the first repeat must not just empty the prefetch buffer
    stats = time_repeats(batches.__next__, 1.0, R, W + 1, min_s, warmup_s=5 * min_s)
    del batches  # stops the pipeline's threads: they must not compete with the model below
    gc.collect()
    return _rate(stats, batch)


def _post_ms(size: int, timing: tuple) -> dict:
    """2. post-processing alone on a prediction-like mask: ms per mask."""
    from ..core.postprocess import keep_largest_components

    R, W, min_s = timing
    mask = prediction_like_mask(size)
    return _strip(time_repeats(lambda: keep_largest_components(mask, k=2), 1000.0, R, W, min_s))


def _inference(model, x: np.ndarray, infer_batches: list[int], timing: tuple) -> dict:
    """4. inference at batch 1 and the candidate batches in increasing order until one gains
    less than :data:`MIN_BATCH_GAIN` per image (ms per image)."""
    import tensorflow as tf

    R, W, min_s = timing
    by_batch, first = {}, None
    for b in infer_batches:
        xb = x[:b]
        try:
            stats = time_repeats(lambda: model.predict_on_batch(xb), 1000.0 / b, R, W, min_s)
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
    return dict(infer_ms_batch1=timed[1], infer_ms_best_batch=timed[best], best_batch=best,
                infer_ms_by_batch=by_batch, infer_first_call_s=first)


def matmul_gflops(timing: tuple, n: int = 2048) -> dict:
    """The machine's float32 matrix-multiply rate in this process (GFLOP/s of ``n`` x ``n``
    products through TensorFlow, statistics over the repeats): the roof a model's achieved
    rate is compared with."""
    import tensorflow as tf

    a = tf.random.stateless_uniform((n, n), seed=(0, 1))
    b = tf.random.stateless_uniform((n, n), seed=(0, 2))
    R, W, min_s = timing
    stats = time_repeats(lambda: tf.linalg.matmul(a, b).numpy(), 1.0, R, W, min_s)
    gflop = 2 * n ** 3 / 1e9
    return {"n": n, "median": gflop / stats["median"], "q1": gflop / stats["q3"], "q3": gflop / stats["q1"]}


def measure(task: dict) -> dict:
    """Measure one model in this process (the worker's job; see :mod:`lungseg_lib.bench`).

    ``task``: model, size, batch (None: the paper recipe's), device ("cpu"/"gpu"),
    mixed_precision (bool), jit_compile (bool), repeats, warmup, min_repeat_s,
    infer_batches, pipeline_images.
    """
    t_start = time.perf_counter()
    import keras

    from ..core.models import count_params
    from ..core.models.flops import count_flops
    from ..engine.config import resolve_config
    from ..engine.training import build_compiled_model

    device_name, memory, host = _device(task)
    keras.utils.set_random_seed(0)
    name, size = task["model"], task["size"]
    config = resolve_config(name, "paper", {"image_size": size} | ({"batch_size": int(task["batch"])}
                                                                   if task.get("batch") else {}))
    batch = config.batch_size
    timing = int(task["repeats"]), int(task["warmup"]), float(task["min_repeat_s"])
    infer_batches = sorted(set(int(b) for b in task["infer_batches"]) | {1})
    x, y = _images(size, max(batch, max(infer_batches)))
    out = {"model": name, "size": size, "batch": batch, "device": task["device"], "device_name": device_name,
           "pipeline_images_per_s": _pipeline_rate(size, batch, task, timing), "post_ms": _post_ms(size, timing)}
    # 3. model: build under the precision policy, XLA set explicitly
    policy = "mixed_float16" if task["mixed_precision"] else "float32"
    keras.mixed_precision.set_global_policy(policy)
    out["host_baseline_mb"] = host.current_mb()
    memory.start()
    model = build_compiled_model(config)
    model.jit_compile = bool(task["jit_compile"])
    out.update(mixed_precision=policy, jit_compile=bool(model.jit_compile), params=count_params(model),
               flops_per_image=count_flops(model), matmul_gflops=matmul_gflops(timing),
               memory_kind="gpu" if task["device"] == "gpu" else "host", memory_method=memory.method)
    out.update(_inference(model, x, infer_batches, timing), peak_memory_infer_mb=memory.peak_mb())
    # 5. training: the compiled model's own step on a fixed batch (images/s)
    memory.start()
    R, W, min_s = timing
    xb, yb = x[:batch], y[:batch]
    stats = time_repeats(lambda: model.train_on_batch(xb, yb), 1.0, R, max(W, 2), min_s)
    out.update(train_images_per_s=_rate(stats, batch), train_first_call_s=stats["first_call_s"],
               peak_memory_train_mb=memory.peak_mb())
    out["peak_memory_mb"] = max(out["peak_memory_infer_mb"], out["peak_memory_train_mb"])
    out["host_peak_mb"] = host.peak_mb() if task["device"] == "gpu" else out["peak_memory_mb"]
    out["worker_seconds"] = time.perf_counter() - t_start
    out["versions"] = ml_versions()
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

def worker_main(task_json: str, result_path: str) -> int:
    task = json.loads(task_json)
    try:
        result = measure(task)
    except _Fatal as exc:
        Path(result_path).write_text(json.dumps({"fatal": str(exc)}), encoding="utf-8")
        return 3
    Path(result_path).write_text(json.dumps(result), encoding="utf-8")
    return 0
