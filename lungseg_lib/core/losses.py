"""Training losses. ``y_true`` is a (B, H, W, 1) mask in {0, 1}; ``y_pred`` follows the
model's head (see :func:`lungseg_lib.core.metrics.lung_probability`). A model with one sigmoid
channel per lung convention gets ``y_true`` (B, H, W, 2): the mask, then the index of the
channel that image's data set supervises (:func:`~lungseg_lib.core.metrics.supervised_channel`)."""

from __future__ import annotations

import keras
from keras import ops

from .models.spec import LOSSES  # the loss names every recipe may use: the functions below


def softmax_ce(y_true, y_pred):
    """2-class softmax cross-entropy: y_pred is (B, H, W, 2) probabilities (our loss for the paper's
    two-class softmax, which names no loss; the recipes of SegNet, U-Net, DeepLabV3+, ResNet50 U-Net)."""
    labels = ops.cast(y_true[..., 0] > 0.5, "int32")
    return ops.mean(keras.losses.sparse_categorical_crossentropy(labels, y_pred))


def bce(y_true, y_pred):
    """Binary cross-entropy on a (B, H, W, 1) sigmoid probability."""
    return ops.mean(keras.losses.binary_crossentropy(y_true, y_pred))


def bce_logits(y_true, y_pred):
    """Binary cross-entropy on (B, H, W, 1) logits (numerically stable)."""
    return ops.mean(keras.losses.binary_crossentropy(y_true, y_pred, from_logits=True))


def _soft_dice_loss(y_true, prob, smooth: float = 1.0):
    truth = ops.cast(y_true[..., 0], "float32")
    inter = ops.sum(truth * prob, axis=(1, 2))
    total = ops.sum(truth, axis=(1, 2)) + ops.sum(prob, axis=(1, 2))
    return ops.mean(1 - (2 * inter + smooth) / (total + smooth))


def get_loss(name: str, head: str, lungs: int = 0):
    """Return the loss function ``name`` for a model with output ``head``; ``lungs`` (>= 2):
    a sigmoid model with one channel per lung convention, each trained by its own images."""
    from .metrics import lung_probability, supervised_channel

    if lungs:
        if head != "sigmoid" or name not in ("bce", "dice", "bce_dice"):
            raise ValueError(f"a model with one channel per lung convention needs a sigmoid head and "
                             f"loss bce, dice or bce_dice; got head {head!r}, loss {name!r}")
        single = get_loss(name, head)

        def per_convention(y_true, y_pred):
            return single(y_true[..., :1], supervised_channel(y_true, y_pred))

        return per_convention

    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; valid: {', '.join(LOSSES)}")
    if name == "softmax_ce":
        if head != "softmax":
            raise ValueError(f"loss softmax_ce needs a softmax head, the model's head is {head!r}")
        return softmax_ce
    if name in ("bce", "bce_logits"):
        want = "sigmoid" if name == "bce" else "logits"
        if head != want:
            raise ValueError(f"loss {name} needs a {want} head, the model's head is {head!r}")
        return bce if name == "bce" else bce_logits

    def dice_loss(y_true, y_pred):
        return _soft_dice_loss(y_true, lung_probability(ops.cast(y_pred, "float32"), head))

    if name == "dice":
        return dice_loss
    base = get_loss("bce" if head == "sigmoid" else "bce_logits" if head == "logits" else "softmax_ce", head)

    def bce_dice(y_true, y_pred):
        return base(y_true, y_pred) + dice_loss(y_true, y_pred)

    return bce_dice
