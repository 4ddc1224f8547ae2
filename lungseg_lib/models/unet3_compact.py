"""Compact 3-level U-Net of Ainala, "Lung Segmentation from CT Scans using Neural Networks" (2023)."""

from __future__ import annotations

import keras
from keras import layers

from .blocks import conv_bn_relu, output_head
from .spec import ModelSpec, recipe


def build_unet3_compact(input_shape=(256, 256, 1), num_classes=2, head="sigmoid", filters=64,
                        levels=3):
    """`levels` (3) resolution levels of `filters` (64) channels each (the paper's numbers).

    Encoder: 2x conv-BN-ReLU per level, 2x2 max-pool down. Decoder: a 2x2 stride-2
    transposed convolution up ("the decoder uses transposed convolutions to up-sample", the
    paper's abstract), the skip concatenated, 2x conv-BN-ReLU. Head: 1x1 conv + sigmoid.
    Two convolutions per level and batch normalisation are our choice (the paper is silent).
    The paper's L2 0.01 is in the recipe; `build_model(..., l2=0.01)` puts it on every kernel.
    """
    inputs = keras.Input(input_shape, name="image")
    x, skips = inputs, []
    for level in range(levels):
        if level:
            skips.append(x)
            x = layers.MaxPooling2D(2, name=f"pool{level}")(x)
        for i in range(2):
            x = conv_bn_relu(x, filters, name=f"enc{level}_{i}")
    for level in reversed(range(levels - 1)):
        x = layers.Conv2DTranspose(filters, 2, strides=2, name=f"up{level}")(x)
        x = layers.Concatenate(name=f"skip{level}")([x, skips[level]])
        for i in range(2):
            x = conv_bn_relu(x, filters, name=f"dec{level}_{i}")
    return keras.Model(inputs, output_head(x, head, num_classes), name="unet3_compact")


SPEC = ModelSpec(
    name="unet3_compact",
    title="Compact 3-level U-Net",
    paper="Ainala 2023, 'Lung Segmentation from CT Scans using Neural Networks'",
    builder=build_unet3_compact,
    head="sigmoid",
    recipe=recipe(
        loss="bce", optimizer="adam", learning_rate=1e-4, batch_size=4, epochs=50,
        early_stopping_patience=5, early_stopping_monitor="val_loss", l2=0.01, image_size=256,
        source=("paper: BCE, Adam lr 1e-4, 50 epochs with early stopping (patience 5), batch 4, "
                "L2 0.01 on conv kernels; our choice: 256 px")),
    size_multiple=4,
    min_size=4,
    notes="Override: filters=..., levels=...; size_multiple is 2**(levels-1) for the default.",
)
