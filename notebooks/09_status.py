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
# # Notebook 09: status of the build (runs, notebooks, environment)
# What this build of the book was made from: every run of the profile with its git commit,
# data fingerprint and device, and its executed training notebook (download); how long each
# notebook of the book took to execute (papermill metadata); and the software versions.
#
# ## Runs
# Profile {glue:text}`profile`; each run's executed training notebook can be downloaded.
#
# ```{glue:md} runs_table
# :format: myst
# ```
#
# ## Notebooks of this build
# ```{glue:md} timings_table
# :format: myst
# ```
#
# ## Environment
# ```{glue:md} environment_table
# :format: myst
# ```

# %% tags=["parameters"]
profile = "auto"  # auto: paper runs if any, else cpu; or smoke, cpu, paper
runs_dir = "runs"  # run folders runs_dir/<profile>/<model>/ (relative to the repository root)
data_dir = ""  # "": synthetic data for smoke runs, else $LUNGSEG_DATA, the runs' data, data/shenzhen_montgomery_512
figures_dir = "_build/figures"  # PNG and PDF copies of the figures
executed_dir = "book/_executed"  # where `lungseg book` puts the executed notebooks

# %%
from IPython.display import Markdown
from myst_nb import glue

from lungseg_lib import environment, project
from lungseg_lib.report import profile_runs, reproducibility, status, tables

profile = profile_runs.resolve_profile(profile, runs_dir)
executed = project.repo_path(executed_dir)
glue("profile", profile, display=False)

# %%
runs_table = status.training_notebook_links(profile, runs_dir, executed / "train")
glue("runs_table", Markdown(tables.markdown_table(runs_table)), display=False)
timings = status.notebook_timings(executed, skip=("09_status",))  # not this one: it is running
glue("timings_table", Markdown(tables.markdown_table(timings.round({"seconds": 1}))), display=False)
glue("book_seconds", float(timings["seconds"].sum()), display=False)
env = environment.book_environment()
glue("python_version", env["python"], display=False)
glue("environment_table", Markdown(tables.markdown_table(tables.dict_table(env, "package", "version"))),
     display=False)

# %%
onednn = reproducibility.read_onednn_records(project.repo_path(reproducibility.ONEDNN_FOLDER))
glue("onednn_table", tables.html_table(reproducibility.onednn_table(onednn), "Machine"), display=False)
glue("onednn_sentence", " ".join(reproducibility.onednn_sentence(reproducibility.onednn_findings(r))
                                 for r in onednn), display=False)
glue("onednn_cross_machine", reproducibility.cross_machine_sentence(
    reproducibility.cross_machine_findings(onednn)), display=False)
rerun_path = project.repo_path(reproducibility.RERUN_RECORD)
rerun = reproducibility.read_record(rerun_path) if rerun_path.exists() else None
glue("rerun_sentence", reproducibility.rerun_sentence(rerun), display=False)
