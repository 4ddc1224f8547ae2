"""Model zoo: registry, shapes and heads, size checks, parameter counts, training, save/load."""

from pathlib import Path

import keras
import numpy as np
import pytest

from lungseg_lib.core import models as M
from lungseg_lib.core.models.spec import HEADS, LOSSES, OPTIMIZERS
from lungseg_lib.engine.weights import save_for_inference

REPO = Path(__file__).resolve().parents[1]

# Tiny widths so every model builds and trains at 64x64 in seconds (backbones stay full-size).
TINY = {
    "nasnet_decoder": dict(decoder_filters=(16, 16, 8, 8)),
    "segnet": dict(width=4),
    "unet": dict(base_filters=4),
    "deeplabv3plus": dict(aspp_filters=16, low_level_filters=8, decoder_filters=16),
    "resnet50_unet": dict(decoder_filters=(16, 16, 8, 8, 8)),
    "resnet101_unet": dict(middle_filters=16, decoder_filters=(16, 8, 8)),
    "unet22": dict(base_filters=4),
    "unet3_compact": dict(filters=8),
}
# Training steps trace the whole backbone (20-45 s each on 2 cores): only the paper's NASNet
# model and the light models train in the default suite, the ResNet ones under `-m slow`.
HEAVY_TRAINING = {"deeplabv3plus", "resnet50_unet", "resnet101_unet"}
TRAIN_CASES = [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY_TRAINING else n for n in TINY]
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

RECIPE_KEYS = {"loss", "optimizer", "learning_rate", "momentum", "weight_decay", "l2", "batch_size",
               "epochs", "early_stopping_patience", "early_stopping_monitor", "lr_schedule", "image_size",
               "source"}


@pytest.fixture(scope="module")
def tiny():
    """Builds each tiny 64x64 model once per module: tiny(name) -> keras.Model."""
    cache = {}

    def get(name):
        if name not in cache:
            keras.utils.set_random_seed(0)
            cache[name] = M.build_model(name, (64, 64, 1), **TINY[name])
        return cache[name]

    return get


@pytest.fixture(scope="module")
def batch():
    """4 images of a bright noisy disk on a dark background, and the disk masks."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:64, :64]
    x, y = [], []
    for cy, cx, r in [(32, 32, 14), (24, 40, 10), (40, 26, 12), (30, 30, 18)]:
        mask = ((yy - cy) ** 2 + (xx - cx) ** 2 < r**2).astype("float32")
        x.append(np.clip(0.2 + 0.6 * mask + rng.normal(0, 0.05, mask.shape), 0, 1))
        y.append(mask)
    return np.stack(x)[..., None].astype("float32"), np.stack(y)[..., None]


def loss_for(head):
    if head == "softmax":
        return keras.losses.SparseCategoricalCrossentropy()
    return keras.losses.BinaryCrossentropy(from_logits=head == "logits")


def test_registry_and_recipes():
    assert M.list_models() == list(TINY)
    for name in M.list_models():
        spec = M.get_spec(name)
        assert spec.name == name and spec.title and spec.paper and spec.head in HEADS
        assert set(spec.recipe) == RECIPE_KEYS, name
        assert spec.recipe["loss"] in LOSSES and spec.recipe["optimizer"] in OPTIMIZERS
        assert spec.min_size % spec.size_multiple == 0
    r = M.get_spec("nasnet_decoder").recipe
    assert (r["batch_size"], r["epochs"], r["image_size"]) == (4, 100, 256)
    assert r["lr_schedule"] == {"kind": "step", "step_epochs": 5, "factor": 0.5}
    compact = M.get_spec("unet3_compact").recipe
    assert compact["l2"] == 0.01 and compact["early_stopping_monitor"] == "val_loss"  # Ainala: "validation loss"
    M.get_spec("unet").recipe["epochs"] = -1  # get_spec hands out a copy
    assert M.get_spec("unet").recipe["epochs"] == 50


def test_unknown_name_lists_valid_names():
    with pytest.raises(KeyError, match="nasnet_decoder.*unet3_compact"):
        M.build_model("nasnet")


@pytest.mark.parametrize("name, shape, expected", [
    ("nasnet_decoder", (100, 100, 1), "multiples of 16 and >= 32; got 100x100. Nearest valid: 96 or 112. "
                                      "Valid examples: 64, 128, 256, 512"),
    ("nasnet_decoder", (16, 16, 1), ">= 32"),
    ("segnet", (64, 80, 1), "multiples of 32"),
    ("resnet101_unet", (48, 48), "multiples of 32"),
    ("unet", (64, 64, 3), "1-channel"),
])
def test_bad_input_size_names_valid_sizes(name, shape, expected):
    with pytest.raises(ValueError) as err:
        M.build_model(name, shape)
    assert expected in str(err.value)


@pytest.mark.parametrize("name", list(TINY))
def test_builds_at_64_with_right_head(name, tiny, batch):
    model, head = tiny(name), M.get_spec(name).head
    y = np.asarray(model(batch[0], training=False))
    assert y.dtype == np.float32
    assert y.shape == (4, 64, 64, 2 if head == "softmax" else 1)
    assert np.isfinite(y).all()
    if head == "softmax":
        np.testing.assert_allclose(y.sum(-1), 1.0, atol=1e-5)
    if head == "sigmoid":
        assert y.min() >= 0 and y.max() <= 1
    assert model.layers[-1].dtype_policy.compute_dtype == "float32"


def test_head_and_l2_overrides(tmp_path):
    keras.utils.set_random_seed(0)
    m = M.build_model("unet3_compact", (32, 48, 1), num_classes=3, head="softmax", filters=4)
    assert m.output.shape == (None, 32, 48, 3)
    m = M.build_model("unet22", (32, 32), head="logits", base_filters=4)
    assert m.output.shape == (None, 32, 32, 1) and m.layers[-1].get_config()["activation"] == "linear"
    m = M.build_model("unet3_compact", (64, 64, 1), filters=4, l2=0.01)
    assert len(m.losses) == 13  # 10 conv kernels, 2 transposed-conv kernels, the head conv
    m.save(tmp_path / "l2.keras")
    assert len(keras.models.load_model(tmp_path / "l2.keras").losses) == 13


def test_mixed_precision_head_is_float32(batch):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        m = M.build_model("unet3_compact", (64, 64, 1), filters=4)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert m.layers[-2].compute_dtype == "float16"
    assert np.asarray(m(batch[0])).dtype == np.float32


def test_registry_parameter_counts_match_the_built_models():
    """Builds all eight models at 256x256x1 once: the registry's `params` (what the book shows,
    read without building) must be the built models' counts."""
    built, registry = M.model_table(), M.registry_table()
    assert built.equals(registry), built.compare(registry)
    params = dict(zip(built.name, built.params))
    assert abs(params["nasnet_decoder"] - 6.66e6) < 0.01e6
    assert params["unet22"] == 5_473_345  # paper: 5,469,473 (our Table I reading, see unet22 docstring)
    assert built.name.tolist() == M.list_models()


