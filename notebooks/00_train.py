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
# # Training run
# Executed by `lungseg train` (through papermill) into the run folder, so every run keeps
# this notebook with its outputs. It resolves the configuration (the model's paper recipe,
# the profile, the overrides), trains or resumes, and evaluates on the test split.

# %% tags=["parameters"]
model = "unet"
profile = "smoke"
run_dir = "runs/smoke/unet"
overrides = "{}"  # JSON object of parameter overrides, e.g. '{"epochs": 5}'
force = False
evaluate_after = True

# %%
import json

from lungseg_lib.config import resolve_config
from lungseg_lib.evaluation import evaluate
from lungseg_lib.training import train

config = resolve_config(model, profile, json.loads(overrides))
print(json.dumps(config, indent=1, default=str))

# %%
summary = train(config, run_dir, force=force, verbose=2)
summary

# %%
if evaluate_after:
    metrics = evaluate(run_dir)
    print({k: round(v["mean"], 4) for k, v in metrics["post"].items()})
