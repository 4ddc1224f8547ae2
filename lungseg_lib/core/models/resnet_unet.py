"""U-Nets with ResNet encoders (random init): ResNet50-U-Net and ResNet101-U-Net."""

from __future__ import annotations

from .blocks import conv_bn_relu, gray_to_rgb, output_head
from .spec import NO_DOWNLOAD, Deviation, ModelSpec, augmentation, input_size, recipe, selection

# ResNet feature maps at strides 2, 4, 8, 16 (skips) and 32 (bottom); Keras names are stable.
RESNET50_SKIPS = ("conv1_relu", "conv2_block3_out", "conv3_block4_out", "conv4_block6_out")
RESNET101_SKIPS = ("conv1_relu", "conv2_block3_out", "conv3_block4_out", "conv4_block23_out")


def build_resnet50_unet(input_shape=(256, 256, 1), num_classes=2, head="softmax",
                        decoder_filters=(256, 128, 64, 32, 16)):
    """ResNet50 encoder (gray replicated to RGB), U-Net decoder.

    Five decoder blocks [UpSampling2D(2) -> concat skip -> 2x conv-BN-ReLU] from the stride-32
    `conv5_block3_out`; the first four concatenate the ResNet stage outputs at strides
    16/8/4/2, the fifth restores the input resolution (no skip). 1x1 softmax head.
    """
    import keras
    from keras import layers

    inputs = keras.Input(input_shape, name="image")
    backbone = keras.applications.ResNet50(weights=None, include_top=False,
                                           input_tensor=gray_to_rgb(inputs))
    skips = [backbone.get_layer(n).output for n in reversed(RESNET50_SKIPS)]
    x = backbone.get_layer("conv5_block3_out").output
    for i, filters in enumerate(decoder_filters):
        x = layers.UpSampling2D(2, name=f"dec{i}_up")(x)
        if i < len(skips):
            x = layers.Concatenate(name=f"dec{i}_skip")([x, skips[i]])
        x = conv_bn_relu(x, filters, name=f"dec{i}_a")
        x = conv_bn_relu(x, filters, name=f"dec{i}_b")
    return keras.Model(inputs, output_head(x, head, num_classes), name="resnet50_unet")


def build_resnet101_unet(input_shape=(256, 256, 1), num_classes=2, head="logits",
                         middle_filters=512, decoder_filters=(256, 128, 64)):
    """Custom first conv (1x1, input channels -> 3) -> ResNet101 encoder (stride 32) ->
    middle block (two 3x3 conv+ReLU) -> three [Conv2DTranspose(2, stride 2) -> concat skip
    (strides 16/8/4) -> 3x3 conv+ReLU] -> bilinear x4 upsampling -> 1x1 head (raw logits).
    """
    import keras
    from keras import layers

    inputs = keras.Input(input_shape, name="image")
    rgb = layers.Conv2D(3, 1, name="input_conv_to_rgb")(inputs)
    backbone = keras.applications.ResNet101(weights=None, include_top=False, input_tensor=rgb)
    x = backbone.get_layer("conv5_block3_out").output
    for i in range(2):
        x = layers.Conv2D(middle_filters, 3, padding="same", activation="relu", name=f"middle_{i}")(x)
    skips = [backbone.get_layer(n).output for n in reversed(RESNET101_SKIPS[1:])]
    for i, (filters, skip) in enumerate(zip(decoder_filters, skips)):
        x = layers.Conv2DTranspose(filters, 2, strides=2, name=f"dec{i}_upconv")(x)
        x = layers.Concatenate(name=f"dec{i}_skip")([x, skip])
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"dec{i}_conv")(x)
    x = layers.UpSampling2D(2 ** (5 - len(decoder_filters)), interpolation="bilinear",
                            name="up_to_input")(x)
    return keras.Model(inputs, output_head(x, head, num_classes), name="resnet101_unet")


