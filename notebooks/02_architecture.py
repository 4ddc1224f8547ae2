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
# # Architecture (Fig. 1), model sizes, deviations and profiles
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
import math

from myst_nb import glue

from lungseg_lib import figures, results
from lungseg_lib.engine.config import TrainConfig, profile_params, resolve_config, schedule_halvings
from lungseg_lib.core.models import build_model, deviation_table, get_spec, nasnet_decoder

profile = results.resolve_profile(profile, runs_dir)
net = build_model(model, (image_size, image_size, 1))
stages = figures.model_stages(net)

# %%
fig = figures.architecture_figure(net)
figures.save(fig, "fig1_architecture", results.repo_path(figures_dir))
glue("fig_architecture", fig)
glue("arch_params_m", float(net.count_params() / 1e6), display=False)
encoder = [s["params"] for s in stages if "encoder" in s["name"]]
glue("arch_encoder_params_m", float(encoder[0] / 1e6) if encoder else float("nan"), display=False)
glue("arch_image_size", float(image_size), display=False)
bottleneck = min(stages, key=lambda s: s["shape"][0])["shape"]
glue("arch_bottleneck", "x".join(map(str, bottleneck)), display=False)
glue("arch_stride", float(image_size / bottleneck[0]), display=False)
glue("arch_encoder_layers", float(nasnet_decoder.ENCODER_LAYERS), display=False)

# %%
glue("param_table", results.html_table(results.param_table(profile, runs_dir)))
glue("param_size", float(results.PARAM_SIZE), display=False)

# %% [markdown]
# ## Where each model departs from its paper
# The registry's `deviations` (`lungseg_lib.core.models.deviation_table`): for every model, what its
# paper says, what this project does, why, and whether it departs from the paper, reads an
# unclear text, or fills in what the paper leaves out.

# %%
deviations = deviation_table()
shown = deviations.rename(columns={"title": "Model", "aspect": "Aspect", "paper": "The paper",
                                   "ours": "Here", "reason": "Why", "kind": "Kind"}).drop(columns="model")
shown["Model"] = shown["Model"].where(shown["Model"] != shown["Model"].shift(), "")
glue("deviation_table", results.html_table(shown))
glue("n_deviations", float(len(deviations)), display=False)

# %% [markdown]
# ## The profiles
# Every number the method chapter gives about a profile, read from `params/<profile>.yaml`
# through `lungseg_lib.config` (so the text cannot drift from what training uses).

# %%
smoke, cpu, paper = (profile_params(p) for p in ("smoke", "cpu", "paper"))
glue("smoke_image_size", float(smoke["image_size"]), display=False)
glue("smoke_epochs", float(smoke["epochs"]), display=False)
glue("paper_image_size", float(paper["image_size"]), display=False)
recipe = get_spec("nasnet_decoder").recipe
glue("nasnet_batch", float(recipe["batch_size"]), display=False)
glue("nasnet_epochs", float(recipe["epochs"]), display=False)
glue("nasnet_step", float(recipe["lr_schedule"]["step_epochs"]), display=False)
glue("nasnet_factor", float(recipe["lr_schedule"]["factor"]), display=False)
# the fair protocol of the cpu profile
nasnet_cpu = resolve_config("nasnet_decoder", "cpu")
glue("cpu_image_size", float(cpu["image_size"]), display=False)
glue("cpu_epochs", float(cpu["epochs"]), display=False)
glue("cpu_schedule_scaling", str(cpu["schedule_scaling"]), display=False)
glue("cpu_early_stopping", "none" if cpu.get("early_stopping_patience") is None
     else f"patience {cpu['early_stopping_patience']}", display=False)
glue("cpu_seeds", ", ".join(map(str, cpu.get("seeds", []))), display=False)
glue("cpu_nasnet_step", float(nasnet_cpu.lr_schedule["step_epochs"]), display=False)
glue("cpu_nasnet_halvings", float(schedule_halvings(nasnet_cpu)), display=False)
glue("cpu_half_width_models", ", ".join(cpu.get("models", {})), display=False)
# the cpu-v1 run of the NASNet decoder (trained before the fair protocol), and its first run
committed = (results.read_config(results.run_dir("cpu-v1", "nasnet_decoder", runs_dir)) or {}).get("config")
first = TrainConfig.from_dict(committed).replace(lr_schedule=recipe["lr_schedule"]) if committed else None
glue("committed_nasnet_epochs", float(committed["epochs"]) if committed else math.nan, display=False)
glue("committed_nasnet_step", float(committed["lr_schedule"]["step_epochs"]) if committed else math.nan,
     display=False)
glue("first_run_final_lr", float((1 / first.lr_schedule["factor"]) ** schedule_halvings(first)) if first else math.nan,
     display=False)  # the last epochs ran at 1/this of the starting learning rate
