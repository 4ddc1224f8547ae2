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
# # The readings of "Step size: 5"
# The paper gives "Batch size: 4 / Step size: 5 / Number of epochs: 100" and no learning rate
# or schedule. The readings of that line written in `params/cpu.yaml` before their runs, each
# trained with three seeds; the headline rule (the best mean validation Dice) picks the one the
# book shows; the paper's model against every other model under every reading; and the same
# protocol at 256 px for three models. The prose is in the [method chapter](../method.md).

# %% tags=["parameters"]
profile = "auto"  # auto: paper runs if any, else cpu; the readings are those of params/<profile>.yaml
runs_dir = "runs"  # run folders runs_dir/<profile>/<model>/ (relative to the repository root)
metric = "dice_post"  # per-image column of per_image.csv for the comparisons

# %%
from myst_nb import glue

from lungseg_lib.report import profile_runs, reading_comparisons, readings, tables

profile = profile_runs.resolve_profile(profile, runs_dir)
table = readings.readings_table(profile, runs_dir)
glue("readings_table", tables.html_table(table, "Reading") if len(table) else "No readings in this profile.")
glue("readings_headline", readings.headline_sentence(profile, runs_dir), display=False)
glue("readings_n", float(len(table)), display=False)
comparison = reading_comparisons.comparison_by_reading(profile, runs_dir, metric)
glue("readings_comparison", tables.html_table(comparison, "Model") if len(comparison) else "No readings in this profile.")
size_table, size_sentence = reading_comparisons.size_ranking(profile, runs_dir=runs_dir)
glue("readings_size_sentence", size_sentence, display=False)
glue("readings_verdict", reading_comparisons.verdict_sentence(profile, runs_dir, metric), display=False)
for key, value in reading_comparisons.protocol_values("cpu").items():  # the protocol the method chapter describes
    glue(f"readings_{key}", value, display=False)
glue("readings_frozen", readings.frozen_sentence("cpu", runs_dir), display=False)
table
