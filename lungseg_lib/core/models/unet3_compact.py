"""Compact 3-level U-Net of Ainala, "Lung Segmentation from CT Scans using Neural Networks" (2023)."""

from __future__ import annotations

from .blocks import conv_bn_relu, output_head
from .spec import NO_DOWNLOAD, Deviation, ModelSpec, augmentation, recipe


def build_unet3_compact(input_shape=(256, 256, 1), num_classes=2, head="sigmoid", filters=64,
                        levels=3):
    """`levels` (3) resolution levels of `filters` (64) channels each (the paper's numbers).

    Encoder: 2x conv-BN-ReLU per level, 2x2 max-pool down. Decoder: a 2x2 stride-2
    transposed convolution up ("the decoder uses transposed convolutions to up-sample", the
    paper's abstract), the skip concatenated, 2x conv-BN-ReLU. Head: 1x1 conv + sigmoid.
    Two convolutions per level and batch normalisation are our choice (the paper is silent).
    The paper's L2 0.01 is in the recipe; `build_model(..., l2=0.01)` puts it on every kernel.
    """
    import keras
    from keras import layers

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
        source=("paper: BCE, Adam lr 1e-4, 50 epochs with early stopping on validation loss "
                "(patience 5), batch 4, L2 0.01, 256x256 slices; our reading: L2 on every conv kernel")),
    size_multiple=4,
    min_size=4,
    params=441_601,  # at 256 x 256 x 1, default widths (checked by tests)
    notes="Override: filters=..., levels=...; size_multiple is 2**(levels-1) for the default.",
    deviations=(
        Deviation("encoder weights", '"We initialize encoder weights from an ImageNet pre-trained network" '
                  "(Sec. 3.1)", "random initialisation",
                  "no ImageNet-trained network has this encoder's shape (3 levels of 64 filters); " + NO_DOWNLOAD,
                  "departs"),
        Deviation("data", '"1000 CT scans from the publicly available RSNA Pneumonia Detection Challenge '
                  'dataset" (Sec. 2), central 256 x 256 axial slices', "chest X-rays, as every model here",
                  "the named source is a set of chest X-rays, not CT volumes (see the CT chapter)", "departs"),
        Deviation("head", '"The bottleneck output is processed by a 1x1 convolution and sigmoid activation" '
                  "(Sec. 3.1)", "a 1 x 1 convolution and sigmoid on the last decoder stage's output",
                  "our reading: a mask at the input's size needs the decoder's output", "reads"),
        Deviation("convolutions per level", '"3 resolution levels each using 64 convolutional filters", '
                  '"Batch normalization" (Sec. 3.1)', "two 3 x 3 conv-BN-ReLU per level", "our choice"),
        Deviation("L2", '"L2 regularization of 0.01 throughout experiments" (Sec. 3.2)',
                  "L2 0.01 on every convolution kernel", "our reading: the target is not named", "reads"),
        Deviation("early stopping", '"early stopping if validation loss doesn\'t improve in 5 successive epochs" '
                  "(Sec. 3.2)", "as the paper in the paper profile; none in the cpu profile; the weights of "
                  "the best validation Dice are kept", "the cpu profile gives every model the same epochs",
                  "departs"),
        augmentation(),
    ),
)
