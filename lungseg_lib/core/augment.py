"""The training augmentation's ranges: one set for every model (the registry's records of
each model's departures from its paper quote them); :mod:`lungseg_lib.engine.pipeline` applies
them. Data only: no TensorFlow here."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Augment:
    """Ranges of the random augmentation; zero switches one off.

    The corruptions (``blur``, ``noise``, ``downscale``, ``jpeg``: each the probability that an
    image gets it) act on the image only, after the intensity changes and opacities, in that
    order: the film's own blur and noise, then a downsized copy, then its JPEG export. Each
    draws its strength uniformly between none and its maximum: a blur's sigma in [0,
    ``blur_sigma_max``] px, a noise's sigma in [0, ``noise_sigma_max``], a downscale's factor
    in [``downscale_min``, 1], a JPEG quality in [``jpeg_quality_min``, 100].
    """

    rotation_deg: float = 5.0
    shift: float = 0.05
    scale: float = 0.05
    brightness: float = 0.1
    contrast: float = 0.1
    gamma: float = 0.1
    opacity: float = 0.0  # probability of painting opacities inside the lung mask
    blur: float = 0.0
    blur_sigma_max: float = 1.8
    noise: float = 0.0
    noise_sigma_max: float = 0.2
    downscale: float = 0.0
    downscale_min: float = 0.15
    jpeg: float = 0.0
    jpeg_quality_min: int = 10
    # The maxima reach the perturbation grid's severity 4 of 5 (lungseg_lib.engine.perturbations
    # FAMILIES, applied like the augmentation at the network's input size, so pixel units
    # agree): blur sigma 0.8, 1.1, 1.4, 1.7, 2.0 px (kernels 3-11, sigma = 0.15 k + 0.35):
    # 1.8 covers 1.7; noise sigma 0.04, 0.08, 0.12, 0.18, 0.26: 0.2 covers 0.18; pixelate
    # factor 0.30 ... 0.15, 0.10: 0.15; JPEG quality 50, 30, 15, 10, 7: 10. Severity 5 stays
    # beyond the training range: the grid's strongest setting tests extrapolation, not recall.

    def __post_init__(self):
        for name in ("opacity", "blur", "noise", "downscale", "jpeg"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"Augment.{name} is a probability in [0, 1], not {getattr(self, name)}")
        if not (self.blur_sigma_max >= 0 and self.noise_sigma_max >= 0 and 0 < self.downscale_min <= 1
                and 1 <= self.jpeg_quality_min <= 100):
            raise ValueError("Augment: blur_sigma_max and noise_sigma_max >= 0, downscale_min in (0, 1], "
                             "jpeg_quality_min in [1, 100]")

    @property
    def corrupts(self) -> bool:
        """Whether any corruption is on."""
        return max(self.blur, self.noise, self.downscale, self.jpeg) > 0


#: the corruptions in the order they apply (each its own fixed branch of the seed, so switching
#: one on or off leaves the others' draws as they were)
CORRUPTIONS = ("blur", "noise", "downscale", "jpeg")

#: how dense a painted opacity gets: it moves the lung's pixels this far (at most) towards white
OPACITY_DENSITY = (0.3, 0.9)
#: the painted opacities cover the part of a coarse random field above a level drawn here
OPACITY_LEVEL = (0.45, 0.75)
OPACITY_GRID = 6  # cells of the coarse field across the image: blobs a sixth of it or larger


#: named augmentation strengths (config key ``augment_strength``). "strong" widens only the
#: intensity ranges (brightness, contrast, gamma): the robustness remedy of the book; "opacity"
#: paints opacities inside the lungs of half the images (a remedy for the default model);
#: "strong_opacity" is both (what the default model's screen, params/screen.yaml, takes when
#: both remedies are kept). "robust" is "strong_opacity" plus the four corruptions of users'
#: films (noisy portable exposures, downsized copies, JPEG exports), each on a quarter of the
#: images: a third of the images (0.75^4) stay free of them, so the clean films the test set
#: and the paper measure are not traded away, and two or more together (a quarter of the
#: images) are rarer than one alone, as the grid tests them one at a time.
_STRONG = {"brightness": 0.3, "contrast": 0.5, "gamma": 0.5}
_CORRUPT = {"blur": 0.25, "noise": 0.25, "downscale": 0.25, "jpeg": 0.25}
AUGMENTS = {"default": Augment(), "strong": Augment(**_STRONG), "opacity": Augment(opacity=0.5),
            "strong_opacity": Augment(**_STRONG, opacity=0.5),
            "robust": Augment(**_STRONG, opacity=0.5, **_CORRUPT)}
