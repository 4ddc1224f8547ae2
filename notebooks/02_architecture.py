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
# # Notebook 02: architecture (the paper's Fig. 1), model sizes, deviations, profiles
# The NASNet-Large-decoder drawn from the built Keras model, stage by stage with the output
# shape of each (the paper's Fig. 1); the parameter count and training recipe of every model
# of the registry; where each model departs from its paper (the registry's `deviations`); and
# the training profiles, read from `params/*.yaml`. The prose is in the
# [method chapter](../method.md).

# %% tags=["parameters"]
profile = "auto"  # auto: paper runs if any, else cpu; or smoke, cpu, paper
runs_dir = "runs"  # run folders runs_dir/<profile>/<model>/ (relative to the repository root)
data_dir = ""  # "": synthetic data for smoke runs, else $LUNGSEG_DATA, the runs' data, data/shenzhen_montgomery_512
figures_dir = "_build/figures"  # PNG and PDF copies of the figures
model = "nasnet_decoder"  # the model drawn
image_size = 256  # input side in pixels (our choice: the paper states no input size)

# %%
from myst_nb import glue

from lungseg_lib.core.models import build_model
from lungseg_lib.report import architecture, figures, profile_runs, tables

profile = profile_runs.resolve_profile(profile, runs_dir)
net = build_model(model, (image_size, image_size, 1))

# %%
fig = figures.architecture_figure(net)
figures.save(fig, "fig1_architecture", figures_dir)
glue("fig_architecture", fig)
for key, value in architecture.architecture_values(net, image_size).items():
    glue(f"arch_{key}", value, display=False)

# %%
glue("param_table", tables.html_table(architecture.param_table(profile, runs_dir)))
glue("param_size", float(architecture.PARAM_SIZE), display=False)

# %% [markdown]
# ## Where each model departs from its paper
# The registry's `deviations` (`lungseg_lib.core.models.deviation_table`): for every model, what its
# paper says, what this project does, why, and whether it departs from the paper, reads an
# unclear text, or fills in what the paper leaves out.

# %%
deviations = architecture.deviation_table()
glue("deviation_table", tables.html_table(deviations))
glue("n_deviations", float(len(deviations)), display=False)

# %% [markdown]
# ## The profiles
# Every number the method chapter gives about a profile, read from `params/<profile>.yaml`
# through `lungseg_lib.engine.config` (so the text cannot drift from what training uses).

# %%
for key, value in architecture.profile_values(runs_dir).items():
    glue(key, value, display=False)
