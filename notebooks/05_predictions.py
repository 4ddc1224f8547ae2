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
# # Notebook 05: predictions (the paper's Fig. 4)
# Ground truth (green outline) and prediction (orange) on the test images where one model
# does best, typically and worst, by per-image Dice. The prose is in the
# [results chapter](../results.md).

# %% tags=["parameters"]
profile = "auto"  # auto: paper runs if any, else cpu; or smoke, cpu, paper
runs_dir = "runs"  # run folders runs_dir/<profile>/<model>/ (relative to the repository root)
data_dir = ""  # "": synthetic data for smoke runs, else $LUNGSEG_DATA, the runs' data, data/shenzhen_montgomery_512
figures_dir = "_build/figures"  # PNG and PDF copies of the figures
model = "nasnet_decoder"  # the run shown
n_cases = 2  # images per row (best, median, worst)
metric = "dice_post"  # ranking column of per_image.csv (dice: before post-processing)

# %%
from myst_nb import glue

from lungseg_lib.report import figures, images, profile_runs, results

run = profile_runs.open_run(profile, model, runs_dir)
profile, table = run.profile, run.table
for key, value in run.labels("pred", metric).items():
    glue(key, value, display=False)

# %%
if table is None:
    fig = figures.message_figure(run.missing)
    glue("pred_n_present", float("nan"), display=False)
else:
    root = images.data_root(profile, runs_dir, data_dir)
    present = set(images.pairs_in(root)) & set(table["name"])
    groups = results.rank_cases(table, metric, n_cases, present)
    fig = figures.cases_figure(images.case_rows(root, run.path, table, groups, metric))
    glue("pred_n_present", float(len(present)), display=False)
figures.save(fig, "fig4_predictions", figures_dir)
glue("fig_predictions", fig)
glue("pred_n_cases", float(n_cases), display=False)
