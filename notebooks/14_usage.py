# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
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
# # Use it on your own images
# The default model on one test image of the data set, through the same call a user makes
# (`lungseg_lib.segment`): the label mask (right and left lung), the lung probability, the
# per-lung areas and the warnings. Without the default model's weights this notebook says so
# and shows no result. The prose is in the [usage chapter](../usage.md).

# %% tags=["parameters"]
profile = "auto"  # auto: paper runs if any, else cpu; or smoke, cpu, paper (finds the data folder)
runs_dir = "runs"  # run folders runs_dir/<profile>/<model>/ (relative to the repository root)
data_dir = ""  # "": synthetic data for smoke runs, else $LUNGSEG_DATA, the runs' data, data/shenzhen_montgomery_512
figures_dir = "_build/figures"  # PNG and PDF copies of the figures
model = ""  # "": the default model; or a run folder, an exported folder, published weights' name
example = ""  # the image shown ("": the first test image present in the data folder)

# %%
import math

import pandas as pd
from myst_nb import glue

from lungseg_lib import files, project
from lungseg_lib.core.metrics import dice
from lungseg_lib.engine import lungs, weights
from lungseg_lib.engine.config import resolve_config
from lungseg_lib.report import claims, figures, images, remedies, runs, tables

profile = runs.resolve_profile(profile, runs_dir)
root = images.data_root(profile, runs_dir, data_dir)
split = images.split_file(profile, root, runs_dir)
name = images.example_name(root, split, example)
pair = images.pairs_in(root)[name]
try:
    folder = weights.model_folder(model or None, fetch_missing=False)
    missing = ""
except FileNotFoundError as exc:
    folder, missing = None, str(exc)
print(f"data {root}; image {name}; model {folder or 'none: ' + missing}")

# %%
if folder is None:
    what = "The default model is not shipped yet" if not model else f"The model {model!r} is not here"
    sentence = (f"{what}, so this page shows no result: lungseg predict and segment() stop with an "
                "error that says so and how to pass another model.")
    fig = figures.message_figure(f"{what}: no result to show (never a made-up one).")
    table = pd.DataFrame([{"File": pair.image.name, "Result": "none: no model"}])
    values = dict(right_px=math.nan, left_px=math.nan, right_percent=math.nan, left_percent=math.nan,
                  ratio=math.nan, dice=math.nan, n_warnings=math.nan)
else:
    from lungseg_lib import load_model, segment
    from lungseg_lib.data.imageio import read_mask

    result = segment(pair.image, model=load_model(folder))
    truth = read_mask(pair.mask)
    a = result.areas
    values = dict(right_px=float(a.right_px), left_px=float(a.left_px),
                  right_percent=float(100 * a.right_fraction), left_percent=float(100 * a.left_fraction),
                  ratio=float(a.right_left_ratio or math.nan), dice=float(dice(result.mask, truth)),
                  n_warnings=float(len(result.warnings)))
    sentence = (f"On the test image {name} ({result.labels.shape[1]} x {result.labels.shape[0]} pixels) the "
                f"model finds a right lung of {a.right_px:,} pixels ({values['right_percent']:.1f}% of the "
                f"image) and a left lung of {a.left_px:,} pixels ({values['left_percent']:.1f}%), a right/left "
                f"ratio of {values['ratio']:.2f}; Dice against the manual mask {values['dice']:.3f}. "
                + (f"Warnings: {'; '.join(result.warnings)}." if result.warnings else "No warning."))
    fig = figures.usage_figure(result.image, result.overlay(), result.probability, name)
    table = pd.DataFrame([{"File": pair.image.name, **result.row()}]).replace("", pd.NA).dropna(axis=1)
figures.save(fig, "usage_example", project.repo_path(figures_dir))
glue("usage_figure", fig)
glue("usage_table", tables.html_table(table, "File"))
glue("usage_sentence", sentence, display=False)
glue("usage_image", name, display=False)
glue("usage_model_present", float(folder is not None), display=False)
for key, value in values.items():
    glue(f"usage_{key}", value, display=False)

# %% [markdown]
# The training masks' range the warnings compare with (`lungseg_lib/engine/lung_ranges.json`):

# %%
ranges = lungs.load_training_ranges()
glue("usage_range_n", float(ranges["n_masks"]), display=False)
for side in ("right", "left"):
    glue(f"usage_range_{side}_p1", float(100 * ranges[f"{side}_fraction"]["p1"]), display=False)
    glue(f"usage_range_{side}_p99", float(100 * ranges[f"{side}_fraction"]["p99"]), display=False)
glue("usage_range_ratio_p1", float(ranges["ratio"]["p1"]), display=False)
glue("usage_range_ratio_p99", float(ranges["ratio"]["p99"]), display=False)

# %% [markdown]
# Which models fit the default model's limits (weights size, time per image on 2 CPU cores;
# the speed benchmark `bench/cpu.json`).

# %%
bench = files.read_json(project.repo_path("bench/cpu.json"))
fit = remedies.candidates(bench)
glue("default_candidates", tables.html_table(remedies.candidates_table(fit), "Model"))
glue("default_n_fit", float(fit.fits.sum()), display=False)
glue("default_fit_models", ", ".join(runs.title_of(m) for m in fit.model[fit.fits]), display=False)
glue("default_max_mb", remedies.MAX_MB, display=False)
glue("default_max_ms", remedies.MAX_MS, display=False)
glue("default_bench_cpu", bench["machine"]["label"], display=False)
glue("default_bench_cores", float(bench["machine"]["usable_cpus"]), display=False)
glue("default_size", float(remedies.SIZE), display=False)

# %% [markdown]
# How the default model was chosen: the remedy screen (`params/screen.yaml`), validation split only.

# %%
screen = remedies.screen(runs_dir)
glue("screen_table", tables.html_table(remedies.screen_table(screen), "Arm"))
chosen = remedies.chosen_settings(screen)
n_run = int(screen["kept"].notna().sum())  # remedies scored (the base row has no verdict)
glue("screen_chosen", ", ".join(f"{k}: {str(v).lower()}" for k, v in chosen.items()) or "none", display=False)
glue("screen_n_val", float(screen["n"].iloc[0]), display=False)
glue("screen_n_tb", float(screen["n_tb"].iloc[0]), display=False)
glue("screen_n_remedies", float(len(remedies.ARMS)), display=False)
glue("screen_n_run", float(n_run), display=False)
glue("screen_min_effect", claims.MIN_EFFECT, display=False)
screen_config = resolve_config(remedies.MODEL, remedies.BASE)
glue("screen_size", float(screen_config.image_size), display=False)
glue("screen_epochs", float(screen_config.epochs), display=False)
