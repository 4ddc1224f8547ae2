"""The U-Net of Table I in Sarada & Thirupathi Rao, "Lung Semantic Segmentation using
Convolutional Neural Networks".

Table I of the paper is a Keras ``model.summary()`` listing layer names and output shapes
(no kernel sizes, no per-layer parameter counts, no batch normalisation) for a 256x256x3
input; the paper gives 5,469,473 parameters in all. As printed (in the extracted text) it is
garbled in three rows and ends early. Our reading, layer by layer:

* ``conv2d_1``-``conv2d_8``: four encoder levels of 2x [3x3 conv, 64 filters, ReLU], each
  followed by a 2x2 max-pool (``max_pooling2d_1``-``_4``). The table prints 128 channels for
  ``max_pooling2d_4``; a max-pool keeps its 64, so we read that row as garbled.
* ``conv2d_9``: 3x3 conv, 128 filters, at 16x16 (the bottleneck).
* Three decoder stages as printed (``up_sampling2d_k``, conv, conv, ``concatenate_k``, conv),
  all 256 wide: UpSampling2D(2) -> 2x2 conv 256 (the "up-conv" of Keras U-Nets; the kernel
  is our reading, 3x3 would put the count 249,119 over the paper's before the table even
  ends) -> 3x3 conv 256 -> concatenate the encoder's 64-channel skip of that resolution
  (the table prints 256 for the concatenations, which cannot be: we concatenate) -> 3x3 conv
  256. The table prints 256 channels for ``up_sampling2d_1``, whose input has 128: garbled.
* The table stops at ``conv2d_18`` (128x128x256), one stage short of the 256x256 output the
  paper states. We complete it with a fourth stage in the same pattern at 128 filters
  (UpSampling2D -> 2x2 conv 128 -> 3x3 conv 128 -> concatenate -> 3x3 conv 128) and a 1x1
  conv with a sigmoid, the paper's output.

That is 5,473,345 parameters, 3,872 (0.07 %) more than the paper's 5,469,473; no variant of
this layer sequence that we tried hits the paper's count exactly. Our input is 1-channel,
replicated to the paper's 3 channels inside the model, so the count is the paper's
3-channel one. ``base_filters`` scales every width (64 -> base, 128 -> 2 base, 256 -> 4 base).
"""

from __future__ import annotations

from .blocks import gray_to_rgb, output_head
from .spec import Deviation, ModelSpec, augmentation, recipe, selection


def _conv(x, filters, kernel, name):
    from keras import layers

    return layers.Conv2D(filters, kernel, padding="same", activation="relu", name=name)(x)


def build_unet22(input_shape=(256, 256, 1), num_classes=2, head="sigmoid", base_filters=64):
    """Table-I U-Net (see the module docstring): 4 poolings of 64 filters, 128 bottleneck,
    decoder stages of 256 (the fourth, missing from the table, of 128), sigmoid head."""
    import keras
    from keras import layers

    b = base_filters
    inputs = keras.Input(input_shape, name="image")
    x, skips, n = gray_to_rgb(inputs), [], 0
    for level in range(4):
        for _ in range(2):
            n += 1
            x = _conv(x, b, 3, f"conv2d_{n}")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"max_pooling2d_{level + 1}")(x)
    x = _conv(x, 2 * b, 3, "conv2d_9")
    n = 9
    for stage, width in enumerate((4 * b, 4 * b, 4 * b, 2 * b), start=1):
        x = layers.UpSampling2D(2, name=f"up_sampling2d_{stage}")(x)
        x = _conv(x, width, 2, f"conv2d_{n + 1}")
        x = _conv(x, width, 3, f"conv2d_{n + 2}")
        x = layers.Concatenate(name=f"concatenate_{stage}")([x, skips[-stage]])
        x = _conv(x, width, 3, f"conv2d_{n + 3}")
        n += 3
    return keras.Model(inputs, output_head(x, head, num_classes), name="unet22")


SPEC = ModelSpec(
    name="unet22",
    title="U-Net (Table I)",
    paper="Sarada & Thirupathi Rao, 'Lung Semantic Segmentation using Convolutional Neural Networks'",
    builder=build_unet22,
    head="sigmoid",
    recipe=recipe(
        loss="bce", optimizer="adam", learning_rate=1e-3, batch_size=16, epochs=50, image_size=256,
        source=("paper: 256x256x3 input (Table I), cross-entropy (binary form), sigmoid output, "
                "batch 16 (Sec. VII); our choice: Adam lr 1e-3, 50 epochs (not given)")),
    size_multiple=16,
    min_size=16,
    params=5_473_345,  # at 256 x 256 x 1, default widths (checked by tests)
    notes="Paper: 5,469,473 params; ours 5,473,345 (our reading of Table I, see docstring).",
    deviations=(
        Deviation("architecture", "Table I, a Keras model summary without kernel sizes, garbled in three rows "
                  'and ending at 128 x 128; "5,469,473 parameters" (Sec. VII)',
                  "our reading of Table I (module docstring): 2 x 2 up-convolutions, the skips concatenated, a "
                  "fourth stage and a sigmoid head added; 5,473,345 parameters",
                  "the closest layer sequence to the table we found; no variant hits the paper's count",
                  "reads"),
        Deviation("input channels", "256x256x3 (Table I)", "a grey image copied into 3 channels inside the model",
                  "the chest X-rays are grey; the count stays the paper's 3-channel one", "reads"),
        Deviation("optimizer, learning rate, epochs", "not stated", "Adam, lr 1e-3, 50 epochs", "our choice"),
        augmentation(), selection(),
    ),
)
