# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Architecture (Fig. 1) and model sizes
# The NASNet-Large-decoder drawn from the built Keras model, stage by stage with the output
# shape of each (the paper's Fig. 1), and the parameter count and training recipe of every
# model of the registry. The prose is in the [method chapter](../method.md).

# %% tags=["parameters"]
profile = "auto"  # auto: paper runs if any, else cpu; or smoke, cpu, paper
runs_dir = "runs"  # run folders runs_dir/<profile>/<model>/ (relative to the repository root)
data_dir = ""  # "": synthetic data for smoke runs, else $LUNGSEG_DATA, the runs' data, data/shenzhen_montgomery_512
figures_dir = "_build/figures"  # PNG and PDF copies of the figures
model = "nasnet_decoder"  # the model drawn
image_size = 256  # input side in pixels (the paper's 256)

# %%
from myst_nb import glue

from lungseg_lib import figures, results
from lungseg_lib.models import build_model

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
glue("arch_bottleneck", "x".join(map(str, min(stages, key=lambda s: s["shape"][0])["shape"])), display=False)

# %%
glue("param_table", results.html_table(results.param_table(profile, runs_dir)))
