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
# # Pneumonia films: the study on whole-lung masks
# The `cpu-pneumonia` profile's runs on `covid_pneumonia_512` (pneumonia films, masks of the
# whole lung) beside the paper's Table 1; the cross-set matrix with the Shenzhen + Montgomery
# runs (`cpu`); the convention/failure split of the cross-set loss; the scores by view and
# finding; the worst test cases (only images whose licence allows a figure); and the paper's
# claims on each data set. The prose is in the [pneumonia chapter](../pneumonia.md).

# %% tags=["parameters"]
runs_dir = "runs"  # run folders runs_dir/<profile>/<model>/ (relative to the repository root)
metric = "dice_post"  # per-image column of per_image.csv for the matrix, the breakdown, the worst cases, the claims
data_dir = ""  # the covid_pneumonia_512 folder or a folder beside it; "": found by name (data/, beside $LUNGSEG_DATA)
figures_dir = "_build/figures"  # PNG and PDF copies of the figures

# %%
from myst_nb import glue

from lungseg_lib.report import conventions_analysis, figures, pneumonia, pneumonia_figures, tables

label = tables.metric_label(metric)
for key, value in pneumonia.data_numbers().items():
    glue(f"pn_{key}", float(value), display=False)
glue("pn_metric", label, display=False)
glue("pn_square", pneumonia.square_rule(), display=False)

# %%
glue("pn_results_table", tables.html_table(pneumonia.results_table(runs_dir)))
glue("pn_results_sentence", pneumonia.results_sentence(runs_dir, metric), display=False)

# %%
long = pneumonia.cross_set_long(runs_dir, metric)
glue("pn_cross_table", tables.html_table(pneumonia.cross_set_table(long, metric)))
fig = pneumonia_figures.cross_set_figure(pneumonia.cross_set_matrix(long), label)
figures.save(fig, "pneumonia_cross_set", figures_dir)
glue("pn_fig_cross", fig)
glue("pn_cross_sentence", pneumonia.cross_set_sentence(long), display=False)
glue("pn_cross_missing", float((long["status"] != "measured").sum()), display=False)
glue("pn_cross_cells", float(len(long)), display=False)
glue("pn_vmin", float(pneumonia_figures.VMIN), display=False)
glue("pn_vmax", float(pneumonia_figures.VMAX), display=False)

# %%
scores, truth, reference = conventions_analysis.region_scores(runs_dir, data_dir)
glue("pn_regions_table", tables.html_table(conventions_analysis.region_table(scores)))
glue("pn_regions_sentence", conventions_analysis.regions_sentence(scores, truth, reference), display=False)
shown = pneumonia_figures.regions_figure(pneumonia_figures.region_example(truth, data_dir), reference)
figures.save(shown.figure, "pneumonia_regions", figures_dir)
glue("pn_fig_regions", shown.figure)
glue("pn_regions_credit", shown.caption(), display=False)

# %%
glue("pn_breakdown_test", tables.html_table(pneumonia.breakdown_table("test", runs_dir=runs_dir, metric=metric), "Group"))
glue("pn_breakdown_external",
     tables.html_table(pneumonia.breakdown_table("external", runs_dir=runs_dir, metric=metric), "Group"))
glue("pn_breakdown_sentence", pneumonia.breakdown_sentence("test", runs_dir, metric), display=False)

# %%
models, who = pneumonia_figures.worst_case_models(runs_dir)
rows = [pneumonia_figures.worst_cases(m, runs_dir, data_dir=data_dir, metric=metric) for m in models]
shown = pneumonia_figures.worst_cases_figure(rows, label)
figures.save(shown.figure, "pneumonia_worst_cases", figures_dir)
glue("pn_fig_worst", shown.figure)
glue("pn_worst_models", who, display=False)
glue("pn_worst_credit", shown.caption(), display=False)

# %%
glue("pn_claims_table", tables.html_table(pneumonia.claims_by_data(runs_dir, metric), "Claim"))
takeaway = pneumonia.takeaway(runs_dir, metric, long, conventions_analysis.takeaway_clause(scores))
glue("pn_takeaway", takeaway, display=False)
takeaway
