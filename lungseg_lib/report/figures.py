"""The book's figures: functions that take arrays or tables and return a matplotlib Figure.

One shared style (:mod:`figure_style`: :data:`STYLE`, applied by every function; at most
:data:`WIDTH` inches wide, so that text shown at the book's text width is at least
:data:`MIN_TEXT_PX` pixels high). Figures are closed in pyplot before they are returned, so a
notebook shows each one once, where it is glued; :func:`save` writes the PNG and PDF copies.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
from matplotlib import lines, patches, ticker
import numpy as np
import pandas as pd

from ..files import replacing
from ..project import repo_path
from .architecture import architecture_figure, model_stages  # noqa: F401 (the figure of notebook 02)
from .figure_style import (MIN_TEXT_PX, PALETTE, PRED_COLOR, REMOVED_COLOR, STYLE, TRUTH_COLOR, WIDTH,  # noqa: F401
                           apply_style, gray8, severity_labels, smallest_text_px)

def _finish(fig):
    plt.close(fig)
    return fig


def save(fig, name: str, folder: str | os.PathLike, dpi: float | None = None) -> list[Path]:
    """Write ``folder/name.png`` and ``folder/name.pdf`` (``folder`` relative to the repository
    unless absolute; ``dpi``: of the PNG, default the style's); return both paths."""
    folder = repo_path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{name}.{ext}" for ext in ("png", "pdf")]
    for path in paths:
        with replacing(path) as tmp:  # never a half-written figure that looks complete
            fig.savefig(tmp, format=path.suffix[1:], **({"dpi": dpi} if dpi and path.suffix == ".png" else {}))
    return paths


def message_figure(text: str, size=(6.0, 1.6)):
    """A figure that only says ``text`` (a missing run or missing data): never a fake plot."""
    apply_style()
    fig = plt.figure(figsize=size)
    fig.add_axes((0, 0, 1, 1)).axis("off")  # IPython renders no image for a figure without axes
    fig.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=10, color="#444444")
    return _finish(fig)


def _rgb_overlay(image: np.ndarray, pred: np.ndarray | None, truth: np.ndarray | None) -> np.ndarray:
    """RGB overlay (prediction tinted and outlined, truth outlined) via inference.overlay."""
    from ..engine.inference import overlay

    if pred is None:
        pred = np.zeros(image.shape, bool)
    return overlay(gray8(image), pred, truth)[..., ::-1]  # grey levels on the fixed range [0, 1]


