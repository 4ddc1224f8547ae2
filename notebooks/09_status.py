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
# # Status: runs, notebooks, environment
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
from lungseg_lib.report import runs, status, tables

profile = runs.resolve_profile(profile, runs_dir)
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
