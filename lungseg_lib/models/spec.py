"""`ModelSpec`: what the registry knows about one model (paper, head, recipe, sizes)."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

HEADS = ("softmax", "sigmoid", "logits")
LOSSES = ("softmax_ce", "bce", "bce_logits", "dice", "bce_dice")
OPTIMIZERS = ("adam", "sgd", "rmsprop")


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """One registered model. `recipe` is the paper's training recipe (see `recipe()`)."""

    name: str
    title: str
    paper: str
    builder: Callable[..., Any]
    head: str
    recipe: dict
    size_multiple: int
    min_size: int
    notes: str = ""

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
