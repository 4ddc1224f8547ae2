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
# # Notebook 12: robustness, the same test images perturbed
# Dice against severity for every perturbation family and every model, each model's mean
# drop at two severities with paired bootstrap CIs, and one test image at every severity of
# the intensity families. The grid was scored when each run was evaluated
# (`robustness.csv`, `lungseg robustness`); the prose is in the
# [robustness chapter](../robustness.md).

# %% tags=["parameters"]
profile = "auto"  # auto: paper runs if any, else cpu; or smoke, cpu, paper
runs_dir = "runs"  # run folders runs_dir/<profile>/<model>/seed<k>/ (relative to the repository root)
data_dir = ""  # "": synthetic data for smoke runs, else $LUNGSEG_DATA, the runs' data, the fetched set
figures_dir = "_build/figures"  # PNG and PDF copies of the figures
model = "nasnet_decoder"  # the run whose example image is shown
metric = "dice_post"  # per-image column of robustness.csv
severities = [3, 5]  # severities of the drop table

# %%
from myst_nb import glue

from lungseg_lib.engine import perturbations, records
from lungseg_lib.report import (augmentation_experiment, claims, facts, figures, images, perturbation_grid,
                                profile_runs, tables, verdicts)

profile = profile_runs.resolve_profile(profile, runs_dir)
curves = perturbation_grid.curves(profile, runs_dir, metric)
fig = figures.robustness_figure(curves, tables.metric_label(metric))
figures.save(fig, "robustness_curves", figures_dir)
glue("fig_robustness", fig)
glue("drop_table", tables.html_table(perturbation_grid.drop_table(profile, runs_dir, severities, metric),
                                      "Model (severity)"))
facts.glue_facts(glue, perturbation_grid.drop_facts(profile, runs_dir, severities, metric))

# %%
example = perturbation_grid.example(profile, model, images.data_root(profile, runs_dir, data_dir), runs_dir)
if example is None:
    fig_example = figures.message_figure(profile_runs.missing_message(profile, model, runs_dir)
                                         + " (or its robustness example)")
else:
    fig_example = figures.severity_example_figure(example["images"], example["masks"], example["truth"],
                                                  example["name"])
figures.save(fig_example, "robustness_example", figures_dir)
glue("fig_robustness_example", fig_example)
glue("rob_model", profile_runs.title_of(model), display=False)
# the measured time of the model's whole grid (scored in `lungseg evaluate`, seed 0)
run_dir = profile_runs.run_dir(profile, model, runs_dir)
metrics, record = records.read_metrics(run_dir), records.read_run_record(run_dir)
grid_seconds = metrics.timings.robustness_seconds if metrics else None
grid = perturbation_grid.read_grid(profile, model, runs_dir)
glue("rob_grid_seconds", float(grid_seconds or "nan"), display=False)
glue("rob_grid_predictions", float("nan") if grid is None else float((grid.severity > 0).sum()), display=False)
glue("rob_grid_time", perturbation_grid.grid_time_sentence(
    grid_seconds, float("nan") if grid is None else float((grid.severity > 0).sum()),
    record.environment if record else {}), display=False)
glue("rob_example", example["name"] if example else "missing", display=False)

# %%
intervention = claims.intervention_claim(profile, runs_dir, metric)
glue("rob_verdict", intervention["Verdict"], display=False)
glue("rob_measured", intervention["Measured"], display=False)
glue("rob_severity", float(claims.INTERVENTION_SEVERITY), display=False)
glue("rob_darker", float(perturbations.FAMILIES[claims.DARKER][claims.INTERVENTION_SEVERITY - 1]), display=False)
glue("rob_lighter", float(perturbations.FAMILIES[claims.LIGHTER][claims.INTERVENTION_SEVERITY - 1]), display=False)
glue("rob_min_effect", verdicts.MIN_EFFECT, display=False)
glue("rob_n_families", float(len(perturbations.FAMILIES)), display=False)
glue("rob_n_severities", float(len(perturbations.SEVERITIES) - 1), display=False)
glue("rob_reference", perturbations.REFERENCE, display=False)
glue("rob_parameters", tables.html_table(perturbations.parameter_table(), "Family"))

# %% [markdown]
# The fix experiment (`params/cpu-noaug.yaml`, `params/cpu-strongaug.yaml`): each variant's
# seed-0 run against the default recipe's, image by image.

# %%
glue("fix_table", tables.html_table(augmentation_experiment.fix_table(runs_dir, metric), "Model"))
fix_verdicts = augmentation_experiment.verdicts(runs_dir)
glue("fix_verdicts", tables.html_list({profile_runs.title_of(m): v for m, v in fix_verdicts.items()}), display=False)
glue("fix_n_intensity", float(len(augmentation_experiment.INTENSITY)), display=False)