RESNET50_UNET = ModelSpec(
    name="resnet50_unet",
    title="ResNet50 U-Net",
    paper="Kuppili 2023, 'Lung Segmentation using Deep Learning'",
    builder=build_resnet50_unet,
    head="softmax",
    recipe=recipe(
        loss="softmax_ce", optimizer="sgd", learning_rate=1e-3, momentum=0.9, weight_decay=1e-4,
        batch_size=8, epochs=50, image_size=256,
        source=("paper: cross-entropy, SGD lr 1e-3, momentum 0.9, weight decay 1e-4 (PyTorch, "
                "coupled), Resize(256) keeping the aspect ratio; our reading: 256 x 256; our choice: "
                "batch 8, 50 epochs (not given); Keras' weight decay is decoupled")),
    size_multiple=32,
    min_size=32,
    params=32_602_658,  # at 256 x 256 x 1, default widths (checked by tests)
    notes="ResNet50 from scratch; override: decoder_filters=(...5 values...).",
    deviations=(
        input_size('"transforms.Resize(256)", which "maintains the aspect ratio of the original image" (Sec. 3)',
                   "256 x 256, the aspect ratio not kept (paper profile)",
                   "every model takes the same square input; Resize(256) gives a shorter side of 256", "reads"),
        Deviation("weight decay", '"torch.optim.SGD" with "weight_decay=1e-4" and "momentum=0.9" (Sec. 3): '
                  "PyTorch adds the decay to the gradient, so it passes through the momentum",
                  "Keras SGD with weight_decay 1e-4, which decays the weights directly (decoupled)",
                  "Keras' SGD has only the decoupled form; with momentum 0.9 it decays about ten times "
                  "less than PyTorch's at steady state", "departs"),
        Deviation("encoder weights", '"a ResNet50 backbone" (Sec. 3); pretraining not stated',
                  "random initialisation", NO_DOWNLOAD),
        Deviation("decoder", '"decoder layers ... concatenated and upsampled" (Sec. 3), no sizes',
                  "five blocks of x2 upsampling, skip from the ResNet stage of that stride, two 3 x 3 "
                  "conv-BN-ReLU; 256, 128, 64, 32, 16 filters", "our choice"),
        Deviation("batch and epochs", "not stated", "batch 8, 50 epochs", "our choice"),
        Deviation("post-processing", 'proposes "a post-processing layer" (abstract), not described',
                  "the reproduced paper's (the two largest components) for every model", "our reading", "reads"),
        augmentation('only "transforms.Resize(256)" and "transforms.ToTensor()" (Sec. 3)'),
        selection(),
    ),
)

RESNET101_UNET = ModelSpec(
    name="resnet101_unet",
    title="ResNet101 U-Net",
    paper="Swaminathan (undated), 'Deep Learning-Based Lung Segmentation using U-Net'",
    builder=build_resnet101_unet,
    head="logits",
    recipe=recipe(
        loss="bce_logits", optimizer="adam", learning_rate=1e-4, batch_size=8, epochs=200,
        image_size=256,
        source=("paper: BCE on logits, Adam initial lr 1e-4, 200 epochs; our choice: batch 8, 256 px "
                "(not given)")),
    size_multiple=32,
    min_size=32,
    params=59_015_495,  # at 256 x 256 x 1, default widths (checked by tests)
    notes="Learned 1x1 conv maps gray to 3 channels; override: middle_filters=, decoder_filters=.",
    deviations=(
        Deviation("encoder weights", '"a pre-trained ResNet-based encoder" (Sec. 2.3)', "random initialisation",
                  NO_DOWNLOAD, "departs"),
        Deviation("first convolution", '"I have replaced the first convolutional layer of ResNet with a custom '
                  'layer to accommodate different input channels" (Sec. 3.1)',
                  "a learned 1 x 1 convolution (1 to 3 channels) in front of ResNet101, whose own first "
                  "convolution stays", "Keras' ResNet101 is kept whole; its first layer is not replaceable "
                  "without rebuilding it", "departs"),
        Deviation("decoder", '"three up-convolutional layers followed by a series of convolutional layers" '
                  "(Sec. 3.1), no sizes", "three 2 x 2 transposed convolutions, each followed by a skip and "
                  "one 3 x 3 convolution (256, 128, 64 filters), then x4 bilinear upsampling",
                  "our reading: three up-convolutions from stride 32 leave stride 4 to close", "reads"),
        Deviation("schedule", '"an initial learning rate of 0.0001" (Sec. 3.2), no schedule',
                  "a constant learning rate", "our reading: no schedule is given", "reads"),
        input_size(), Deviation("batch size", "not stated", "8", "our choice"),
        augmentation('"Data augmentation techniques are employed" (abstract), not specified'),
        selection(),
    ),
)
