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
# the profile, the overrides), prepares the data (a smoke run's synthetic set, a missing split),
# trains or resumes, and evaluates on the test split.

# %% tags=["parameters"]
model = "unet"
profile = "smoke"
run_dir = "runs/smoke/unet"
overrides = "{}"  # JSON object of parameter overrides, e.g. '{"epochs": 5}'
force = False
evaluate_after = True

# %%
import json

from lungseg_lib.engine.config import resolve_config
from lungseg_lib.engine.datasets import prepare_data
from lungseg_lib.engine.evaluation import evaluate
from lungseg_lib.engine.records import Metrics
from lungseg_lib.engine.training import train

config = resolve_config(model, profile, json.loads(overrides))
print(json.dumps(config.as_dict(), indent=1, default=str))
data_root, split_file = prepare_data(config)

# %%
summary = train(config, run_dir, force=force, verbose=2)
summary

# %%
if evaluate_after:
    metrics = Metrics.from_dict(evaluate(run_dir))
    print({k: round(s.mean, 4) for k, s in metrics.post.items()})
