"""Small building blocks shared by the model families."""

from __future__ import annotations

_HEAD_ACTIVATION = {"softmax": "softmax", "sigmoid": "sigmoid", "logits": "linear"}


def conv_bn_relu(x, filters, kernel_size=3, batch_norm=True, use_bias=None, name=None):
    """Conv2D (same padding) -> [BatchNorm] -> ReLU. The conv has a bias only without BN
    unless `use_bias` says otherwise."""
    from keras import layers

    use_bias = not batch_norm if use_bias is None else use_bias
    x = layers.Conv2D(filters, kernel_size, padding="same", use_bias=use_bias,
                      name=name and f"{name}_conv")(x)
    if batch_norm:
        x = layers.BatchNormalization(name=name and f"{name}_bn")(x)
    return layers.Activation("relu", name=name and f"{name}_relu")(x)


def gray_to_rgb(x, name="gray_to_rgb"):
    """Replicate a 1-channel input to the 3 channels an ImageNet-style backbone expects."""
    from keras import layers

    return layers.Concatenate(axis=-1, name=name)([x, x, x])


def output_head(x, head, num_classes=2):
    """1x1 conv + final activation (float32, so mixed precision stays stable).

    softmax: `num_classes` channels (lung = channel 1); sigmoid / logits: 1 channel.
    """
    from keras import layers

    if head not in _HEAD_ACTIVATION:
        raise ValueError(f"head must be one of {sorted(_HEAD_ACTIVATION)}; got {head!r}")
    channels = num_classes if head == "softmax" else 1
    x = layers.Conv2D(channels, 1, name="head_conv")(x)
    return layers.Activation(_HEAD_ACTIVATION[head], dtype="float32", name="prediction")(x)


def lung_channels(model, n: int):
    """``model`` with its output head replaced by ``n`` sigmoid lung channels, one per lung
    convention (a model trained on data sets that draw the lung differently; each channel is
    supervised only by its own sets): the 1x1 convolution that :func:`output_head` names
    ``head_conv`` gets ``n`` filters, the rest of the network stays as it is."""
    import keras
    from keras import layers

    features = model.get_layer("head_conv").input
    x = layers.Conv2D(n, 1, name="head_conv")(features)
    out = layers.Activation("sigmoid", dtype="float32", name="prediction")(x)
    return keras.Model(model.inputs, out, name=model.name)


def iter_layers(model):
    """All layers of `model`, descending into nested models (e.g. the NASNet encoder)."""
    import keras

    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from iter_layers(layer)


def apply_l2(model, factor):
    """Put an L2(`factor`) regularizer on every conv / dense kernel (kept in the saved config)."""
    import keras

    kernels = {"kernel": "kernel_regularizer", "depthwise_kernel": "depthwise_regularizer",
               "pointwise_kernel": "pointwise_regularizer"}
    for layer in iter_layers(model):
        for attr, reg_attr in kernels.items():
            var = getattr(layer, attr, None)
            if var is not None and hasattr(layer, reg_attr):
                reg = keras.regularizers.L2(factor)
                setattr(layer, reg_attr, reg)
                var.regularizer = reg
    return model