def _off(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


# ---------------------------------------------------------------- data

def data_example_figure(image: np.ndarray, mask: np.ndarray, name: str = ""):
    """Fig. 3: a chest X-ray, its ground-truth lung mask, and the mask outlined on the image."""
    apply_style()
    fig, axes = plt.subplots(1, 3, figsize=(WIDTH, 2.9))
    panels = [(image, f"(a) chest X-ray {name}".strip()), (mask, "(b) ground-truth lung mask"),
              (_rgb_overlay(image, None, mask), "(c) mask outlined on the image")]
    for ax, (img, title) in zip(axes, panels):
        ax.imshow(img, vmin=0, vmax=1) if img.ndim == 2 else ax.imshow(img)
        ax.set_title(title)
        _off(ax)
    fig.tight_layout()
    return _finish(fig)


# ---------------------------------------------------------------- results

def distribution_figure(scores: pd.DataFrame, label: str = "Dice (post-processed)"):
    """Per-image scores of every model (box plot with the images as points); ``scores`` has
    columns title and value (``results.per_image_long``)."""
    import seaborn as sns

    apply_style()
    order = list(dict.fromkeys(scores["title"]))
    if not order:
        return message_figure("no evaluated run yet")
    fig, ax = plt.subplots(figsize=(WIDTH, 0.45 * max(len(order), 2) + 1.2))
    with warnings.catch_warnings():  # seaborn 0.13 passes matplotlib 3.11's deprecated `vert`
        warnings.simplefilter("ignore", matplotlib.MatplotlibDeprecationWarning)
        sns.boxplot(data=scores, x="value", y="title", order=order, ax=ax, color="#cfe3f3",
                    showfliers=False, width=0.6, linewidth=0.8)
    sns.stripplot(data=scores, x="value", y="title", order=order, ax=ax, size=2.2, alpha=0.5,
                  color="#1f4e79", jitter=0.2)
    ax.set_xlabel(f"{label} per test image")
    ax.set_ylabel("")
    return _finish(fig)


def _box(ax, box, color=REMOVED_COLOR) -> None:
    x, y, w, h = box
    ax.add_patch(patches.Rectangle((x - 1, y - 1), w + 1, h + 1, fill=False, ec=color, lw=1.4))


def postprocessing_figure(image: np.ndarray, raw: np.ndarray, post: np.ndarray, truth: np.ndarray,
                          removed_boxes, scores: tuple[float, float] | None = None):
    """Fig. 2: a prediction before and after post-processing (largest components kept); the
    removed components are boxed in red. ``scores``: (Dice before, Dice after)."""
    apply_style()
    fig, axes = plt.subplots(1, 3, figsize=(WIDTH, 3.0))
    before, after = (f" (Dice {s:.3f})" for s in scores) if scores else ("", "")
    axes[0].imshow(image, vmin=0, vmax=1)
    axes[0].set_title("(a) input")
    axes[1].imshow(_rgb_overlay(image, raw, truth))
    axes[1].set_title(f"(b) prediction{before}")
    axes[2].imshow(_rgb_overlay(image, post, truth))
    axes[2].set_title(f"(c) post-processed{after}")
    for box in removed_boxes:
        _box(axes[1], box)
    for ax in axes:
        _off(ax)
    _legend(fig, removed=True)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return _finish(fig)


def _legend(fig, removed: bool = False) -> None:
    handles = [lines.Line2D([], [], color=TRUTH_COLOR, lw=2, label="ground truth"),
               patches.Patch(color=PRED_COLOR, label="prediction")]
    if removed:
        handles.append(patches.Patch(fill=False, ec=REMOVED_COLOR, label="removed component"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), bbox_to_anchor=(0.5, 0.0))


def cases_figure(rows: dict[str, list[dict]], score_key: str = "score"):
    """Fig. 4 and 5: a grid of prediction overlays, one row per group (e.g. best, median,
    worst); each case is a dict with name, image, pred, truth and ``score_key``."""
    apply_style()
    rows = {k: v for k, v in rows.items() if v}
    if not rows:
        return message_figure("no test image of this run is present in the data folder")
    ncols = max(len(v) for v in rows.values())
    side = min(2.3, (WIDTH - 0.4) / ncols)
    fig, axes = plt.subplots(len(rows), ncols, figsize=(side * ncols + 0.4, (side + 0.45) * len(rows) + 0.3),
                             squeeze=False)
    for r, (group, cases) in enumerate(rows.items()):
        for c in range(ncols):
            ax = axes[r, c]
            _off(ax)
            if c >= len(cases):
                ax.set_visible(False)
                continue
            case = cases[c]
            ax.imshow(_rgb_overlay(case["image"], case["pred"], case["truth"]))
            ax.set_title(f"{case['name']}\nDice {case[score_key]:.3f}")
            if c == 0:
                ax.set_ylabel(group, fontsize=9)
    _legend(fig)
    fig.tight_layout(rect=(0, 0.25 / fig.get_figheight(), 1, 1))
    return _finish(fig)


def correlation_figure(table: pd.DataFrame, metric: str, correlations: pd.DataFrame,
                       label: str = "Dice (post-processed)"):
    """Per-image score against brightness, contrast and |brightness - median|, one panel each,
    with the Spearman correlation in the panel title."""
    apply_style()
    features = {"brightness": table["brightness"], "contrast": table["contrast"],
                "brightness_deviation": (table["brightness"] - table["brightness"].median()).abs()}
    names = {"brightness": "brightness (mean)", "contrast": "contrast (std)",
             "brightness_deviation": "|brightness - median|"}
    fig, axes = plt.subplots(1, 3, figsize=(WIDTH, 2.9), sharey=True)
    for ax, (key, values) in zip(axes, features.items()):
        ax.scatter(values, table[metric], s=9, alpha=0.6, color="#1f4e79", lw=0)
        c = correlations.set_index("feature").loc[key]
        ax.set_title(f"Spearman \u03c1 {c['rho']:+.2f}, p = {c['p']:.2g}")
        ax.set_xlabel(names[key])
    axes[0].set_ylabel(label)
    fig.tight_layout()
    return _finish(fig)


def curves_figure(history: pd.DataFrame):
    """Training (solid) and validation (dashed) Dice against epoch, one small panel per model
    with one line per seed, and the learning rate (grey, right axis, log scale) beside them."""
    apply_style()
    if history.empty:
        return message_figure("no training history yet")
    if "seed" not in history:
        history = history.assign(seed=0)
    models = list(dict.fromkeys(history["title"]))
    ncols = 3
    nrows = -(-(len(models) + 1) // ncols)  # one panel more: the legend
    fig, axes = plt.subplots(nrows, ncols, figsize=(WIDTH, 2.05 * nrows), sharex=True, sharey=True, squeeze=False)
    colors = plt.get_cmap(PALETTE)
    rates = history["learning_rate"][history["learning_rate"] > 0] if "learning_rate" in history else pd.Series()
    for i, (ax, title) in enumerate(zip(axes.ravel(), models)):
        runs = history[history["title"] == title]
        rate = ax.twinx() if len(rates) else None
        for j, (seed, run) in enumerate(runs.groupby("seed")):
            color = colors(j)
            ax.plot(run["epoch"], run["dice"], color=color, lw=1.1)
            ax.plot(run["epoch"], run["val_dice"], color=color, lw=1.1, ls="--")
            if rate is not None:
                rate.plot(run["epoch"], run["learning_rate"], color="0.55", lw=1.0, ls=":")
        if rate is not None:  # one learning-rate scale for every panel, labelled at the right
            rate.set_yscale("log")
            rate.set_ylim(rates.min() / 3, rates.max() * 3)
            rate.spines["right"].set_visible(True)
            rate.tick_params(axis="y", colors="0.45", labelright=i % ncols == ncols - 1 or i == len(models) - 1)
        n_seeds = runs["seed"].nunique()
        ax.set_title(f"{title}" + (f" ({n_seeds} seeds)" if n_seeds > 1 else ""))
        ax.set_ylim(0, 1)
        ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True, nbins=4))
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    for ax in axes[:, 0]:
        ax.set_ylabel("Dice")
    legend_ax = axes.ravel()[len(models)]
    handles = [lines.Line2D([], [], color="black", label="training Dice"),
               lines.Line2D([], [], color="black", ls="--", label="validation Dice"),
               lines.Line2D([], [], color="0.55", ls=":", label="learning rate\n(right axis, log)"),
               *[lines.Line2D([], [], color=colors(j), label=f"seed {j}") for j in range(history["seed"].nunique())]]
    legend_ax.legend(handles=handles, loc="center", frameon=False)
    for ax in axes.ravel()[len(models):]:
        ax.axis("off")
    fig.tight_layout()
    return _finish(fig)


