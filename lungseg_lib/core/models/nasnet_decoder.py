"""The paper's model: a truncated NASNet-Large encoder + a 4-block upsampling decoder.

Zhang, "Lung Segmentation with NASNet-Large-Decoder Net", arXiv:2303.10315.

Training recipe (`SPEC.recipe`): the paper gives a 2-class softmax, batch 4, 100 epochs and
"step size 5" (Sec. 3.1), but no optimizer, learning rate, loss or input size. We use Adam lr
1e-4 and 256 px (our choices) and read "step size 5" as a step learning-rate schedule, lr x0.5
every 5 epochs (our interpretation). `SPEC.deviations` lists every departure and choice.
"""

from __future__ import annotations

from .blocks import gray_to_rgb, output_head
from .spec import Deviation, ModelSpec, augmentation, input_size, recipe, selection

ENCODER_LAYERS = 414
BN_MOMENTUM = 0.99


def nasnet_encoder(input_shape, encoder_layers=ENCODER_LAYERS, bn_momentum=BN_MOMENTUM):
    """NASNet-Large (random init) cut after its first `encoder_layers` layers.

    The cut is by index, never by name: NASNet's `activation_N` names are auto-numbered
    and change with every build. `keras.Model.layers[0]` is the InputLayer, so keeping the
    first 414 NASNet layers means the output is `base.layers[414]`.

    In Keras 3.15 that layer is a ReLU `Activation` inside the 7x7 stride-2 separable-conv
    branch of the first reduction cell (between `separable_conv_1_bn_reduction_right2_reduce_6`
    and `separable_conv_2_reduction_right2_reduce_6`). Its output has stride 16 and 336
    channels (16x16x336 at a 256 input). The truncated encoder has 3,554,418 parameters.
    68 of the first 415 layers (the rest of that reduction cell and the last parts of
    normal cell 5) are not on the path to the cut and are therefore not in the encoder.

    Keras builds NASNet's batch norms with momentum 0.9997, made for ImageNet-length runs.
    Trained from scratch on ~500 images (~120 steps per epoch), their moving statistics stay
    far from the data: on the real data, validation Dice stayed at 0 for 9 epochs while
    training Dice reached 0.93. We therefore set ``bn_momentum`` (default 0.99, Keras'
    usual value) on every encoder batch norm; pass 0.9997 to get Keras' original.
    """
    import keras
    from keras import layers

    base = keras.applications.NASNetLarge(weights=None, include_top=False,
                                          input_shape=(*input_shape[:2], 3))
    if encoder_layers == ENCODER_LAYERS:
        check_encoder_cut(base.layers[encoder_layers], input_shape)
    for layer in base.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.momentum = bn_momentum
    return keras.Model(base.input, base.layers[encoder_layers].output, name="nasnet_encoder")


