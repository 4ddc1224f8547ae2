"""Speed benchmarks: training throughput, inference latency, memory, input pipeline, post-processing.

    run.run_bench(models=None, sizes=(256,), batch=None, device="cpu", repeats=5, ..., out=FILE)

The bench measures; the book's speed page reads its files (:mod:`lungseg_lib.report.speed`:
tables, the figure, the related papers' speed claims beside ours). The bench imports nothing
of the report side.

``lungseg bench`` calls :func:`lungseg_lib.bench.run.run_bench` (``run``: the parent process,
the machine, the JSON file). Every (model, size, precision, XLA) combination is measured in its
own fresh Python process (``python -m lungseg_lib.bench --worker``: ``measure``), so
one model's memory, graphs and thread pools never affect the next, and the process's peak
memory is that model's. In each worker, in this order:

1. **input pipeline**: :func:`lungseg_lib.engine.pipeline.train_dataset` (shuffle, augmentation,
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

DEFAULT_INFER_BATCHES = {"cpu": (1, 4, 16), "gpu": (1, 8, 32, 128)}
MIN_BATCH_GAIN = 0.10  # a larger inference batch is tried only while each one gains this much per image
MIN_REPEAT_S = 0.2  # a timed repeat runs calls for at least this long (seconds)
STAT_KEYS = ("median", "q1", "q3", "min", "max", "n")
RESULT_FIELDS = (
    "model", "size", "batch", "device", "device_name", "mixed_precision", "jit_compile", "params",
    "train_images_per_s", "train_first_call_s", "infer_ms_batch1", "infer_ms_best_batch",
    "best_batch", "infer_ms_by_batch", "infer_first_call_s", "peak_memory_mb", "memory_kind",
    "memory_method", "peak_memory_train_mb", "peak_memory_infer_mb", "host_peak_mb",
    "host_baseline_mb", "post_ms", "pipeline_images_per_s", "worker_seconds", "flops_per_image",
    "matmul_gflops")
SCHEMA = "lungseg-bench/1"
