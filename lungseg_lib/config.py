"""Training configurations: the model's paper recipe, overridden by a profile, then by the user.

Precedence (later wins): :data:`DEFAULTS` < the model's recipe (``get_spec(name).recipe``) <
``params/<profile>.yaml`` top-level keys < its ``models: {<name>: {...}}`` section <
``--set key=value`` overrides. An unknown key anywhere is an error, not a warning.
"""

from __future__ import annotations


import yaml

from .project import REPO_ROOT

PARAMS_DIR = REPO_ROOT / "params"

DEFAULTS: dict = {
    "model": None, "profile": None,
    "data": None,            # a data folder, "synthetic", or None for $LUNGSEG_DATA
    "split": None,           # split CSV; default data/splits/<data folder name>.csv
    "image_size": 256, "batch_size": 4, "epochs": 100,
    "loss": "softmax_ce", "optimizer": "adam", "learning_rate": 1e-4, "momentum": None,
    "weight_decay": None, "l2": None, "lr_schedule": None, "early_stopping_patience": None,
    "early_stopping_monitor": "val_dice",  # val_dice (higher is better) or val_loss (lower)
    "schedule_scaling": None,  # None, or "proportional": a recipe's step schedule is stretched
                               # or compressed by epochs / the recipe's epochs
    "augment": True, "augment_strength": "default",  # default | strong (pipeline.AUGMENTS)
    "seed": 0, "deterministic": True,
    "mixed_precision": "auto",   # auto: on when a GPU is visible
    "strategy": "auto",          # auto | default | mirrored (all visible GPUs)
    "model_kwargs": {}, "post_k": 2, "recipe_source": "",
}
PROFILES = ("smoke", "cpu", "paper")
NOT_PARAMETERS = ("recipe_source",)  # words about the recipe: rewording them changes no run


def profile_params(profile: str) -> dict:
    """The parsed ``params/<profile>.yaml`` (``seeds``: the seeds its protocol trains, when it
    names them; each run gets one with ``lungseg train --seed K``)."""
    path = PARAMS_DIR / f"{profile}.yaml"
    if not path.exists():
        valid = sorted(p.stem for p in PARAMS_DIR.glob("*.yaml"))
        raise ValueError(f"unknown profile {profile!r}; valid profiles: {', '.join(valid)}")
    return yaml.safe_load(path.read_text()) or {}


def _check_keys(keys, where: str) -> None:
    unknown = sorted(set(keys) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)} in {where}; "
                         f"valid: {', '.join(sorted(DEFAULTS))}")


def parse_set(items: list[str]) -> dict:
    """Parse ``key=value`` strings; values are read as YAML (numbers, lists, null, ...)."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"--set expects key=value, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = yaml.safe_load(value)
    return out


def resolve_config(model: str, profile: str, overrides: dict | None = None) -> dict:
    """The full training configuration of ``model`` under ``profile`` with ``overrides``."""
    from .core.models import get_spec

    spec = get_spec(model)
    params = dict(profile_params(profile))
    per_model = params.pop("models", {}) or {}
    params.pop("seeds", None)  # the profile's seeds (one run each, `--seed K`), not a run parameter
    config = dict(DEFAULTS)
    recipe = dict(spec.recipe)
    recipe["recipe_source"] = recipe.pop("source", "")
    config.update(recipe)
    _check_keys(params, f"params/{profile}.yaml")
    config.update(params)
    model_params = per_model.get(model, {}) or {}
    _check_keys(model_params, f"params/{profile}.yaml models.{model}")
    config.update(model_params)
    overrides = overrides or {}
    _check_keys(overrides, "the overrides")
    config.update(overrides)
    config["model"], config["profile"] = model, profile
    if config["schedule_scaling"] not in (None, "proportional"):
        raise ValueError(f"schedule_scaling {config['schedule_scaling']!r} in {profile}; valid: null, proportional")
    if config["early_stopping_monitor"] not in ("val_dice", "val_loss"):
        raise ValueError(f"early_stopping_monitor {config['early_stopping_monitor']!r}; valid: val_dice, val_loss")
    if config["schedule_scaling"] == "proportional" and config["lr_schedule"]:
        config["lr_schedule"] = scale_schedule(config["lr_schedule"], spec.recipe["epochs"], config["epochs"])
    return config


def scale_schedule(schedule: dict, recipe_epochs: int, epochs: int) -> dict:
    """A step schedule made for ``recipe_epochs`` stretched to ``epochs`` (same steps per run).

    The rule of the fair protocol: the learning rate takes the same values at the same fraction
    of training, so a run of 30 epochs goes through the whole schedule of a 100-epoch recipe.
    """
    scaled = dict(schedule)
    scaled["step_epochs"] = round(schedule["step_epochs"] * epochs / recipe_epochs, 6)
    return scaled
