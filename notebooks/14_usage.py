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
# # Notebook 14: the usage page's example and the default model
# The default model on one test image of the data set, through the same call a user makes
# (`lungseg_lib.segment`): the label mask (right and left lung), the lung probability, the
# per-lung areas and the warnings. Without the default model's weights this notebook says so
# and shows no result. The prose is in the [usage chapter](../usage.md).

# %% tags=["parameters"]
profile = "auto"  # auto: paper runs if any, else cpu; or smoke, cpu, paper (finds the data folder)
runs_dir = "runs"  # run folders runs_dir/<profile>/<model>/ (relative to the repository root)
data_dir = ""  # "": synthetic data for smoke runs, else $LUNGSEG_DATA, the runs' data, data/shenzhen_montgomery_512
figures_dir = "_build/figures"  # PNG and PDF copies of the figures
model = ""  # "": the default model; or a run folder, an exported folder, published weights' name
example = ""  # the image shown ("": the first test image present in the data folder)

# %%
from myst_nb import glue

from lungseg_lib import files, load_model, project, segment
from lungseg_lib.engine import lungs
from lungseg_lib.engine.config import resolve_config
from lungseg_lib.report import figures, images, profile_runs, remedies, tables, usage, verdicts

profile = profile_runs.resolve_profile(profile, runs_dir)
root = images.data_root(profile, runs_dir, data_dir)
split = images.split_file(profile, root, runs_dir)
name = images.example_name(root, split, example)
pair = images.pairs_in(root)[name]
folder, missing = usage.find_model(model)
print(f"image {name}; model {project.relative_to_repo(folder) if folder else 'none: ' + missing}")

# %%
result = segment(pair.image, model=load_model(folder)) if folder is not None else None
shown = usage.example(result, pair, name, model)
fig = shown["figure"]
figures.save(fig, "usage_example", project.repo_path(figures_dir))
glue("usage_figure", fig)
glue("usage_table", tables.html_table(shown["table"], "File"))
glue("usage_sentence", shown["sentence"], display=False)
glue("usage_status", usage.status(folder, model), display=False)
glue("usage_image", name, display=False)
glue("usage_model_present", float(folder is not None), display=False)
for key, value in shown["values"].items():
    glue(f"usage_{key}", value, display=False)

# %% [markdown]
# The training masks' range the warnings compare with (`lungseg_lib/engine/lung_ranges.json`):

# %%
for key, value in usage.range_values(lungs.load_training_ranges()).items():
    glue(f"usage_{key}", value, display=False)

# %% [markdown]
# Which models fit the default model's limits (weights size, time per image on 2 CPU cores;
# the speed benchmark `bench/cpu.json`).

# %%
bench = files.read_json(project.repo_path("bench/cpu.json"))
fit = remedies.candidates(bench)
glue("default_candidates", tables.html_table(remedies.candidates_table(fit), "Model"))
glue("default_n_fit", float(fit.fits.sum()), display=False)
glue("default_fit_models", ", ".join(profile_runs.title_of(m) for m in fit.model[fit.fits]), display=False)
glue("default_max_mb", remedies.MAX_MB, display=False)
glue("default_max_ms", remedies.MAX_MS, display=False)
glue("default_bench_cpu", bench["machine"]["label"], display=False)
glue("default_bench_cores", float(bench["machine"]["usable_cpus"]), display=False)
glue("default_size", float(remedies.SIZE), display=False)
glue("default_best_val", usage.best_sentence(profile_runs.best_by_validation(profile, 1, runs_dir=runs_dir)), display=False)

# %% [markdown]
# How the default model was chosen: the remedy screen (`params/screen.yaml`), validation split only.

# %%
screen = remedies.screen(runs_dir)
glue("screen_table", tables.html_table(remedies.screen_table(screen), "Arm"))
chosen = remedies.chosen_settings(screen)
n_run = int(screen["kept"].notna().sum())  # remedies scored (the base row has no verdict)
glue("screen_chosen", ", ".join(f"{k}: {str(v).lower()}" for k, v in chosen.items()) or "none", display=False)
glue("screen_n_val", float(screen["n"].iloc[0]), display=False)
glue("screen_n_tb", float(screen["n_tb"].iloc[0]), display=False)
glue("screen_n_remedies", float(len(remedies.ARMS)), display=False)
glue("screen_n_run", float(n_run), display=False)
glue("screen_kept_costs", remedies.kept_costs(screen), display=False)
glue("screen_min_effect", verdicts.MIN_EFFECT, display=False)
screen_config = resolve_config(remedies.MODEL, remedies.BASE)
glue("screen_size", float(screen_config.image_size), display=False)
glue("screen_epochs", float(screen_config.epochs), display=False)

# %% [markdown]
# The default model on the test split (scored once, after training), beside the fair study's
# compact U-Net (`cpu` profile, seed 0): clean, under the intensity shifts of the robustness
# grid, and on the tuberculosis images.

# %%
glue("default_test_table", tables.html_table(remedies.default_test_table(runs_dir), "Run"))
