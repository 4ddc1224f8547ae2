"""What a user waits for: the time of one ``segment()`` call per image file, end to end.

The speed benchmark (:mod:`lungseg_lib.bench.run`) times the networks alone on random inputs;
this times what ``lungseg predict`` and :func:`lungseg_lib.segment` do for one image: read the
file, resize it to the model's input, normalise it when the model asks for it, predict, resize
the probability back, post-process and measure the lungs. ``scripts/time_default_model.py``
writes the record the book's speed page reads (``bench/default_model/timing.json``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from .run import machine_info

TIMING = Path("bench") / "default_model" / "timing.json"


def time_segment(paths: list, model, warmup: int = 3, repeats: int = 3) -> dict:
    """Seconds of ``segment(path, model=model)`` per image (each image ``repeats`` times after
    ``warmup`` untimed calls): median and quartiles in ms over all calls, and the model's
    network alone on one input (``model.probability``, batch 1), with the machine and its load."""
    from .. import segment  # the public API, as a user calls it

    if not paths:
        raise ValueError("no image files to time")
    machine = machine_info()
    for path in paths[:warmup]:
        segment(path, model=model)
    calls = []
    for path in paths:
        for _ in range(repeats):
            t0 = time.perf_counter()
            segment(path, model=model)
            calls.append(time.perf_counter() - t0)
    x = np.zeros((1, model.size, model.size, 1), np.float32)
    net = []
    for _ in range(max(10, repeats)):
        t0 = time.perf_counter()
        model.probability(x, batch_size=1)
        net.append(time.perf_counter() - t0)
    ms = 1000 * np.asarray(calls)
    return {"images": len(paths), "calls": len(calls), "segment_ms": _quartiles(ms),
            "network_ms": _quartiles(1000 * np.asarray(net)), "image_size": model.size,
            "normalize": model.config.normalize, "post_fill_holes": model.fill_holes,
            "machine": {**machine, "load_average_end": [round(v, 2) for v in os.getloadavg()]}}


def _quartiles(ms: np.ndarray) -> dict:
    q1, median, q3 = np.percentile(ms, [25, 50, 75])
    return {"median": float(median), "q1": float(q1), "q3": float(q3), "n": int(ms.size)}
