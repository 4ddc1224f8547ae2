"""DeepLabV3+ with a ResNet50 backbone (random init).

Chen, Zhu, Papandreou, Schroff & Adam, "Encoder-Decoder with Atrous Separable Convolution
for Semantic Image Segmentation", ECCV 2018.
"""

from __future__ import annotations

from .blocks import conv_bn_relu, gray_to_rgb, output_head
from .spec import NO_DOWNLOAD, Deviation, ModelSpec, augmentation, input_size, recipe, selection


def aspp(x, filters=256, rates=(6, 12, 18)):
    """Atrous spatial pyramid pooling: 1x1, three dilated 3x3, image pooling; fused by 1x1."""
    from keras import layers

    h, w = x.shape[1], x.shape[2]
    pooled = layers.GlobalAveragePooling2D(keepdims=True, name="aspp_pool")(x)
    pooled = conv_bn_relu(pooled, filters, 1, name="aspp_pool_proj")
    branches = [layers.UpSampling2D((h, w), interpolation="bilinear", name="aspp_pool_up")(pooled),
                conv_bn_relu(x, filters, 1, name="aspp_1x1")]
    for r in rates:
        y = layers.Conv2D(filters, 3, padding="same", dilation_rate=r, use_bias=False,
                          name=f"aspp_rate{r}_conv")(x)
        y = layers.BatchNormalization(name=f"aspp_rate{r}_bn")(y)
        branches.append(layers.Activation("relu", name=f"aspp_rate{r}_relu")(y))
    return conv_bn_relu(layers.Concatenate(name="aspp_concat")(branches), filters, 1, name="aspp_out")


def build_deeplabv3plus(input_shape=(256, 256, 1), num_classes=2, head="softmax",
                        aspp_filters=256, low_level_filters=48, decoder_filters=256):
    """ResNet50 (gray replicated to RGB) -> ASPP on `conv4_block6_out` (output stride 16) ->
    x4 bilinear upsampling, concat with the 48-channel projection of `conv2_block3_out`
    (stride 4) -> two 3x3 conv-BN-ReLU -> x4 bilinear upsampling -> 1x1 head.

    Deviation: Keras' ResNet50 has no atrous conv5, so ASPP sits on the stride-16 conv4
    output (as in the keras.io DeepLabV3+ example); plain (not separable) convs.
    """
    import keras
    from keras import layers

    inputs = keras.Input(input_shape, name="image")
    backbone = keras.applications.ResNet50(weights=None, include_top=False,
                                           input_tensor=gray_to_rgb(inputs))
    x = aspp(backbone.get_layer("conv4_block6_out").output, aspp_filters)
    x = layers.UpSampling2D(4, interpolation="bilinear", name="dec_up4")(x)
    low = conv_bn_relu(backbone.get_layer("conv2_block3_out").output, low_level_filters, 1,
                       name="dec_low_proj")
    x = layers.Concatenate(name="dec_concat")([x, low])
    for i in range(2):
        x = conv_bn_relu(x, decoder_filters, name=f"dec_conv{i}")
    x = layers.UpSampling2D(4, interpolation="bilinear", name="dec_up_out")(x)
    return keras.Model(inputs, output_head(x, head, num_classes), name="deeplabv3plus")


SPEC = ModelSpec(
    name="deeplabv3plus",
    title="DeepLabV3+ (ResNet50)",
    paper="Chen et al. 2018, ECCV",
    builder=build_deeplabv3plus,
    head="softmax",
    recipe=recipe(
        loss="softmax_ce", optimizer="adam", learning_rate=1e-4, batch_size=8, epochs=50,
        image_size=256,
        source=("paper: softmax cross-entropy; our choice: Adam lr 1e-4 (paper: SGD with a poly "
                "schedule on ImageNet-pretrained weights), batch 8, 50 epochs, 256 px")),
    size_multiple=16,
    min_size=32,
    params=17_830_466,  # at 256 x 256 x 1, default widths (checked by tests)
    notes="ResNet50 from scratch (no download); ASPP rates 6/12/18 at output stride 16.",
    deviations=(
        Deviation("which DeepLab", 'Zhang\'s Table 1 row "Deep-Lab [21]": its reference [21] is DeepLab v1, '
                  'Chen et al. 2014, arXiv:1412.7062 ("Semantic image segmentation with deep convolutional '
                  'nets and fully connected crfs")',
                  "DeepLabV3+ (Chen et al. 2018) stands in for it; the results table sets the reported "
                  "DeepLab values beside it, marked as a stand-in",
                  "v1's fully connected CRF has no Keras layer; V3+ is its maintained successor", "departs"),
        Deviation("backbone", "ImageNet-pretrained Xception or ResNet-101, atrous last block",
                  "ResNet50, random initialisation; ASPP on the stride-16 conv4 output (no atrous conv5); "
                  "plain, not separable, convolutions", NO_DOWNLOAD + "; Keras' ResNet50 has no atrous block",
                  "departs"),
        Deviation("optimizer", "SGD with a poly learning-rate schedule", "Adam, lr 1e-4, constant",
                  "comparability with the other models", "departs"),
        input_size("crops of street and object scenes (other data)"),
        Deviation("batch and epochs", "not applicable (other data)", "batch 8, 50 epochs", "our choice"),
        augmentation(), selection(),
    ),
)
