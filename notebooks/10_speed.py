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

# %% tags=["remove-cell", "colab-binder-setup"]
# Set-up on Colab or Binder (does nothing elsewhere, e.g. in the book build): install lungseg,
# work in the repository's folder, and fetch the chest X-ray data set once (about 104 MB).
import os
import subprocess
import sys

ON_COLAB = "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ
if ON_COLAB or "BINDER_SERVICE_HOST" in os.environ:
    repo = os.getcwd()
    while not os.path.exists(os.path.join(repo, "pyproject.toml")) and os.path.dirname(repo) != repo:
        repo = os.path.dirname(repo)
    if ON_COLAB and not os.path.exists(os.path.join(repo, "pyproject.toml")):
        repo = "/content/lungseg"
        if not os.path.exists(repo):
            subprocess.run(["git", "clone", "--depth", "1", "https://github.com/lungseg/lungseg", repo], check=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", repo, "myst-nb"], check=True)
    sys.path.insert(0, repo)
    os.chdir(repo)
    if not os.environ.get("LUNGSEG_DATA") and not os.path.isdir("data/shenzhen_montgomery_512/images"):
        subprocess.run([sys.executable, "-m", "lungseg_lib.cli", "data", "fetch", "shenzhen-montgomery-512",
                        "--out", "data/shenzhen_montgomery_512"], check=True)

# %% [markdown]
# # Notebook 10: speed, measured
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
from IPython.display import Image
from myst_nb import glue

from lungseg_lib.report import speed, tables
from lungseg_lib.engine import weights

files = speed.bench_files(bench_dir)
table = speed.speed_table(files)
status = speed.speed_status(files, table, bench_dir, size)
print(status)
glue("speed_status", status, display=False)
for key, value in speed.speed_values(table, size).items():  # NaN where a benchmark is missing
    glue(key, value, display=False)
for key, value in speed.default_model_timing(f"{bench_dir}/default_model/timing.json").items():
    glue(key, value, display=False)
# the default model's test Dice is pasted inside this sentence, marked as its fact
glue("default_accuracy", speed.default_model_accuracy(weights.DEFAULT_MODEL_DIR)["default_accuracy"], display=False)

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
fig = speed.speed_figure(table, size=size)
glue("speed_figure", Image(filename=speed.save_speed_figure(fig, figures_dir)), display=False)

# %% [markdown]
# ## Table
# Medians; "memory" says whether the peak is host resident memory (CPU) or GPU memory;
# training batch = the model's paper recipe unless the benchmark set another.

# %%
shown = speed.display_table(table[table["size"] == size])
glue("speed_table", tables.html_table(shown, "model") if len(shown) else status)

# %% [markdown]
# ## The related papers' claims beside ours
# The claims are quoted verbatim from the papers (`lungseg_lib.report.speed.PAPER_CLAIMS`): Ainala's
# inference time for the compact U-Net, and Sarada & Thirupathi Rao's GPU-over-CPU training
# speed-up for the U-Net of their Table I. They are about their own hardware, which the papers
# do not fully describe. Ours are measured on the machine named with each number.

# %%
glue("speed_claims", tables.html_table(speed.claims_table(table, size=size), "source"))
