"""`ModelSpec`: what the registry knows about one model (paper, head, recipe, sizes, and where
this project departs from its paper: `deviations`)."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

HEADS = ("softmax", "sigmoid", "logits")
KINDS = ("departs", "reads", "chooses")  # the paper says otherwise / is unclear / is silent
LOSSES = ("softmax_ce", "bce", "bce_logits", "dice", "bce_dice")
OPTIMIZERS = ("adam", "sgd", "rmsprop")


@dataclasses.dataclass(frozen=True)
class Deviation:
    """One place where this project departs from, interprets, or fills in a model's paper.

    ``aspect``: what it is about; ``paper``: what the paper says (quoted where it says
    something, with where; "not stated" where it is silent); ``ours``: what this project does;
    ``reason``: why. ``kind``: ``departs`` (the paper says otherwise), ``reads`` (the paper's
    text is unclear and this is our reading) or ``chooses`` (the paper is silent: our choice).
    """

    aspect: str
    paper: str
    ours: str
    reason: str
    kind: str = "chooses"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}; got {self.kind!r}")


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One registered model. `recipe` is the paper's training recipe (see `recipe()`); `builder`
    imports Keras when called, so the registry itself is read without TensorFlow."""

    name: str
    title: str
    paper: str
    builder: Callable[..., Any]
    head: str
    recipe: dict
    size_multiple: int
    min_size: int
    params: int  # at 256 x 256 x 1 with the default widths: the book's model table reads it
    notes: str = ""
    deviations: tuple[Deviation, ...] = ()

    @property
    def valid_sizes(self) -> str:
        """Human-readable rule for the input sides, e.g. 'multiples of 16, >= 32'."""
        return f"multiples of {self.size_multiple}, >= {self.min_size}"


def recipe(*, loss, optimizer, learning_rate, batch_size, epochs, source, image_size=256,
           momentum=None, weight_decay=None, l2=None, early_stopping_patience=None,
           early_stopping_monitor="val_dice", lr_schedule=None) -> dict:
    """Build a training-recipe dict with every key the training engine reads."""
    assert loss in LOSSES and optimizer in OPTIMIZERS, (loss, optimizer)
    return dict(loss=loss, optimizer=optimizer, learning_rate=learning_rate, momentum=momentum,
                weight_decay=weight_decay, l2=l2, batch_size=batch_size, epochs=epochs,
                early_stopping_patience=early_stopping_patience,
                early_stopping_monitor=early_stopping_monitor, lr_schedule=lr_schedule,
                image_size=image_size, source=source)


# ---------------------------------------------------------------- records shared by every model

NO_DOWNLOAD = ("no weights are downloaded on the machines this book is built on, and every encoder "
               "trains from scratch, as the reproduced paper's does (its Sec. 2.1)")


def augmentation(paper: str = "not stated") -> Deviation:
    """The training augmentation every model gets (:class:`lungseg_lib.core.augment.Augment`'s ranges)."""
    from ..augment import Augment

    a = Augment()
    ours = (f"the same for every model: rotation up to {a.rotation_deg:g} degrees, shift up to "
            f"{100 * a.shift:g}% of the side, scale up to {100 * a.scale:g}%, brightness up to "
            f"{a.brightness:g} (intensities in [0, 1]), contrast up to {100 * a.contrast:g}%, gamma "
            f"exp(+-{a.gamma:g}); no flips")
    return Deviation("training augmentation", paper, ours,
                     "one augmentation for all models, so they differ only by their own recipes; its "
                     "brightness, contrast and gamma jitter shows the network lighter and darker versions "
                     "of its training images, which bears on the paper's light-or-dark failure examples",
                     "departs" if paper != "not stated" else "chooses")


def selection(paper: str = "not stated", kind: str = "chooses") -> Deviation:
    """Which weights are kept, and early stopping."""
    return Deviation("early stopping and the weights kept", paper,
                     "the weights of the epoch with the best validation Dice; early stopping only as the "
                     "recipe says (paper profile); none in the cpu profile, so every model trains as long",
                     "a validation split (the paper has none or does not say) selects the weights; the "
                     "cpu profile gives every model the same epochs", kind)


def input_size(paper: str = "not stated", ours: str = "256 x 256 (paper profile; the cpu profile sets its own)",
               reason: str = "the paper gives none: 256 px is our choice (a common size for chest X-ray "
                             "segmentation)",
               kind: str = "chooses") -> Deviation:
    """The input size of the paper profile (and the cpu profile's)."""
    return Deviation("input size", paper, ours, reason, kind)
