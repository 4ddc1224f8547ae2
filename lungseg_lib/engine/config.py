"""Training configurations: one typed, validated :class:`TrainConfig`, built once here.

Precedence (later wins): the defaults of :class:`TrainConfig` < the model's recipe
(``get_spec(name).recipe``) < ``params/<profile>.yaml`` top-level keys < its
``models: {<name>: {...}}`` section < ``--set key=value`` overrides. An unknown key anywhere
is an error, not a warning; so is a value of the wrong kind. The engine passes the config on
as it is (frozen); ``config.json`` records :meth:`TrainConfig.as_dict`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields

import yaml

from ..core.augment import AUGMENTS
from ..core.models.spec import LOSSES, OPTIMIZERS
from ..core.normalize import NORMALIZATIONS
from ..data.conventions import CONVENTIONS
from ..data.imageio import SQUARE_RULES
from ..project import REPO_ROOT

PARAMS_DIR = REPO_ROOT / "params"
NOT_PARAMETERS = ("recipe_source",)  # words about the recipe: rewording them changes no run
MONITORS = ("val_dice", "val_loss")  # val_dice: higher is better; val_loss: lower
SCALINGS = (None, "proportional")
STRATEGIES = ("auto", "default", "mirrored")
MIXED_PRECISION = ("auto", True, False)
# what a profile says about its protocol, not about a run: the seeds it trains (one run each,
# `--seed K`), which models (default: all), the NASNet-Large decoder's recipe readings, and the
# default model's selection rule
PROTOCOL_KEYS = ("seeds", "more_seeds", "plan_models", "readings", "selection")


@dataclass(frozen=True)
class TrainConfig:
    """Every parameter of one training run (the keys of ``config.json``'s ``config``)."""

    model: str | None = None
    profile: str | None = None
    data: str | None = None  # a data folder, "synthetic", or None for $LUNGSEG_DATA
    data_sets: dict | None = None  # several data sets trained together, {name: convention}: one
                                   # output channel per convention (data.conventions), each
                                   # supervised only by its own sets; each set's split is
                                   # data/splits/<name>.csv
    split: str | None = None  # split CSV; default data/splits/<data folder name>.csv
    image_size: int = 256
    square: str = "stretch"  # how a non-square image reaches the square input (data.imageio.SQUARE_RULES)
    batch_size: int = 4
    epochs: int = 100
    steps_per_epoch: int | None = None  # batches per epoch; None: one pass over the training images
    loss: str = "softmax_ce"
    optimizer: str = "adam"
    learning_rate: float = 1e-4
    momentum: float | None = None
    weight_decay: float | None = None
    l2: float | None = None
    lr_schedule: dict | None = None  # {kind: step, step_epochs, factor}
    early_stopping_patience: int | None = None
    early_stopping_monitor: str = "val_dice"  # see MONITORS
    schedule_scaling: str | None = None  # None, or "proportional": a recipe's step schedule is
                                         # stretched or compressed by epochs / the recipe's epochs
    augment: bool = True
    augment_strength: str = "default"  # a name in lungseg_lib.core.augment.AUGMENTS
    normalize: str | None = None  # None | clahe: the input's normalisation (lungseg_lib.core.normalize)
    seed: int = 0
    deterministic: bool = True
    mixed_precision: bool | str = "auto"  # auto: on when a GPU is visible
    strategy: str = "auto"  # auto | default | mirrored (all visible GPUs)
    model_kwargs: dict = field(default_factory=dict)
    post_k: int = 2
    post_fill_holes: bool = False  # fill holes inside the kept components (core.postprocess)
    recipe_source: str = ""

    def __post_init__(self):
        problems = [p for p in (_check_field(f.name, getattr(self, f.name)) for f in fields(self)) if p]
        if problems:
            raise ValueError(f"training configuration of {self.model} ({self.profile}): " + "; ".join(problems))

    @property
    def lungs(self) -> tuple[str, ...]:
        """The conventions of the model's output channels, in channel order (empty for a model
        with one lung output, trained on one data set)."""
        return tuple(c for c in CONVENTIONS if c in (self.data_sets or {}).values())

    def as_dict(self) -> dict:
        """The parameters as a plain dict, in field order (what ``config.json`` records)."""
        return dataclasses.asdict(self)

    def replace(self, **changes) -> TrainConfig:
        """A copy with ``changes`` (validated again)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, values: dict, where: str = "the configuration") -> TrainConfig:
        """A config from a dict (a recorded ``config.json``'s ``config``: keys added to the
        engine after it was written take their defaults); unknown keys are a ValueError."""
        check_keys(values, where)
        return cls(**values)



def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


_POSITIVE_INT = ("image_size", "batch_size", "epochs", "post_k")
_OPTIONAL_NUMBER = ("momentum", "weight_decay", "l2")
_CHOICES = {"loss": LOSSES, "optimizer": OPTIMIZERS, "early_stopping_monitor": MONITORS,
            "schedule_scaling": SCALINGS, "augment_strength": tuple(AUGMENTS), "strategy": STRATEGIES,
            "normalize": NORMALIZATIONS, "square": SQUARE_RULES,
            "mixed_precision": MIXED_PRECISION}


def _check_field(name: str, value) -> str | None:
    """What is wrong with one value (None when nothing is)."""
    if name in _POSITIVE_INT and not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return f"{name} must be a whole number >= 1, got {value!r}"
    if name == "seed" and not (isinstance(value, int) and not isinstance(value, bool)):
        return f"seed must be a whole number, got {value!r}"
    if name == "learning_rate" and not (_is_number(value) and value > 0):
        return f"learning_rate must be a number > 0, got {value!r} (write 1e-3 as 0.001)"
    if name in _OPTIONAL_NUMBER and value is not None and not _is_number(value):
        return f"{name} must be a number or null, got {value!r}"
    if name == "steps_per_epoch" and value is not None and not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return f"steps_per_epoch must be null or a whole number >= 1, got {value!r}"
    if name == "early_stopping_patience" and value is not None and not (isinstance(value, int) and value >= 1):
        return f"early_stopping_patience must be null or a whole number >= 1, got {value!r}"
    if name in _CHOICES and value not in _CHOICES[name]:
        valid = ", ".join("null" if c is None else str(c).lower() if isinstance(c, bool) else c for c in _CHOICES[name])
        return f"{name} {value!r}; valid: {valid}"
    if name in ("augment", "deterministic", "post_fill_holes") and not isinstance(value, bool):
        return f"{name} must be true or false, got {value!r}"
    if name == "model_kwargs" and not isinstance(value, dict):
        return f"model_kwargs must be a mapping, got {value!r}"
    if name == "data_sets" and value is not None:
        ok = isinstance(value, dict) and value and all(isinstance(k, str) and v in CONVENTIONS for k, v in value.items())
        if not ok:
            return f"data_sets must map data set names to a lung convention ({', '.join(CONVENTIONS)}), got {value!r}"
    if name == "lr_schedule" and value is not None:
        ok = isinstance(value, dict) and value.get("kind") == "step" and set(value) == {"kind", "step_epochs", "factor"} \
            and _is_number(value["step_epochs"]) and value["step_epochs"] > 0 and _is_number(value["factor"])
        if not ok:
            return f"unknown lr_schedule {value!r}; supported: {{kind: step, step_epochs, factor}}"
    return None


DEFAULTS: dict = TrainConfig().as_dict()  # every parameter and its default, in field order


def check_keys(keys, where: str) -> None:
    """ValueError naming the valid keys if any of ``keys`` is not a parameter."""
    unknown = sorted(set(keys) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"unknown parameter(s) {', '.join(unknown)} in {where}; "
                         f"valid: {', '.join(sorted(DEFAULTS))}")


def profile_names() -> list[str]:
    """The profiles there are: the names of ``params/*.yaml``."""
    return sorted(p.stem for p in PARAMS_DIR.glob("*.yaml"))


def profile_params(profile: str, _chain: tuple = ()) -> dict:
    """The parsed ``params/<profile>.yaml`` (``seeds``: the seeds its protocol trains, when it
    names them; each run gets one with ``lungseg train --seed K``).

    ``extends: BASE`` starts from ``params/BASE.yaml``: the profile's own keys replace the base's,
    and its ``models`` sections update the base's model by model.
    """
    path = PARAMS_DIR / f"{profile}.yaml"
    if not path.exists():
        raise ValueError(f"unknown profile {profile!r}; valid profiles: {', '.join(profile_names())}")
    own = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    base_name = own.pop("extends", None)
    if base_name is None:
        return own
    if base_name in _chain + (profile,):
        raise ValueError(f"{path}: 'extends: {base_name}' makes a loop ({' -> '.join(_chain + (profile, base_name))})")
    base = profile_params(base_name, _chain + (profile,))
    models = {**(base.get("models") or {})}
    for model, values in (own.pop("models", None) or {}).items():
        models[model] = {**(models.get(model) or {}), **(values or {})}
    return {**base, **own, "models": models}


def parse_set(items: list[str]) -> dict:
    """Parse ``key=value`` strings; values are read as YAML (numbers, lists, null, ...)."""
    out = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"--set expects key=value, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip()] = yaml.safe_load(value)
    return out


def layers(model: str, profile: str, overrides: dict | None = None) -> list[tuple[str, dict]]:
    """The layers of the precedence, lowest first, each ``(where, values)``: the model's recipe,
    the profile, its per-model section, the overrides (unknown keys are a ValueError)."""
    from ..core.models import get_spec

    params = dict(profile_params(profile))
    per_model = params.pop("models", {}) or {}
    for key in PROTOCOL_KEYS:
        params.pop(key, None)
    recipe = dict(get_spec(model).recipe)
    recipe["recipe_source"] = recipe.pop("source", "")
    out = [(f"the recipe of {model}", recipe), (f"params/{profile}.yaml", params),
           (f"params/{profile}.yaml models.{model}", per_model.get(model, {}) or {}),
           ("the overrides", overrides or {})]
    for where, values in out:
        check_keys(values, where)
    return out


def resolve_config(model: str, profile: str, overrides: dict | None = None) -> TrainConfig:
    """The full training configuration of ``model`` under ``profile`` with ``overrides``."""
    from ..core.models import get_spec

    values = dict(DEFAULTS)
    for _, layer in layers(model, profile, overrides):
        values.update(layer)
    values["model"], values["profile"] = model, profile
    config = TrainConfig(**values)
    if config.schedule_scaling == "proportional" and config.lr_schedule:
        config = config.replace(lr_schedule=scale_schedule(config.lr_schedule, get_spec(model).recipe["epochs"],
                                                           config.epochs))
    return config


def scale_schedule(schedule: dict, recipe_epochs: int, epochs: int) -> dict:
    """A step schedule made for ``recipe_epochs`` stretched to ``epochs`` (same steps per run).

    The rule of the fair protocol: the learning rate takes the same values at the same fraction
    of training, so a run of 30 epochs goes through the whole schedule of a 100-epoch recipe.
    """
    scaled = dict(schedule)
    scaled["step_epochs"] = round(schedule["step_epochs"] * epochs / recipe_epochs, 6)
    return scaled


def learning_rate_at(config: TrainConfig, epoch: int) -> float:
    """The learning rate of an epoch (0-based) under the config's schedule (None or a step schedule)."""
    schedule, lr = config.lr_schedule, config.learning_rate
    if not schedule:
        return lr
    return lr * schedule["factor"] ** math.floor(epoch / schedule["step_epochs"] + 1e-9)


def schedule_halvings(config: TrainConfig) -> int:
    """How many times the step schedule has cut the learning rate by the config's last epoch
    (counted in steps of its ``factor``; 0 without a schedule)."""
    if not config.lr_schedule:
        return 0
    last = learning_rate_at(config, config.epochs - 1) / config.learning_rate
    return round(math.log(last, config.lr_schedule["factor"]))
