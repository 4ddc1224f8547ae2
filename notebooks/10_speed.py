# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Speed: measured
# This page reads every benchmark file in `bench/` (written by `lungseg bench`, one JSON per
# machine) and shows, per model at 256 x 256 pixels: inference time per image at batch 1 and
# at the best batch, training throughput, peak memory, and beside them the input pipeline's
# own throughput and the post-processing time. Each number is the median over repeated runs
# after warm-up; the quartiles are in the files and the error bars. How it is measured is on
# the previous page.
#
# {glue:text}`speed_status`

# %% tags=["parameters"]
bench_dir = "bench"  # benchmark JSON files (relative to the repository root, or absolute)
size = 256  # the input size shown (pixels)
figures_dir = "_build/figures"  # relative to the repository root

# %%
import inspect
import math

from IPython.display import Image
from myst_nb import glue

from lungseg_lib import bench, results
from lungseg_lib.project import REPO_ROOT

folder = REPO_ROOT / bench_dir
files = sorted(folder.glob("*.json")) if folder.is_dir() else []
table = bench.speed_table(files)
figures = REPO_ROOT / figures_dir
figures.mkdir(parents=True, exist_ok=True)

at_size = table[(table["size"] == size) & table["error"].isna()]
if at_size.empty:
    status = (f"No benchmark yet: no results at {size} x {size} in {bench_dir}/ "
              f"(make one with `lungseg bench --out {bench_dir}/cpu.json`).")
else:
    docs = [bench.load_bench(f) for f in files]
    status = "Benchmark files: " + "; ".join(
        f"{f.name} ({d['machine']['label']}, {len(d['results'])} results, {d['created'][:10]}"
        f"{'' if d.get('complete') else ', INCOMPLETE'})" for f, d in zip(files, docs)) + "."
    failed = table[table["error"].notna()]
    if len(failed):
        status += " Failed: " + ", ".join(f"{r.model} ({r.error})" for r in failed.itertuples()) + "."
print(status)
glue("speed_status", status, display=False)

# numbers for the text: NaN where a benchmark is missing
for device in ("cpu", "gpu"):
    for model in dict.fromkeys([*table["model"], "nasnet_decoder", "unet", "unet3_compact"]):
        r = bench.headline(table, device, model, size)
        for key, col in (("infer_ms", "infer_ms_b1"), ("best_ms", "infer_ms_best"),
                         ("train_img_s", "train_img_s"), ("memory_mb", "peak_memory_mb"),
                         ("first_call_s", "train_first_call_s")):
            glue(f"speed_{device}_{model}_{key}", float(r[col]) if r is not None else math.nan, display=False)
cpu = bench.headline(table, "cpu", "unet3_compact", size)
glue("speed_cpu_pipeline_img_s", float(cpu["pipeline_img_s"]) if cpu is not None else math.nan, display=False)
glue("speed_cpu_post_ms", float(cpu["post_ms"]) if cpu is not None else math.nan, display=False)
glue("speed_size", float(size), display=False)
# how it is measured (the benchmark's defaults), for the text
for device, batches in bench.DEFAULT_INFER_BATCHES.items():
    glue(f"speed_batches_{device}", ", ".join(map(str, batches)), display=False)
glue("speed_latency_batch", float(min(bench.DEFAULT_INFER_BATCHES["cpu"])), display=False)
glue("speed_min_gain_percent", float(100 * bench.MIN_BATCH_GAIN), display=False)
glue("speed_min_repeat_s", float(inspect.signature(bench.run_bench).parameters["min_repeat_s"].default),
     display=False)
registry = results.registry().set_index("name")
glue("speed_unet_params_m", float(registry.loc["unet", "params"] / 1e6), display=False)
for key, claim in bench.PAPER_CLAIMS.items():
    glue(f"speed_claim_{key}", float(claim["value"]), display=False)

# %% [markdown]
# ## Per model
# On the CPU benchmark's machine, one image of {glue:text}`speed_size:.0f` pixels a side takes
# {glue:text}`speed_cpu_unet3_compact_infer_ms:.1f` ms through the compact U-Net (Ainala 2023)
# alone in its batch, {glue:text}`speed_cpu_nasnet_decoder_infer_ms:.0f` ms through the paper's
# NASNet-Large-Decoder Net and {glue:text}`speed_cpu_unet_infer_ms:.0f` ms through the
# U-Net ({glue:text}`speed_unet_params_m:.0f` million parameters); training runs at
# {glue:text}`speed_cpu_nasnet_decoder_train_img_s:.2f` images/s for the NASNet-decoder. The
# input pipeline (augmentation included) delivers
# {glue:text}`speed_cpu_pipeline_img_s:.0f` images/s on the same cores, far above any model's
# training rate, and post-processing takes {glue:text}`speed_cpu_post_ms:.2f` ms per mask.
#
# ```{glue:figure} speed_figure
# :name: fig-speed-notebook
#
# Speed per model, one colour per benchmark file (machine and variant): inference time per
# image alone in its batch (log scale; the dashed line is Ainala's claim, "in under 50
# milliseconds per slice using a GPU"), training images per second (log scale) and peak memory
# (host resident memory on a CPU, GPU allocator peak on a GPU). Points are medians over
# repeats, whiskers the quartiles.
# ```

# %%
fig = bench.speed_figure(table, size=size)
fig.savefig(figures / "speed.png", dpi=150)
fig.savefig(figures / "speed.pdf")
glue("speed_figure", Image(filename=figures / "speed.png"), display=False)

# %% [markdown]
# ## Table
# Medians; "memory" says whether the peak is host resident memory (CPU) or GPU memory;
# training batch = the model's paper recipe unless the benchmark set another.

# %%
shown = bench.display_table(table[table["size"] == size])
shown = shown.style.hide(axis="index") if len(shown) else status
glue("speed_table", shown, display=False)
shown

# %% [markdown]
# ## The related papers' claims beside ours
# The claims are quoted verbatim from the papers (`lungseg_lib.bench.PAPER_CLAIMS`): Ainala's
# inference time for the compact U-Net, and Sarada & Thirupathi Rao's GPU-over-CPU training
# speed-up for the U-Net of their Table I. They are about their own hardware, which the papers
# do not fully describe. Ours are measured on the machine named with each number.

# %%
claims = bench.claims_table(table, size=size).style.hide(axis="index")
glue("speed_claims", claims, display=False)
claims
