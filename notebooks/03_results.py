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
# # Notebook 03: results (the paper's Table 1), per-image scores, paired comparisons
# Dice and IoU of every model of the registry on the test split, without and with the
# post-processing layer, from the run folders of one profile; the values the paper reports,
# labelled as such; the per-image distribution; and each model against the NASNet-Large
# decoder on the same images. The prose is in the [results chapter](../results.md).

# %% tags=["parameters"]
profile = "auto"  # auto: paper runs if any, else cpu; or smoke, cpu, paper
runs_dir = "runs"  # run folders runs_dir/<profile>/<model>/ (relative to the repository root)
data_dir = ""  # "": synthetic data for smoke runs, else $LUNGSEG_DATA, the runs' data, data/shenzhen_montgomery_512
figures_dir = "_build/figures"  # PNG and PDF copies of the figures
reference = "nasnet_decoder"  # the model every other one is compared with
metric = "dice_post"  # per-image column of per_image.csv for the plot and the comparison

# %%
from myst_nb import glue

from lungseg_lib.report import facts, figures, papers, profile_runs, results, tables

profile = profile_runs.resolve_profile(profile, runs_dir)
glue("profile", profile, display=False)
glue("profile_note", profile_runs.profile_note(profile, runs_dir), display=False)
glue("profile_brief", profile_runs.profile_brief(profile), display=False)

# %%
glue("results_table", tables.html_table(results.results_table(profile, runs_dir)))
glue("seed_table", tables.html_table(results.seed_table(profile, runs_dir)))
# every model's scores, each under its one key (fact__<model>__<metric>), with which seeds it averages
facts.glue_facts(glue, results.score_facts(profile, runs_dir))
facts.glue_words(glue, profile_runs.seeds_words(profile, profile_runs.registry_models(), runs_dir))
glue("n_models", float(len(profile_runs.registry_models())), display=False)
glue("reference_rank", results.rank_words(profile, reference, runs_dir), display=False)
glue("n_evaluated", float(len(profile_runs.evaluated_models(profile, runs_dir))), display=False)
glue("reported_dice", float(papers.headline().dice), display=False)
glue("reported_source", results.PAPER_REPORTED_SOURCE, display=False)

# %%
label = tables.metric_label(metric)
fig = figures.distribution_figure(results.per_image_long(profile, runs_dir, metric), label)
figures.save(fig, "results_distribution", figures_dir)
glue("fig_distribution", fig)
glue("metric_label", label, display=False)

# %%
glue("paired_table", tables.html_table(results.paired_table(profile, runs_dir, reference, metric)))
glue("reference_title", profile_runs.title_of(reference), display=False)
glue("paired_difference", results.paired_sign(reference), display=False)
