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
    opacity: float = 0.0  # probability of painting opacities inside the lung mask


#: how dense a painted opacity gets: it moves the lung's pixels this far (at most) towards white
OPACITY_DENSITY = (0.3, 0.9)
#: the painted opacities cover the part of a coarse random field above a level drawn here
OPACITY_LEVEL = (0.45, 0.75)
OPACITY_GRID = 6  # cells of the coarse field across the image: blobs a sixth of it or larger


#: named augmentation strengths (config key ``augment_strength``). "strong" widens only the
#: intensity ranges (brightness, contrast, gamma): the robustness remedy of the book; "opacity"
#: paints opacities inside the lungs of half the images (a remedy for the default model);
#: "strong_opacity" is both (what the default model's screen, params/screen.yaml, takes when
#: both remedies are kept).
_STRONG = {"brightness": 0.3, "contrast": 0.5, "gamma": 0.5}
AUGMENTS = {"default": Augment(), "strong": Augment(**_STRONG), "opacity": Augment(opacity=0.5),
            "strong_opacity": Augment(**_STRONG, opacity=0.5)}
