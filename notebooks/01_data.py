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
# # Notebook 01: the data set (the paper's Fig. 3)
# Where the images come from, how they are split, how much of each image is lung, and one
# test image with its ground-truth mask (the paper's Fig. 3). The prose is in the
# [data chapter](../data.md).

# %% tags=["parameters"]
profile = "auto"  # auto: paper runs if any, else cpu; or smoke, cpu, paper
runs_dir = "runs"  # run folders runs_dir/<profile>/<model>/ (relative to the repository root)
data_dir = ""  # "": synthetic data for smoke runs, else $LUNGSEG_DATA, the runs' data, data/shenzhen_montgomery_512
figures_dir = "_build/figures"  # PNG and PDF copies of the figures
example = ""  # image shown in Fig. 3 ("": the first test image present in the data folder)

# %%
from myst_nb import glue

from lungseg_lib.data import folders
from lungseg_lib.report import figures, images, profile_runs, tables

profile = profile_runs.resolve_profile(profile, runs_dir)
root = images.data_root(profile, runs_dir, data_dir)
split = images.split_file(profile, root, runs_dir)

# %%
table = images.data_table(root, split)
glue("data_table", tables.html_table(table, "Source"))
counts = images.split_counts(root, split)
for name, count in counts.items():
    glue(f"n_{name}", count, display=False)
glue("n_pairs", float(sum(counts.values())), display=False)
glue("n_sources", float(len(table) - 1), display=False)
glue("data_folder", root.name, display=False)
glue("split_name", split.name if split else "no split file", display=False)
glue("split_fractions", "/".join(f"{100 * f:g}" for f in folders.SPLIT_FRACTIONS), display=False)
# the image sizes of the data folder, as stored (what `lungseg data check` reports)
_, folder_stats = folders.check_folder(root)
sizes = folder_stats.groupby(["width", "height"]).size().sort_values(ascending=False) if len(folder_stats) else []
glue("image_sizes", ", ".join(f"{w} x {h}" for w, h in getattr(sizes, "index", [])) or "unknown", display=False)

# %%
name = images.example_name(root, split, example)
image, mask = images.load_pair(root, name, size=512)
fig = figures.data_example_figure(image, mask, name)
figures.save(fig, "fig3_data_example", figures_dir)
glue("fig_data_example", fig)
glue("example_name", name, display=False)
glue("example_lung_percent", float(100 * mask.mean()), display=False)
