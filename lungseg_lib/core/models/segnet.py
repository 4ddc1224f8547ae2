"""SegNet: VGG16-BN encoder, decoder upsampling with the encoder's max-pooling indices.

Badrinarayanan, Kendall & Cipolla, "SegNet: A Deep Convolutional Encoder-Decoder
Architecture for Image Segmentation", IEEE TPAMI 39(12), 2017.
"""

from __future__ import annotations

from .blocks import conv_bn_relu, output_head
from .spec import NO_DOWNLOAD, Deviation, ModelSpec, augmentation, input_size, recipe, selection

# (number of convs, width multiplier of `width`) for the 5 VGG16 stages
_STAGES = ((2, 1), (2, 2), (3, 4), (3, 8), (3, 8))


def build_segnet(input_shape=(256, 256, 1), num_classes=2, head="softmax", width=64):
    """SegNet with 13 conv-BN-ReLU encoder layers, 5 index-pooling stages and a mirrored decoder.

    The decoder mirrors the encoder (13 conv-BN-ReLU layers, the last decoder conv of each
    stage reduces to the next stage's width); the classifier is a 1x1 conv + softmax.
    `width` is the first stage's filter count (64 in the paper; tiny values for smoke tests).
    """
    import keras

    from .segnet_layers import MaxPoolingWithArgmax, MaxUnpoolingWithArgmax

    inputs = keras.Input(input_shape, name="image")
    x, indices = inputs, []
    for s, (n, mult) in enumerate(_STAGES):
        for i in range(n):
            x = conv_bn_relu(x, width * mult, name=f"enc{s}_{i}")
        x, idx = MaxPoolingWithArgmax(name=f"pool{s}")(x)
        indices.append(idx)
    for s in reversed(range(len(_STAGES))):
        n, mult = _STAGES[s]
        x = MaxUnpoolingWithArgmax(name=f"unpool{s}")([x, indices[s]])
        for i in range(n):
            last = i == n - 1
            out = width * (_STAGES[s - 1][1] if last and s > 0 else mult)
            x = conv_bn_relu(x, out, name=f"dec{s}_{i}")
    return keras.Model(inputs, output_head(x, head, num_classes), name="segnet")


SPEC = ModelSpec(
    name="segnet",
    title="SegNet",
    paper="Badrinarayanan et al. 2017, TPAMI",
    builder=build_segnet,
    head="softmax",
    recipe=recipe(
        loss="softmax_ce", optimizer="adam", learning_rate=1e-4, batch_size=8, epochs=50,
        image_size=256,
        source=("paper (CamVid): softmax cross-entropy; our choice: Adam lr 1e-4 instead of the "
                "paper's SGD lr 0.1 / momentum 0.9, for comparability with the other models; "
                "batch 8, 50 epochs, 256 px")),
    size_multiple=32,
    min_size=32,
    params=29_487_042,  # at 256 x 256 x 1, default widths (checked by tests)
    notes="Pooling-index unpooling via custom serializable layers; width override: width=...",
    deviations=(
        Deviation("what the reproduced paper compares", 'Zhang\'s Table 1 row "Segnet [19]" with no recipe '
                  "(Sec. 3.3)", "SegNet trained here with the recipe below",
                  "the reproduced paper does not say how it trained SegNet", "chooses"),
        Deviation("encoder weights", "VGG16's 13 convolutional layers, ImageNet-trained; Zhang (Sec. 2.1): "
                  'SegNet "employs the pre-trained vgg16 network for the encoder"',
                  "the same layers (with batch norm), random initialisation", NO_DOWNLOAD, "departs"),
        Deviation("optimizer", "SGD, lr 0.1, momentum 0.9 (its CamVid experiments)", "Adam, lr 1e-4",
                  "comparability with the other models", "departs"),
        input_size("not applicable: its images are road and indoor scenes"),
        Deviation("batch and epochs", "not applicable (other data)", "batch 8, 50 epochs", "our choice"),
        augmentation(), selection(),
    ),
)
