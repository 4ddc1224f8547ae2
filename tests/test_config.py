"""The training configuration (lungseg_lib.engine.config): the precedence of its layers, its
validation, the step schedule and its scaling. Reads params/*.yaml; no TensorFlow."""

import dataclasses
import math

import pytest
import yaml

from lungseg_lib.core.models import get_spec
from lungseg_lib.engine import config as C


@pytest.fixture
def params_dir(tmp_path, monkeypatch):
    """A params/ folder with one profile, ``layered``: the test writes its YAML."""
    monkeypatch.setattr(C, "PARAMS_DIR", tmp_path)

    def write(**profile):
        (tmp_path / "layered.yaml").write_text(yaml.safe_dump(profile), encoding="utf-8")
        return "layered"

    return write


def test_precedence_recipe_profile_per_model_overrides(params_dir):
    """Later wins: defaults < the model's recipe < the profile < its per-model section < overrides."""
    recipe = get_spec("unet").recipe
    assert recipe["batch_size"] != C.DEFAULTS["batch_size"]  # the recipe sets it
    profile = params_dir(epochs=3, seed=1, image_size=64, models={"unet": {"seed": 2, "image_size": 32}})
    config = C.resolve_config("unet", profile, {"image_size": 16})
    assert config.loss == C.DEFAULTS["loss"] == recipe["loss"]  # nobody changed it
    assert config.batch_size == recipe["batch_size"]  # recipe over defaults
    assert config.epochs == 3  # profile over recipe
    assert config.seed == 2  # per-model section over profile
    assert config.image_size == 16  # overrides over everything
    assert (config.model, config.profile) == ("unet", "layered")
    other = C.resolve_config("segnet", profile)  # another model's section does not apply
    assert (other.seed, other.image_size) == (1, 64)
    assert config.recipe_source == recipe["source"]


@pytest.mark.parametrize("where, profile, overrides", [
    ("layered.yaml", {"epoch": 3}, {}),
    ("layered.yaml models.unet", {"models": {"unet": {"epoch": 3}}}, {}),
    ("the overrides", {}, {"epoch": 3}),
])
def test_unknown_key_names_its_layer(params_dir, where, profile, overrides):
    with pytest.raises(ValueError, match=rf"unknown parameter\(s\) epoch in (params/)?{where}; valid: "):
        C.resolve_config("unet", params_dir(**profile), overrides)


@pytest.mark.parametrize("overrides, message", [
    ({"epochs": 0}, "epochs must be a whole number >= 1"),
    ({"batch_size": 2.5}, "batch_size must be a whole number"),
    ({"learning_rate": "1e-3"}, "write 1e-3 as 0.001"),
    ({"loss": "mse"}, "loss 'mse'; valid: softmax_ce"),
    ({"optimizer": "lamb"}, "optimizer 'lamb'"),
    ({"early_stopping_monitor": "val_iou"}, "valid: val_dice, val_loss"),
    ({"schedule_scaling": "linear"}, "valid: null, proportional"),
    ({"augment_strength": "huge"}, "valid: default, strong"),
    ({"normalize": "zscore"}, "normalize 'zscore'; valid: null, clahe"),
    ({"post_fill_holes": 1}, "post_fill_holes must be true or false"),
    ({"lr_schedule": {"kind": "cosine"}}, "supported: {kind: step"),
    ({"augment": "yes"}, "augment must be true or false"),
])
def test_wrong_values_are_errors(overrides, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("{", r"\{")):
        C.resolve_config("unet", "smoke", overrides)


def test_config_is_frozen_and_records_every_parameter():
    config = C.resolve_config("nasnet_decoder", "smoke")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.epochs = 5
    assert list(config.as_dict()) == list(C.DEFAULTS)  # what config.json records, in field order
    assert config.replace(epochs=5).epochs == 5 and config.epochs != 5
    assert C.TrainConfig.from_dict(config.as_dict()) == config
    old = {k: v for k, v in config.as_dict().items() if k != "augment_strength"}  # a run made before the key
    assert C.TrainConfig.from_dict(old).augment_strength == "default"
    with pytest.raises(ValueError, match="unknown parameter"):
        C.TrainConfig.from_dict({**config.as_dict(), "nope": 1})