def ct_preprocessing_figure(steps: dict):
    """The CT preprocessing of :func:`lungseg_lib.report.ct.preprocessing_steps`: (a) the original
    slice, (b) after the HU window, (c) the resampled central slice with its lung mask outline.
    Axes in mm."""
    apply_style()
    fig = plt.figure(figsize=(WIDTH, 3.3), layout="constrained")
    axes = fig.subplots(1, 3)
    sx, sy = steps["spacing_before"][:2]
    ny, nx = steps["raw"].shape
    extent = (0, nx * sx, ny * sy, 0)
    lo, hi = steps["window"]
    raw = steps["raw"]
    panels = [(raw, float(raw.min()), float(raw.max()),
               f"(a) original slice {steps['original_index']}\n{nx} x {ny} px of {sx:.2f} mm, "
               f"{raw.min():.0f}..{raw.max():.0f} HU"),
              (steps["clipped"], lo, hi, f"(b) clipped to [{lo:g}, {hi:g}] HU\n(same slice)")]
    for ax, (img, vmin, vmax, title) in zip(axes, panels):
        im = ax.imshow(img, cmap="gray", vmin=vmin, vmax=vmax, extent=extent, interpolation="nearest")
        fig.colorbar(im, ax=ax, shrink=0.8, label="HU")
        ax.set_title(title, fontsize=9)
    s = steps["slice"]
    n = s.shape[0]
    mm = steps["spacing_after"][0]
    axes[2].imshow(s, cmap="gray", vmin=lo, vmax=hi, extent=(0, n * mm, n * mm, 0))
    axes[2].contour(np.linspace(0, n * mm, n), np.linspace(0, n * mm, n), steps["mask"],
                    levels=[0.5], colors="orange", linewidths=1)
    axes[2].set_title(f"(c) resampled to {mm:g} mm: central slice {steps['slice_index']},\n"
                      f"{n} x {n} px, lung mask outlined", fontsize=9)
    for ax in axes:
        ax.set_xlabel("mm")
    return _finish(fig)


