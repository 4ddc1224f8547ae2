"""The U-Net of Table I in Sarada & Thirupathi Rao, "Lung Semantic Segmentation using CNN" (2019).

The paper lists a 256x256x3-input U-Net with 64-filter first level, three concatenating
up stages, a sigmoid output and 5,469,473 parameters; the table itself was not available
to us. We tried several thousand plausible readings (levels, convs per level, bridge width, BN,
up-conv kind/width, head) and none gives exactly 5,469,473. We build the simplest reading
whose count is closest:

* encoder levels 64/128/256, each 2x [3x3 conv (with bias) -> BN -> ReLU], 2x2 max-pool;
* a 256-filter bridge (2x conv-BN-ReLU) at stride 8;
* 3 up stages: Conv2DTranspose(2x2, stride 2, keeping the channel count) -> concatenate
  the skip -> 2x conv-BN-ReLU with the skip's width (256, 128, 64);
* 1x1 conv -> sigmoid.

That is 5,432,961 parameters (4,608 of them BN moving statistics), 36,512 (0.67 %) fewer
than the paper's 5,469,473. The textbook reading (bridge 512, up-convs halving the
channels, no BN) gives 7.70 M, far off. Our input is 1-channel, replicated to the
paper's 3 channels inside the model, so the count is the paper's 3-channel one.
"""

from __future__ import annotations

import keras
from keras import layers

from .blocks import conv_bn_relu, gray_to_rgb, output_head
from .spec import ModelSpec, recipe


def build_unet22(input_shape=(256, 256, 1), num_classes=2, head="sigmoid", base_filters=64):
    """Table-I U-Net (see module docstring): 3 poolings, 256-wide bridge, sigmoid head."""
    inputs = keras.Input(input_shape, name="image")
    x, skips = gray_to_rgb(inputs), []
    for level in range(3):
        for i in range(2):
            x = conv_bn_relu(x, base_filters * 2**level, use_bias=True, name=f"enc{level}_{i}")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"pool{level}")(x)
    for i in range(2):
        x = conv_bn_relu(x, base_filters * 4, use_bias=True, name=f"bridge_{i}")
    for level in reversed(range(3)):
        x = layers.Conv2DTranspose(x.shape[-1], 2, strides=2, name=f"up{level}")(x)
        x = layers.Concatenate(name=f"skip{level}")([x, skips[level]])
        for i in range(2):
            x = conv_bn_relu(x, base_filters * 2**level, use_bias=True, name=f"dec{level}_{i}")
    return keras.Model(inputs, output_head(x, head, num_classes), name="unet22")


SPEC = ModelSpec(
    name="unet22",
    title="U-Net (Table I)",
    paper="Sarada & Thirupathi Rao 2019, 'Lung Semantic Segmentation using CNN'",
    builder=build_unet22,
    head="sigmoid",
    recipe=recipe(
        loss="bce", optimizer="adam", learning_rate=1e-3, batch_size=16, epochs=50, image_size=256,
        source=("paper: 256x256x3 input, (binary) cross-entropy, sigmoid output; our choice: "
                "Adam lr 1e-3, batch 16, 50 epochs")),
    size_multiple=8,
    min_size=8,
    notes="Paper: 5,469,473 params; ours 5,432,961 (closest plausible reading, see docstring).",
)