def test_step_schedule():
    config = C.TrainConfig(learning_rate=0.1, epochs=12, lr_schedule={"kind": "step", "step_epochs": 5, "factor": 0.5})
    assert [C.learning_rate_at(config, e) for e in (0, 4, 5, 9, 10, 11)] == [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]
    assert C.schedule_halvings(config) == 2
    assert C.learning_rate_at(config.replace(lr_schedule=None), 50) == 0.1
    assert C.schedule_halvings(config.replace(lr_schedule=None)) == 0
    # a step that falls on an epoch boundary in floating point still counts (0.6 * 5 = 3.0000000000000004)
    fine = config.replace(lr_schedule={"kind": "step", "step_epochs": 0.6, "factor": 0.5})
    assert C.learning_rate_at(fine, 3) == pytest.approx(0.1 * 0.5 ** 5)


def test_proportional_scaling_keeps_the_schedule_s_fractions():
    """The fair protocol: 12 epochs go through the whole schedule of a 100-epoch recipe."""
    recipe = get_spec("nasnet_decoder").recipe
    config = C.resolve_config("nasnet_decoder", "cpu")
    assert config.schedule_scaling == "proportional"
    step = recipe["lr_schedule"]["step_epochs"] * config.epochs / recipe["epochs"]
    assert config.lr_schedule["step_epochs"] == pytest.approx(step)
    assert C.scale_schedule({"kind": "step", "step_epochs": 5, "factor": 0.5}, 100, 30)["step_epochs"] == 1.5
    unscaled = C.resolve_config("nasnet_decoder", "cpu", {"schedule_scaling": None})
    assert unscaled.lr_schedule == recipe["lr_schedule"]
    # the same fraction of training, the same learning rate (up to the epoch grid)
    fraction = 0.5
    ours = C.learning_rate_at(config, math.floor(fraction * config.epochs))
    theirs = config.learning_rate * 0.5 ** math.floor(fraction * recipe["epochs"] / recipe["lr_schedule"]["step_epochs"])
    assert ours == pytest.approx(theirs)


def test_parse_set_reads_yaml_values():
    assert C.parse_set(["epochs=5", "model_kwargs={base_filters: 8}", "lr_schedule=null"]) == \
        {"epochs": 5, "model_kwargs": {"base_filters": 8}, "lr_schedule": None}
    with pytest.raises(ValueError, match="key=value"):
        C.parse_set(["epochs"])


def test_a_profile_extends_another_and_updates_its_models(params_dir, tmp_path):
    """``extends: BASE``: own keys replace the base's, ``models`` sections merge model by model;
    a loop of ``extends`` is an error that names it."""
    base = params_dir(epochs=3, image_size=64, models={"unet": {"seed": 2, "image_size": 32}})
    (tmp_path / "child.yaml").write_text(yaml.safe_dump(
        {"extends": base, "epochs": 5, "models": {"unet": {"steps_per_epoch": 5}}}), encoding="utf-8")
    config = C.resolve_config("unet", "child")
    assert (config.epochs, config.image_size, config.seed, config.steps_per_epoch) == (5, 32, 2, 5)
    assert C.resolve_config("segnet", "child").image_size == 64
    (tmp_path / "loop.yaml").write_text(yaml.safe_dump({"extends": "child"}), encoding="utf-8")
    (tmp_path / "child.yaml").write_text(yaml.safe_dump({"extends": "loop"}), encoding="utf-8")
    with pytest.raises(ValueError, match="loop"):
        C.profile_params("child")


def test_the_recipe_readings_are_the_profiles_they_name():
    """params/cpu.yaml's readings of the NASNet-Large decoder's recipe: each names a profile,
    and each profile trains what its reading says (the learning rate per epoch, the steps)."""
    readings = C.profile_params("cpu")["readings"]
    configs = {name: C.resolve_config(readings["model"], profile) for name, profile in readings["profiles"].items()}
    rates = {name: [C.learning_rate_at(c, e) for e in range(c.epochs)] for name, c in configs.items()}
    assert rates["scaled"][5] < 0.01 * rates["scaled"][0]  # the committed runs' frozen schedule
    assert rates["unscaled"] == [1e-4] * 5 + [5e-5] * 5 + [2.5e-5] * 2
    assert rates["constant"] == [1e-4] * 12 and rates["steps5"] == [1e-4] * 100
    assert (configs["steps5"].steps_per_epoch, configs["steps5"].epochs) == (5, 100)
    assert all(c.steps_per_epoch is None and c.epochs == 12 for n, c in configs.items() if n != "steps5")
    assert {c.image_size for c in configs.values()} == {128}
