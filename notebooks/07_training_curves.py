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
# # Training curves
# Loss, Dice and IoU against epoch for every run of the profile (training solid, validation
# dashed), and how long each run trained. The prose is in the [results chapter](../results.md).

# %% tags=["parameters"]
profile = "auto"  # auto: paper runs if any, else cpu; or smoke, cpu, paper
runs_dir = "runs"  # run folders runs_dir/<profile>/<model>/ (relative to the repository root)
data_dir = ""  # "": synthetic data for smoke runs, else $LUNGSEG_DATA, the runs' data, data/shenzhen_montgomery_512
figures_dir = "_build/figures"  # PNG and PDF copies of the figures

# %%
from myst_nb import glue

from lungseg_lib.report import figures, runs, tables, training

profile = runs.resolve_profile(profile, runs_dir)
history = training.history_long(profile, runs_dir)
fig = figures.curves_figure(history)
figures.save(fig, "training_curves", figures_dir)
glue("fig_curves", fig)
glue("training_table", tables.html_table(training.training_table(profile, runs_dir)))
glue("curves_n_runs", float(history["model"].nunique()), display=False)