def _check_cut(model, side):
    encoder = model.get_layer("nasnet_encoder")
    cut = encoder.output._keras_history.operation
    assert isinstance(cut, keras.layers.Activation) and cut.get_config()["activation"] == "relu"
    assert tuple(encoder.output.shape) == (None, side // 16, side // 16, 336)
    source = cut._inbound_nodes[0].input_tensors[0]._keras_history.operation
    assert source.name == "separable_conv_1_bn_reduction_right2_reduce_6"
    assert M.count_params(encoder) == 3_554_418


def test_nasnet_encoder_cut_is_reduce6_relu(tiny):
    _check_cut(tiny("nasnet_decoder"), 64)
    model = M.build_model("nasnet_decoder", (256, 256, 1))
    _check_cut(model, 256)
    assert M.count_params(model) == 6_655_924


def test_nasnet_cut_is_checked_when_the_model_is_built(tiny):
    """Another Keras could number NASNet's layers otherwise: building then fails, naming the version."""
    from lungseg_lib.core.models.nasnet_decoder import ENCODER_LAYERS, check_encoder_cut

    encoder = tiny("nasnet_decoder").get_layer("nasnet_encoder")
    check_encoder_cut(encoder.output._keras_history.operation, (64, 64, 1))  # the cut itself passes
    one_before = keras.applications.NASNetLarge(weights=None, include_top=False, input_shape=(64, 64, 3))
    for layer, size in ((one_before.layers[ENCODER_LAYERS - 1], 64), (one_before.layers[ENCODER_LAYERS], 128)):
        with pytest.raises(RuntimeError, match=rf"Keras {keras.__version__} builds NASNetLarge with layer 414"):
            check_encoder_cut(layer, (size, size, 1))


def test_nasnet_batch_norms_use_momentum_099(tiny):
    """Keras' 0.9997 leaves moving statistics unconverged in short from-scratch runs."""
    encoder = tiny("nasnet_decoder").get_layer("nasnet_encoder")
    momenta = {l.momentum for l in encoder.layers if isinstance(l, keras.layers.BatchNormalization)}
    assert momenta == {0.99}


@pytest.mark.parametrize("name", TRAIN_CASES)
def test_few_steps_reduce_loss(name, tiny, batch):
    keras.utils.set_random_seed(0)
    model = keras.models.clone_model(tiny(name))  # fresh weights, the shared model stays untouched
    model.compile(keras.optimizers.Adam(1e-3), loss_for(M.get_spec(name).head))
    losses = [float(model.train_on_batch(*batch)) for _ in range(4)]
    assert losses[-1] < losses[0], losses


@pytest.mark.parametrize("name", ["segnet", "nasnet_decoder", "unet22"])
def test_keras_save_load_and_weights_path(name, tiny, batch, tmp_path):
    model = tiny(name)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(model.predict(batch[0], verbose=0), loaded.predict(batch[0], verbose=0))
    released = keras.models.load_model(save_for_inference(tmp_path / "m.keras", tmp_path / "r.keras"))
    np.testing.assert_array_equal(model.predict(batch[0], verbose=0), released.predict(batch[0], verbose=0))
    model.save_weights(tmp_path / "m.weights.h5")
    keras.utils.set_random_seed(1)
    again = M.build_model(name, (64, 64, 1), weights_path=tmp_path / "m.weights.h5", **TINY[name])
    np.testing.assert_array_equal(model.predict(batch[0], verbose=0), again.predict(batch[0], verbose=0))


def test_compact_unet_upsamples_with_transposed_convolutions(tiny):
    """Ainala's abstract: "the decoder uses transposed convolutions to up-sample"."""
    kinds = {type(layer).__name__ for layer in tiny("unet3_compact").layers}
    assert "Conv2DTranspose" in kinds and "UpSampling2D" not in kinds


def test_unet22_follows_table_one_layer_names():
    """The Table I reading: conv2d_1..conv2d_21 + head, 4 max-pools, 4 up-samplings, 3 channels in."""
    model = M.build_model("unet22", (64, 64, 1), base_filters=4)
    names = [layer.name for layer in model.layers]
    assert [n for n in names if n.startswith("conv2d_")] == [f"conv2d_{i}" for i in range(1, 22)]
    assert sum(n.startswith("max_pooling2d_") for n in names) == 4
    assert sum(n.startswith("up_sampling2d_") for n in names) == 4
    assert model.get_layer("conv2d_1").input.shape[-1] == 3
    assert model.get_layer("conv2d_9").filters == 8 and model.get_layer("conv2d_18").filters == 16


def test_every_model_lists_its_deviations_from_its_paper():
    """The registry states, as data, where each model departs from, reads or fills in its paper;
    the book's deviation table is this function's output (no second copy)."""
    table = M.deviation_table()
    assert list(table.columns) == ["model", "title", "aspect", "paper", "ours", "reason", "kind"]
    assert list(dict.fromkeys(table["model"])) == M.list_models()  # every model, registry order
    assert set(table["kind"]) <= set(M.KIND_LABELS.values()) and (table[["paper", "ours", "reason"]] != "").all().all()
    aspects = table.groupby("model")["aspect"].apply(set)
    assert all("training augmentation" in a for a in aspects)
    for model, needed in {
        "nasnet_decoder": {"input size", "encoder batch-norm momentum", "loss", "optimizer and learning rate",
                           "schedule", "early stopping and the weights kept"},
        "segnet": {"encoder weights"}, "deeplabv3plus": {"which DeepLab", "backbone"},
        "resnet50_unet": {"encoder weights", "weight decay", "input size"},
        "resnet101_unet": {"encoder weights", "first convolution"},
        "unet3_compact": {"encoder weights", "early stopping", "data"}, "unet22": {"architecture"},
    }.items():
        assert needed <= aspects[model], (model, needed - aspects[model])
    rows = table.set_index(["model", "aspect"])
    assert "1412.7062" in rows.loc[("deeplabv3plus", "which DeepLab"), "paper"]  # the paper's DeepLab v1
    assert rows.loc[("nasnet_decoder", "input size"), "paper"].startswith("not stated")  # 256 px is our choice
    assert "0.99" in rows.loc[("nasnet_decoder", "encoder batch-norm momentum"), "ours"]
    with pytest.raises(ValueError, match="kind"):
        M.Deviation("a", "b", "c", "d", kind="guess")


@pytest.mark.parametrize("name, kwargs, gflop", [
    ("unet3_compact", {}, 26.7), ("unet", {"base_filters": 64}, 96.2), ("unet", {"base_filters": 32}, 24.1),
    ("unet", {"base_filters": 16}, 6.0), ("unet22", {"base_filters": 32}, 35.5)])
def test_flops_per_image_are_counted_from_the_layers(name, kwargs, gflop):
    """2 operations per multiply-add of every convolution at 256 px (the counts the default
    model's selection reads: time roughly follows them on these CPUs)."""
    from lungseg_lib.core.models import build_model
    from lungseg_lib.core.models.flops import count_flops

    assert count_flops(build_model(name, (256, 256, 1), **kwargs)) / 1e9 == pytest.approx(gflop, abs=0.05)
