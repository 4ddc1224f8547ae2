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
# # Notebook 06: failure analysis (the paper's Fig. 5)
# The worst test images of one model, and a test of the paper's explanation of its failures,
# that the failed images are "too light" or "too dark": per-image Dice against the image's
# brightness (mean intensity), contrast (intensity standard deviation) and distance from the
# typical brightness, with Spearman correlations. The prose is in the
# [failure analysis chapter](../failures.md).

# %% tags=["parameters"]
profile = "auto"  # auto: paper runs if any, else cpu; or smoke, cpu, paper
runs_dir = "runs"  # run folders runs_dir/<profile>/<model>/ (relative to the repository root)
data_dir = ""  # "": synthetic data for smoke runs, else $LUNGSEG_DATA, the runs' data, data/shenzhen_montgomery_512
figures_dir = "_build/figures"  # PNG and PDF copies of the figures
model = "nasnet_decoder"  # the run analysed
n_worst = 4  # worst images shown
n_extreme = 10  # worst images tested for extreme brightness and for under- or over-segmentation
metric = "dice_post"  # per-image column of per_image.csv

# %%
from myst_nb import glue

from lungseg_lib.report import claims, facts, failures, figures, images, profile_runs, results, tables

run = profile_runs.open_run(profile, model, runs_dir)
profile, table = run.profile, run.table
for key, value in run.labels("fail", metric).items():
    glue(key, value, display=False)
glue("fail_n_worst", float(n_worst), display=False)
glue("fail_seed", f"seed {run.path.name.removeprefix('seed')}", display=False)
# the statistics: every seed's per-image scores averaged, as in the results and the claims
scores = profile_runs.mean_per_image(profile, model, runs_dir)
corr = failures.failure_correlations(scores, metric)

# %% [markdown]
# The worst images are shown from one run (seed 0: its predictions are the ones drawn); the
# correlations use the scores averaged over the model's seeds.

# %%
if table is None:
    message = run.missing
    fig_worst, fig_corr = figures.message_figure(message), figures.message_figure(message)
else:
    root = images.data_root(profile, runs_dir, data_dir)
    present = set(images.pairs_in(root)) & set(table["name"])
    worst = {"worst": results.rank_cases(table, metric, n_worst, present)["worst"]}
    fig_worst = figures.cases_figure(images.case_rows(root, run.path, table, worst, metric))
    fig_corr = figures.correlation_figure(scores, metric, corr, tables.metric_label(metric))
figures.save(fig_worst, "fig5_worst_cases", figures_dir)
figures.save(fig_corr, "failures_correlation", figures_dir)
glue("fig_worst", fig_worst)
glue("fig_correlation", fig_corr)

# %%
# the correlations, the extreme-brightness test and the failure modes, each under its one key
# (fact__<model>__failure_...), for this model and the paper's model the chapter names
found = {}
for name in dict.fromkeys([model, profile_runs.REFERENCE_MODEL]):
    found |= failures.failure_facts(profile, name, runs_dir, metric, n_extreme)
facts.glue_facts(glue, found)
facts.glue_words(glue, profile_runs.seeds_words(profile, [model, profile_runs.REFERENCE_MODEL], runs_dir))
identities = {f.metric: f.identity for f in found if f.model == model}
glue("correlation_table", tables.html_table(failures.correlation_table(corr, identities), "Feature"))
glue("group_table", tables.html_table(failures.group_table(scores, metric), "Group"))
# the verdict of the claims table on the paper's light-or-dark explanation (both tests)
glue("fail_verdict", claims.failures_claim(profile, runs_dir, metric, n_extreme)["Verdict"], display=False)
