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
# # What holds on public data: the paper's claims against the runs
# One row per claim of the paper: what the paper says, what the runs of one profile measure,
# and a verdict computed from those numbers by the rules of `lungseg_lib.claims` (a value is
# reached when the 95% CI lies at or above it; a model is better when the CI of the paired
# per-image difference lies above zero). The prose is in the [introduction](../intro.md).

# %% tags=["parameters"]
profile = "auto"  # auto: paper runs if any, else cpu; or smoke, cpu, paper
runs_dir = "runs"  # run folders runs_dir/<profile>/<model>/ (relative to the repository root)
metric = "dice_post"  # per-image column of per_image.csv for the comparison and the failures

# %%
from myst_nb import glue

from lungseg_lib.report import claims, runs, tables

profile = runs.resolve_profile(profile, runs_dir)
table = claims.claims_table(profile, runs_dir, metric)
glue("claims_table", tables.html_table(table, "Claim"))
glue("claims_profile", runs.PROFILE_NOTES[profile], display=False)
glue("claims_metric", tables.metric_label(metric), display=False)
glue("claims_min_effect", claims.MIN_EFFECT, display=False)
glue("claims_alpha", claims.ALPHA, display=False)
table
