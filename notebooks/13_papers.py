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
# # Notebook 13: what the papers report, and whether it can be a mean
# The numbers the related papers report (their Dice and IoU, data and input size), and a
# consistency check of every reported Dice/IoU pair and of this build's own runs, all from
# `lungseg_lib.report.papers` (the one place the book's quoted values come from). The prose is in the
# [results chapter](../results.md).
#
# **The check.** For one image, Dice = 2 IoU / (1 + IoU). That function is concave, so a mean
# Dice over images (or batches) is at most 2 m / (1 + m) for the mean IoU m, and at least m;
# scores pooled over all pixels satisfy the equation exactly. A value printed with d decimals
# stands for anything within half a unit of its last decimal; a pair is possible when some
# values within those intervals satisfy the relation.

# %% tags=["parameters"]
profile = "auto"  # auto: paper runs if any, else cpu; or smoke, cpu, paper
runs_dir = "runs"  # run folders runs_dir/<profile>/<model>/ (relative to the repository root)

# %%
import inspect

from myst_nb import glue

from lungseg_lib.core import stats
from lungseg_lib.report import papers, profile_runs, results, tables

profile = profile_runs.resolve_profile(profile, runs_dir)
glue("papers_profile", profile_runs.profile_note(profile, runs_dir), display=False)
# the confidence level of every interval in the book (lungseg_lib.core.stats.bootstrap_ci)
glue("ci_percent", float(100 * inspect.signature(stats.bootstrap_ci).parameters["confidence"].default),
     display=False)

# %%
related = papers.related_table()
glue("related_table", tables.html_table(related, "Paper"))
glue("n_related_papers", float(related["Paper"].nunique()), display=False)

# %%
check = papers.consistency_table(results.measured_means(profile, runs_dir))
glue("consistency_table", tables.html_table(check, "Source"))
glue("rounding_half", float(papers.ROUNDING), display=False)
for key, value in (papers.consistency_counts(check) | papers.table1_counts()).items():
    glue(key, value, display=False)

# %%
# the reported values the prose sets beside a measurement (glued, never typed)
raw, post = papers.row(papers.REPRODUCED, "Nastnetlarge-net"), papers.row(papers.REPRODUCED, "Nastnetlarge-net-Post")
for name, row in (("raw", raw), ("post", post)):
    glue(f"reported_nasnet_{name}_dice", float(row.dice), display=False)
    glue(f"reported_nasnet_{name}_iou", float(row.iou), display=False)
glue("reported_gain_dice", float(papers.reported_gain("dice")), display=False)
glue("reported_gain_iou", float(papers.reported_gain("iou")), display=False)
glue("reported_n_train", float(papers.PAPERS[papers.REPRODUCED].n_train), display=False)
glue("reported_n_test", float(papers.PAPERS[papers.REPRODUCED].n_test), display=False)
