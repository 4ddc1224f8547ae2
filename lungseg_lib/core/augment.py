"""The training augmentation's ranges: one set for every model (the registry's records of
each model's departures from its paper quote them); :mod:`lungseg_lib.engine.pipeline` applies
them. Data only: no TensorFlow here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Augment:
    """Ranges of the random augmentation; zero switches one off."""

    rotation_deg: float = 5.0
    shift: float = 0.05
    scale: float = 0.05
    brightness: float = 0.1
    contrast: float = 0.1
    gamma: float = 0.1


#: named augmentation strengths (config key ``augment_strength``). "strong" widens only the
#: intensity ranges (brightness, contrast, gamma): the robustness remedy of the book.
AUGMENTS = {"default": Augment(), "strong": Augment(brightness=0.3, contrast=0.5, gamma=0.5)}
