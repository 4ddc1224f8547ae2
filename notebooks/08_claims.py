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
# # Notebook 08: the paper's claims against the runs
# One row per claim of the paper: what the paper says, what the runs of one profile measure,
# and a verdict computed from those numbers by the rules of `lungseg_lib.report.verdicts` (a value is
# reached when the 95% CI lies at or above it; a model is better when the CI of the paired
# per-image difference lies above zero). The prose is in the [introduction](../intro.md).

# %% tags=["parameters"]
profile = "auto"  # auto: paper runs if any, else cpu; or smoke, cpu, paper
runs_dir = "runs"  # run folders runs_dir/<profile>/<model>/ (relative to the repository root)
metric = "dice_post"  # per-image column of per_image.csv for the comparison and the failures

# %%
from myst_nb import glue

from lungseg_lib.report import claims, profile_runs, tables, verdicts

profile = profile_runs.resolve_profile(profile, runs_dir)
table = claims.claims_table(profile, runs_dir, metric)
glue("claims_table", tables.html_table(table, "Claim"))
glue("claims_profile", profile_runs.profile_note(profile, runs_dir), display=False)
glue("claims_metric", tables.metric_label(metric), display=False)
glue("claims_min_effect", verdicts.MIN_EFFECT, display=False)
glue("claims_alpha", verdicts.ALPHA, display=False)
