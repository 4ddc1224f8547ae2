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
# # Notebook 04: post-processing (the paper's Fig. 2)
# The paper's post-processing layer keeps "the first two largest areas (the lung area)" of the
# predicted mask (its Sec. 2.2) and removes the rest. The paper's Fig. 2 shows one prediction before and after (drawn here again),
# with the removed components boxed in red; the table measures the change of Dice over the
# whole test set for every model. The prose is in the [method](../method.md) and
# [results](../results.md) chapters.

# %% tags=["parameters"]
profile = "auto"  # auto: paper runs if any, else cpu; or smoke, cpu, paper
runs_dir = "runs"  # run folders runs_dir/<profile>/<model>/ (relative to the repository root)
data_dir = ""  # "": synthetic data for smoke runs, else $LUNGSEG_DATA, the runs' data, data/shenzhen_montgomery_512
figures_dir = "_build/figures"  # PNG and PDF copies of the figures
model = "nasnet_decoder"  # the run shown in Fig. 2 and summarised in the text
case = ""  # test image shown ("": the one where post-processing removed the most area)

# %%
from myst_nb import glue

from lungseg_lib.core.postprocess import CONNECTIVITY
from lungseg_lib.report import facts, figures, images, papers, profile_runs, results, tables

run = profile_runs.open_run(profile, model, runs_dir)
profile, table = run.profile, run.table
for key, value in run.labels("pp").items():
    glue(key, value, display=False)
glue("pp_connectivity", float(CONNECTIVITY), display=False)
# the gain the paper reports (the paper's Table 1: its model's post row minus its raw row), for the text
glue("pp_reported_gain_dice", float(papers.reported_gain("dice")), display=False)
glue("pp_reported_gain_iou", float(papers.reported_gain("iou")), display=False)

# %%
if table is None:
    fig = figures.message_figure(run.missing)
    glue("pp_case", "none (missing run)", display=False)
else:
    root = images.data_root(profile, runs_dir, data_dir)
    name = case or images.largest_removal(table, set(images.pairs_in(root)))
    c = images.load_case(root, run.path, name)
    post = images.postprocess(run.path, c["pred"])
    row = table.set_index("name").loc[name]
    fig = figures.postprocessing_figure(c["image"], c["pred"], post.mask, c["truth"], post.removed_boxes,
                                        scores=(row["dice"], row["dice_post"]))
    glue("pp_case", name, display=False)
figures.save(fig, "fig2_postprocessing", figures_dir)
glue("fig_postprocessing", fig)

# %% [markdown]
# The gain over the whole test split, for every model: its per-image scores averaged over its
# seeds (an image counts as changed when post-processing changed it in any seed).

# %%
for name in profile_runs.registry_models():
    facts.glue_facts(glue, results.gain_facts(profile, name, runs_dir, "dice"))
facts.glue_words(glue, profile_runs.seeds_words(profile, profile_runs.registry_models(), runs_dir))
glue("pp_seed", f"seed {profile_runs.run_dir(profile, model, runs_dir).name.removeprefix('seed')}", display=False)

# %%
glue("gain_table", tables.html_table(results.gain_table(profile, runs_dir, "dice")))
