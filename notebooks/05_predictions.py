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
# # Predictions (Fig. 4)
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

from lungseg_lib.report import figures, images, results, runs

run = runs.open_run(profile, model, runs_dir)
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
