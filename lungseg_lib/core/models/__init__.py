"""Model zoo: the paper's NASNet-Large-Decoder Net and seven comparison models.

    build_model(name, input_shape=(256, 256, 1), num_classes=2, weights_path=None, **overrides)
    get_spec(name) -> ModelSpec; list_models() -> list[str]
    check_input_shape(name, input_shape); count_params(model)
    registry_table() -> DataFrame: the registry as data (no model built, no TensorFlow)
    model_table(sizes=(256,)) -> DataFrame: the same, parameters counted on built models
    deviation_table(models=None) -> DataFrame: where each model departs from its paper

Every model takes a grayscale (H, W, 1) float32 image in [0, 1] and predicts at the input's
resolution through a float32 head: "softmax" (num_classes channels, lung = channel 1),
"sigmoid" (1-channel probability) or "logits" (1-channel raw logits). No weights are
downloaded; `weights_path` loads local weights.

The registry is the one list of models (the book, the command line and `scripts/train_all.sh`
read it). Reading it imports no TensorFlow: the family modules import Keras when a model is
built (:func:`register_custom_layers` before loading a saved model).
"""

from __future__ import annotations

import dataclasses
import os

from . import deeplabv3plus, nasnet_decoder, resnet_unet, segnet, unet, unet3_compact, unet22
from .blocks import apply_l2
from .spec import HEADS, Deviation, ModelSpec

__all__ = ["KIND_LABELS", "Deviation", "ModelSpec", "build_model", "check_input_shape", "count_params",
           "deviation_table", "get_spec", "list_models", "model_table", "register_custom_layers", "registry_table"]

_SPECS = {s.name: s for s in (
    nasnet_decoder.SPEC, segnet.SPEC, unet.SPEC, deeplabv3plus.SPEC,
    resnet_unet.RESNET50_UNET, resnet_unet.RESNET101_UNET, unet22.SPEC, unet3_compact.SPEC)}

_EXAMPLE_SIZES = (64, 128, 256, 512)


def list_models() -> list[str]:
    """Names of all registered models, in registry order (the paper's model first)."""
    return list(_SPECS)


def get_spec(name: str) -> ModelSpec:
    """The `ModelSpec` of `name` (with a private copy of its recipe); KeyError lists valid names."""
    if name not in _SPECS:
        raise KeyError(f"unknown model {name!r}; valid names: {', '.join(_SPECS)}")
    spec = _SPECS[name]
    return dataclasses.replace(spec, recipe=dict(spec.recipe))


def check_input_shape(name: str, input_shape) -> None:
    """Raise ValueError (naming the valid sizes) unless `input_shape` = (H, W[, 1]) suits `name`."""
    spec = get_spec(name)
    h, w, *rest = tuple(input_shape)
    if rest not in ([], [1]):
        raise ValueError(f"{name} takes 1-channel (grayscale) inputs (H, W, 1); got {tuple(input_shape)}")
    m, lo = spec.size_multiple, spec.min_size
    bad = [s for s in (h, w) if s is None or s % m or s < lo]
    if bad:
        s = bad[0] or 0
        nearest = sorted({max(lo, s // m * m), max(lo, -(-s // m) * m)})
        examples = [e for e in _EXAMPLE_SIZES if e % m == 0 and e >= lo]
        raise ValueError(
            f"{name} takes square-or-not inputs whose sides are multiples of {m} and >= {lo}; "
            f"got {h}x{w}. Nearest valid: {' or '.join(map(str, nearest))}. "
            f"Valid examples: {', '.join(map(str, examples))}")


def build_model(name: str, input_shape=(256, 256, 1), num_classes: int = 2, weights_path=None,
                **overrides):
    """Build model `name` (random init, or `weights_path` loaded).

    `overrides` go to the family builder (widths like `base_filters`, `width`,
    `decoder_filters`; `head` to switch the head); `l2=` adds an L2 kernel regularizer to
    every conv; `lungs=N` (N >= 2) replaces the head by N sigmoid channels, one per lung
    convention (:func:`blocks.lung_channels`).
    """
    spec = get_spec(name)
    input_shape = tuple(input_shape)
    if len(input_shape) == 2:
        input_shape += (1,)
    check_input_shape(name, input_shape)
    head = overrides.pop("head", spec.head)
    if head not in HEADS:
        raise ValueError(f"head must be one of {HEADS}; got {head!r}")
    l2 = overrides.pop("l2", None)
    lungs = overrides.pop("lungs", None)
    model = spec.builder(input_shape=input_shape, num_classes=num_classes, head=head, **overrides)
    if lungs:
        from .blocks import lung_channels

        model = lung_channels(model, lungs)
    if l2:
        apply_l2(model, l2)
    if weights_path is not None:
        model.load_weights(os.fspath(weights_path))
    return model


def count_params(model) -> int:
    """Total number of parameters (trainable + non-trainable, e.g. BN moving statistics)."""
    return int(model.count_params())


def register_custom_layers() -> None:
    """Make the custom layers known to Keras (SegNet's index pooling), for loading saved models."""
    from . import segnet_layers  # noqa: F401  (registers the layers on import)


def _row(spec: ModelSpec, params: int) -> dict:
    r = spec.recipe
    return dict(name=spec.name, title=spec.title, paper=spec.paper, params=params,
                valid_input_sizes=spec.valid_sizes, loss=r["loss"], optimizer=r["optimizer"],
                lr=r["learning_rate"], batch=r["batch_size"], epochs=r["epochs"])


def registry_table():
    """One row per model in registry order: name, title, paper, params (at 256 x 256 x 1 with the
    default widths, :attr:`ModelSpec.params`), valid_input_sizes, loss, optimizer, lr, batch,
    epochs. Builds nothing (the book reads it without TensorFlow)."""
    import pandas as pd

    return pd.DataFrame([_row(spec, spec.params) for spec in _SPECS.values()])


def model_table(sizes=(256,)):
    """:func:`registry_table` with the parameters counted on built models (at sizes[0];
    `params_<s>` for every size when several are given), for ``lungseg models``.

    Builds every model once per size (about a minute at 256 on 2 CPU cores).
    """
    import gc

    import pandas as pd

    rows = []
    for name, spec in _SPECS.items():
        params = {}
        for s in sizes:
            model = build_model(name, (s, s, 1))
            params[s] = count_params(model)
            del model
            gc.collect()
        row = _row(spec, params[sizes[0]])
        if len(sizes) > 1:
            keys = list(row)
            row = {k: row[k] for k in keys[:4]} | {f"params_{s}": p for s, p in params.items()} | \
                {k: row[k] for k in keys[4:]}
        rows.append(row)
    return pd.DataFrame(rows)


KIND_LABELS = {"departs": "departs from the paper", "reads": "our reading", "chooses": "our choice (paper silent)"}


def deviation_table(models=None):
    """Every model's ``deviations`` (the registry's data, no second copy): one row per record,
    columns model, title, aspect, paper, ours, reason, kind (its label in :data:`KIND_LABELS`),
    in registry order."""
    import pandas as pd

    rows = []
    for name in models or list_models():
        spec = get_spec(name)
        for d in spec.deviations:
            rows.append({"model": name, "title": spec.title, "aspect": d.aspect, "paper": d.paper,
                         "ours": d.ours, "reason": d.reason, "kind": KIND_LABELS[d.kind]})
    return pd.DataFrame(rows, columns=["model", "title", "aspect", "paper", "ours", "reason", "kind"])
