"""U-Net (Ronneberger, Fischer & Brox, MICCAI 2015) with same padding."""

from __future__ import annotations

from .blocks import conv_bn_relu, output_head
from .spec import Deviation, ModelSpec, augmentation, input_size, recipe, selection


def build_unet(input_shape=(256, 256, 1), num_classes=2, head="softmax", base_filters=64,
               depth=4, batch_norm=False):
    """Classic U-Net: `depth` (4) poolings, two 3x3 conv+ReLU per level, 2x2 up-convs, skips.

    Deviation from the paper: 'same' padding (output at input resolution, no cropping).
    No batch norm by default, as in the paper (`batch_norm=True` adds it).
    """
    import keras
    from keras import layers

    inputs = keras.Input(input_shape, name="image")
    x, skips = inputs, []
    for level in range(depth):
        for i in range(2):
            x = conv_bn_relu(x, base_filters * 2**level, batch_norm=batch_norm, name=f"enc{level}_{i}")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"pool{level}")(x)
    for i in range(2):
        x = conv_bn_relu(x, base_filters * 2**depth, batch_norm=batch_norm, name=f"bridge_{i}")
    for level in reversed(range(depth)):
        filters = base_filters * 2**level
        x = layers.Conv2DTranspose(filters, 2, strides=2, name=f"up{level}")(x)
        x = layers.Concatenate(name=f"skip{level}")([x, skips[level]])
        for i in range(2):
            x = conv_bn_relu(x, filters, batch_norm=batch_norm, name=f"dec{level}_{i}")
    return keras.Model(inputs, output_head(x, head, num_classes), name="unet")


SPEC = ModelSpec(
    name="unet",
    title="U-Net",
    paper="Ronneberger et al. 2015, MICCAI",
    builder=build_unet,
    head="softmax",
    recipe=recipe(
        loss="softmax_ce", optimizer="adam", learning_rate=1e-4, batch_size=8, epochs=50,
        image_size=256,
        source=("paper: softmax cross-entropy; our choice: Adam lr 1e-4 (paper: SGD momentum "
                "0.99, batch 1 of large tiles), batch 8, 50 epochs, 256 px")),
    size_multiple=16,
    min_size=16,
    params=31_030_658,  # at 256 x 256 x 1, default widths (checked by tests)
    notes="Same padding instead of the paper's valid convs + cropping; override: base_filters=...",
    deviations=(
        Deviation("what the reproduced paper compares", 'Zhang\'s Table 1 row "U-Net [20]" with no recipe '
                  "(Sec. 3.3)", "U-Net trained here with the recipe below",
                  "the reproduced paper does not say how it trained U-Net", "chooses"),
        Deviation("padding", "unpadded convolutions, skips cropped", "same padding, no cropping",
                  "the output has the input's size, as every other model's", "departs"),
        Deviation("optimizer and batch", "SGD with momentum 0.99, one large tile per batch",
                  "Adam, lr 1e-4, batch 8", "comparability with the other models", "departs"),
        Deviation("loss", "cross-entropy weighted by a map that separates touching cells",
                  "unweighted cross-entropy", "there are no touching objects of one class to separate",
                  "departs"),
        augmentation("elastic deformations, shifts and rotations"),
        input_size("tiles of 572 x 572 (other data)", kind="departs"),
        selection(),
    ),
)
