"""The book's one figure style, and the rule that makes figures readable at the size shown.

A figure is at most :data:`WIDTH` inches wide and is shown at the book's text width (about
:data:`SHOWN_PX` pixels in a 1300 px window): its text is then at least :data:`MIN_TEXT_PX`
pixels high, the body's small text, when every font is at least :data:`MIN_FONT_PT` points
(``tests/test_figures.py`` measures every figure with :func:`smallest_text_px`). Image panels
show grey levels on one fixed range (:func:`gray8`: [0, 1] to 0..255), so a darker image looks
darker; perturbation severities are labelled with their parameters (:func:`severity_labels`).
"""

from __future__ import annotations

import matplotlib
import numpy as np

WIDTH = 7.2  # inches: the widest figure (about 790 px at figure.dpi 110)
SHOWN_PX = 700  # the width a figure is shown at: the text column of the book in a 1300 px window
MIN_TEXT_PX = 11.0  # the body's small text
MIN_FONT_PT = MIN_TEXT_PX * 72 * WIDTH / SHOWN_PX  # 8.1 pt: the smallest font a WIDTH figure may use

STYLE = {
    "figure.dpi": 110, "savefig.dpi": 200, "savefig.bbox": "tight", "font.size": 9.5,
    "axes.titlesize": 9.5, "axes.labelsize": 9.5, "xtick.labelsize": 9, "ytick.labelsize": 9,
    "legend.fontsize": 9, "legend.title_fontsize": 9, "figure.titlesize": 10,
    "axes.spines.top": False, "axes.spines.right": False, "axes.grid": False, "legend.frameon": False,
    "image.cmap": "gray",
}
PALETTE = "tab10"
TRUTH_COLOR, PRED_COLOR, REMOVED_COLOR = "#1a9641", "#f5a300", "#d7191c"


def apply_style() -> None:
    """Apply the book's matplotlib style (called by every figure function)."""
    matplotlib.rcParams.update(STYLE)


def smallest_text_px(fig, shown_px: float = SHOWN_PX) -> float:
    """The height in pixels of the smallest text of ``fig`` when it is shown ``shown_px`` wide (or
    at its natural size, saved with a tight box at its dpi, when that is narrower)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    canvas = FigureCanvasAgg(fig) if fig.canvas is None or not hasattr(fig.canvas, "get_renderer") else fig.canvas
    renderer = canvas.get_renderer()
    fig.draw(renderer)
    natural = fig.get_tightbbox(renderer).width * fig.dpi
    scale = min(1.0, shown_px / natural)
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    return min(sizes, default=np.inf) / 72 * fig.dpi * scale


def gray8(image: np.ndarray) -> np.ndarray:
    """An image in [0, 1] as 8-bit grey on the fixed range 0..1 (never stretched to its own
    minimum and maximum, which would make a darkened image look like the original)."""
    return (np.clip(np.asarray(image, float), 0, 1) * 255).round().astype(np.uint8)


_PARAMETER = {"brightness": "x{:g}", "contrast": "x{:g}", "gamma": "\u03b3 {:g}", "gaussian_noise": "\u03c3 {:g}",
              "gaussian_blur": "k {:g}", "jpeg": "q {:g}", "pixelate": "x{:g}"}


def severity_labels(family: str) -> list[str]:
    """``["clean", "x0.9", "x0.8", ...]``: severity 0 to 5 of a perturbation family by its parameter
    (:data:`lungseg_lib.engine.perturbations.FAMILIES`)."""
    from ..engine.perturbations import FAMILIES

    form = next(v for k, v in _PARAMETER.items() if family.startswith(k))
    return ["clean", *(form.format(p) for p in FAMILIES[family])]