def check_encoder_cut(layer, input_shape) -> None:
    """Raise RuntimeError, naming the Keras version, unless ``layer`` (NASNetLarge's layer
    :data:`ENCODER_LAYERS`) is the cut the model is built on: a ReLU ``Activation`` at stride 16
    with 336 channels. Another Keras may number NASNet's layers otherwise; the cut is by index."""
    import keras

    shape = tuple(layer.output.shape)[1:]
    want = (-(-input_shape[0] // 16), -(-input_shape[1] // 16), 336)
    relu = isinstance(layer, keras.layers.Activation) and layer.get_config().get("activation") == "relu"
    if not relu or shape != want:
        raise RuntimeError(
            f"Keras {keras.__version__} builds NASNetLarge with layer {ENCODER_LAYERS} = {layer.name!r} "
            f"({type(layer).__name__}, output {shape}), not the ReLU Activation at stride 16 with 336 "
            f"channels (output {want}) that the paper's encoder cut ends at in Keras 3.15: this Keras "
            "numbers NASNet's layers otherwise; use one that builds the cut (pip install 'keras==3.15.*')")


def build_nasnet_decoder(input_shape=(256, 256, 1), num_classes=2, head="softmax",
                         encoder_layers=ENCODER_LAYERS, decoder_filters=(512, 256, 128, 64),
                         bn_momentum=BN_MOMENTUM):
    """NASNet-Large encoder (stride 16) + 4x [UpSampling2D(2) -> Conv3x3+ReLU -> BN] + 1x1 head.

    The grayscale input is replicated to 3 channels inside the model. With the default
    512/256/128/64 decoder the model has 6,655,924 parameters at 256x256x1.
    """
    import keras
    from keras import layers

    inputs = keras.Input(input_shape, name="image")
    x = nasnet_encoder(input_shape, encoder_layers, bn_momentum)(gray_to_rgb(inputs))
    for i, filters in enumerate(decoder_filters):
        x = layers.UpSampling2D(2, name=f"dec{i}_up")(x)
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"dec{i}_conv")(x)
        x = layers.BatchNormalization(name=f"dec{i}_bn")(x)
    return keras.Model(inputs, output_head(x, head, num_classes), name="nasnet_decoder")


SPEC = ModelSpec(
    name="nasnet_decoder",
    title="NASNet-Large-Decoder Net",
    paper="Zhang 2023, arXiv:2303.10315",
    builder=build_nasnet_decoder,
    head="softmax",
    recipe=recipe(
        loss="softmax_ce", optimizer="adam", learning_rate=1e-4, batch_size=4, epochs=100,
        lr_schedule={"kind": "step", "step_epochs": 5, "factor": 0.5}, image_size=256,
        source=("paper: 2-class softmax, batch 4, 100 epochs, 'step size 5' (no input size, "
                "optimizer, learning rate or loss given); our choice: 256 px, softmax "
                "cross-entropy, Adam lr 1e-4; our interpretation of 'step size 5': lr x0.5 every "
                "5 epochs")),
    size_multiple=16,
    min_size=32,
    params=6_655_924,  # at 256 x 256 x 1, default widths (checked by tests)
    notes=("Encoder = first 414 NASNet-Large layers (random init, no download), ends at a ReLU "
           "in reduce_6, stride 16, 336 channels. Decoder filters 512/256/128/64 "
           "(override: decoder_filters=...)."),
    deviations=(
        input_size('not stated: Sec. 3.1 lists only "Batch size: 4", "Step size: 5", "Number of epochs: 100"'),
        Deviation("encoder cut", '"the first 414 layers of NasnetLarge net" (Sec. 2.1)',
                  "Keras' NASNetLarge up to its layer 414 (layer 0 is the input): a ReLU inside the first "
                  "reduction cell, at 1/16 of the input's side",
                  "Keras' layer list is the one at hand; the paper does not say how it counts layers",
                  "reads"),
        Deviation("decoder sizes", 'four blocks, each "an upsampling layer", then "convolution and rectified '
                  'linear units", then "A batch normalization layer" (Sec. 2.1); no sizes',
                  "x2 upsampling, 3 x 3 convolution with ReLU, batch norm; 512, 256, 128, 64 filters; a "
                  "1 x 1 convolution into the two-class softmax",
                  "our choice: four x2 steps bring the encoder's 1/16 back to the input's size"),
        Deviation("encoder batch-norm momentum",
                  'not stated (its one batch-norm statement is the decoder\'s, Sec. 2.1)',
                  f"{BN_MOMENTUM} on every encoder batch norm (Keras builds NASNet's with 0.9997)",
                  "trained from scratch on a few hundred images, 0.9997 kept the moving statistics far from "
                  "the data: validation Dice stayed 0 for 9 epochs while training Dice reached 0.93 (a first "
                  "cpu run)"),
        Deviation("loss", 'a "trainable soft-max classifier" with K classes, "two in our problem" (Sec. 2.1); '
                  "no loss named", "two-class softmax cross-entropy",
                  "our choice: the usual loss of a softmax classifier"),
        Deviation("optimizer and learning rate", "not stated (Keras with TensorFlow, Sec. 3.1)", "Adam, lr 1e-4",
                  "our choice, the optimizer and rate of most comparison recipes"),
        Deviation("schedule", '"Step size: 5" (Sec. 3.1), not defined',
                  "lr x0.5 every 5 epochs over the recipe's 100; a profile with fewer epochs scales the step",
                  "our reading: a step learning-rate schedule; the factor 0.5 is our choice", "reads"),
        augmentation(), selection('not stated: "800 training images and 200 test images" (Sec. 3.1), no validation set'),
    ),
)