# ---------------------------------------------------------------- robustness

def robustness_figure(curves: pd.DataFrame, label: str = "Dice (post-processed)"):
    """Small multiples, one panel per perturbation family: mean ``value`` against severity
    (clean first; ticks labelled with each family's parameter) for every model (columns model,
    title, family, severity, value); the legend in a panel of its own."""
    apply_style()
    if curves.empty:
        return message_figure("no robustness grid yet (robustness.csv in the run folders)")
    families = list(dict.fromkeys(curves["family"]))
    ncols = 3
    nrows = -(-(len(families) + 1) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(WIDTH, 2.15 * nrows), sharey=True, squeeze=False)
    colors = plt.get_cmap(PALETTE)
    titles = list(dict.fromkeys(curves["title"]))
    for ax, family in zip(axes.ravel(), families):
        for i, title in enumerate(titles):
            run = curves[(curves["family"] == family) & (curves["title"] == title)].sort_values("severity")
            ax.plot(run["severity"], run["value"], color=colors(i), lw=1.2, marker="o", ms=2.5, label=title)
        ax.set_title(family.replace("_", " "))
        labels = severity_labels(family)
        ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", rotation_mode="anchor")
    for ax in axes[:, 0]:
        ax.set_ylabel(label.replace(" (", "\n("))
    legend_ax = axes.ravel()[len(families)]
    handles, labels = axes.ravel()[0].get_legend_handles_labels()
    legend_ax.legend(handles, labels, loc="center", frameon=False)
    for ax in axes.ravel()[len(families):]:
        ax.axis("off")
    fig.tight_layout()
    return _finish(fig)


def severity_example_figure(images: dict, masks: dict, truth: np.ndarray, name: str = ""):
    """One image at every severity (columns) of some perturbation families (rows), on the fixed
    grey range [0, 1] (a darker image looks darker), each tile titled with the family's parameter,
    with the prediction (after post-processing) outlined and the manual mask in green:
    ``images[(family, severity)]``, ``masks[(family, severity)]``."""
    apply_style()
    families = list(dict.fromkeys(f for f, _ in images))
    severities = sorted({s for _, s in images})
    side = WIDTH / (len(severities) + 0.4)
    fig, axes = plt.subplots(len(families), len(severities), figsize=(WIDTH, (side + 0.3) * len(families) + 0.6),
                             squeeze=False)
    for r, family in enumerate(families):
        labels = severity_labels(family)
        for c, severity in enumerate(severities):
            ax = axes[r, c]
            ax.imshow(_rgb_overlay(images[(family, severity)], masks[(family, severity)], truth))
            _off(ax)
            ax.set_title(labels[severity], pad=2)
            if c == 0:
                ax.set_ylabel(family.replace("_", " ").replace(" ", "\n", 1))
    if name:
        fig.suptitle(f"{name}: severity 0 (clean) to 5, left to right")
    _legend(fig)
    fig.tight_layout(rect=(0, 0.3 / fig.get_figheight(), 1, 1))
    return _finish(fig)


# ---------------------------------------------------------------- use on your own images

def usage_figure(image: np.ndarray, overlay_bgr: np.ndarray, probability: np.ndarray, name: str = ""):
    """The usage page's figure: an X-ray, the label overlay `lungseg predict` writes (right lung
    orange, left lung blue) and the lung probability."""
    apply_style()
    fig, axes = plt.subplots(1, 3, figsize=(WIDTH, 2.9))
    axes[0].imshow(image, vmin=0, vmax=1)
    axes[0].set_title(f"(a) chest X-ray {name}".strip())
    axes[1].imshow(overlay_bgr[..., ::-1])
    axes[1].set_title("(b) right (R) and left (L) lung")
    shown = axes[2].imshow(probability, vmin=0, vmax=1, cmap="magma")
    axes[2].set_title("(c) lung probability")
    fig.colorbar(shown, ax=axes[2], fraction=0.046, pad=0.04)
    for ax in axes:
        _off(ax)
    fig.tight_layout()
    return _finish(fig)
