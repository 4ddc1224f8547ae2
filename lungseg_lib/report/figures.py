"""The book's figures: functions that take arrays or tables and return a matplotlib Figure.

One shared style (:data:`STYLE`, applied by every function). Figures are closed in pyplot
before they are returned, so a notebook shows each one once, where it is glued; :func:`save`
writes the PNG and PDF copies.
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
from .architecture import model_stages

STYLE = {
    "figure.dpi": 110, "savefig.dpi": 200, "savefig.bbox": "tight", "font.size": 9,
    "axes.titlesize": 9.5, "axes.labelsize": 9, "axes.spines.top": False, "axes.spines.right": False,
    "axes.grid": False, "legend.fontsize": 8, "legend.frameon": False, "image.cmap": "gray",
}
PALETTE = "tab10"
TRUTH_COLOR, PRED_COLOR, REMOVED_COLOR = "#1a9641", "#f5a300", "#d7191c"


def apply_style() -> None:
    """Apply the book's matplotlib style (called by every figure function)."""
    matplotlib.rcParams.update(STYLE)


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
    return overlay(image, pred, truth)[..., ::-1]


def _off(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


# ---------------------------------------------------------------- data

def data_example_figure(image: np.ndarray, mask: np.ndarray, name: str = ""):
    """Fig. 3: a chest X-ray, its ground-truth lung mask, and the mask outlined on the image."""
    apply_style()
    fig, axes = plt.subplots(1, 3, figsize=(8.4, 3.0))
    panels = [(image, f"(a) chest X-ray {name}".strip()), (mask, "(b) ground-truth lung mask"),
              (_rgb_overlay(image, None, mask), "(c) mask outlined on the image")]
    for ax, (img, title) in zip(axes, panels):
        ax.imshow(img, vmin=0, vmax=1) if img.ndim == 2 else ax.imshow(img)
        ax.set_title(title)
        _off(ax)
    fig.tight_layout()
    return _finish(fig)


# ---------------------------------------------------------------- architecture

def _stage_title(name: str) -> str:
    if name.startswith("dec"):
        return f"decoder\nblock {int(name[3:]) + 1}"
    return {"image": "input", "gray_to_rgb": "to RGB", "nasnet_encoder": "NASNet-Large\nencoder",
            "head": "head"}.get(name, name.replace("_", "\n"))


def architecture_figure(model, title: str = ""):
    """Fig. 1: the model drawn from its built layers, stage by stage, each box as high as its
    output's spatial size (log scale) and labelled with its operations and output shape."""
    apply_style()
    stages = model_stages(model)
    step, width = 1.0, 0.74
    fig, ax = plt.subplots(figsize=(0.95 * len(stages) + 0.3, 3.9))
    sides = [s["shape"][0] for s in stages]
    lo, hi = np.log2(min(sides)), np.log2(max(sides))
    colors = plt.get_cmap(PALETTE)
    for i, stage in enumerate(stages):
        x = i * step
        h = 1.3 + 1.7 * ((np.log2(stage["shape"][0]) - lo) / max(hi - lo, 1))
        color = colors(1 if stage["name"].startswith("dec") else 0 if "encoder" in stage["name"] else 7)
        ax.add_patch(patches.FancyBboxPatch((x, -h / 2), width, h, boxstyle="round,pad=0.02",
                                            fc=color, ec="black", lw=0.6, alpha=0.75))
        ax.text(x + width / 2, 1.75, _stage_title(stage["name"]), ha="center", va="bottom", fontsize=8,
                weight="bold")
        ax.text(x + width / 2, -1.7, "\n".join(o for o in stage["ops"] if o), ha="center", va="top", fontsize=6.8)
        shape = "x".join(map(str, stage["shape"]))
        params = f"{stage['params'] / 1e6:.2f} M" if stage["params"] >= 1e5 else f"{stage['params']:,}"
        ax.text(x + width / 2, 0, f"{shape}\n{params}", ha="center", va="center", fontsize=7, rotation=90)
        if i:
            ax.annotate("", xy=(x - 0.02, 0), xytext=(x - step + width + 0.02, 0),
                        arrowprops={"arrowstyle": "->", "lw": 0.8})
    ax.set_xlim(-0.1, len(stages) * step - step + width + 0.1)
    ax.set_ylim(-2.7, 2.3)
    _off(ax)
    total = sum(s["params"] for s in stages)
    ax.set_title(title or f"{model.name}: {total / 1e6:.2f} M parameters\n(in each box: output "
                          "height x width x channels, parameters)", fontsize=8.5)
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
    fig, ax = plt.subplots(figsize=(7.5, 0.45 * max(len(order), 2) + 1.2))
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
    fig, axes = plt.subplots(1, 3, figsize=(8.4, 3.1))
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
    fig, axes = plt.subplots(len(rows), ncols, figsize=(2.3 * ncols + 0.4, 2.45 * len(rows) + 0.3),
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
            ax.set_title(f"{case['name']}\nDice {case[score_key]:.3f}", fontsize=7.5)
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
    names = {"brightness": "mean intensity (brightness)", "contrast": "intensity std (contrast)",
             "brightness_deviation": "|brightness - median brightness|"}
    fig, axes = plt.subplots(1, 3, figsize=(9.0, 3.0), sharey=True)
    for ax, (key, values) in zip(axes, features.items()):
        ax.scatter(values, table[metric], s=9, alpha=0.6, color="#1f4e79", lw=0)
        c = correlations.set_index("feature").loc[key]
        ax.set_title(f"Spearman rho {c['rho']:+.2f}, p = {c['p']:.2g}")
        ax.set_xlabel(names[key])
    axes[0].set_ylabel(label)
    fig.tight_layout()
    return _finish(fig)


def curves_figure(history: pd.DataFrame):
    """Loss, Dice and IoU against epoch for every run (2 x 2 grid, the legend in the fourth
    panel): training solid, validation dashed; one colour per model, one line per seed."""
    apply_style()
    if history.empty:
        return message_figure("no training history yet")
    if "seed" not in history:
        history = history.assign(seed=0)
    fig, axes = plt.subplots(2, 2, figsize=(8.4, 6.2))
    panels, legend_ax = axes.ravel()[:3], axes.ravel()[3]
    colors = plt.get_cmap(PALETTE)
    for i, (title, model_runs) in enumerate(history.groupby("title", sort=False)):
        n_seeds = model_runs["seed"].nunique()
        label = title + (f" ({n_seeds} seeds)" if n_seeds > 1 else "")
        for j, (_, run) in enumerate(model_runs.groupby("seed")):
            for ax, key in zip(panels, ("loss", "dice", "iou")):
                ax.plot(run["epoch"], run[key], color=colors(i), lw=1.0, marker="o", ms=2,
                        label=label if j == 0 else None)
                ax.plot(run["epoch"], run[f"val_{key}"], color=colors(i), lw=1.0, ls="--", marker="o", ms=2)
    for ax, name in zip(panels, ("loss", "Dice", "IoU")):
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    panels[0].set_yscale("log")
    handles, _ = panels[0].get_legend_handles_labels()
    handles += [lines.Line2D([], [], color="gray", label="training"),
                lines.Line2D([], [], color="gray", ls="--", label="validation")]
    legend_ax.legend(handles=handles, loc="center", frameon=False)
    legend_ax.axis("off")
    fig.tight_layout()
    return _finish(fig)


def ct_preprocessing_figure(steps: dict):
    """The CT preprocessing of :func:`lungseg_lib.report.ct.preprocessing_steps`: (a) the original
    slice, (b) after the HU window, (c) the resampled central slice with its lung mask outline.
    Axes in mm."""
    apply_style()
    fig = plt.figure(figsize=(11, 3.9), layout="constrained")
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
    (0 = clean) for every model (columns model, title, family, severity, value)."""
    apply_style()
    if curves.empty:
        return message_figure("no robustness grid yet (robustness.csv in the run folders)")
    families = list(dict.fromkeys(curves["family"]))
    ncols = 5
    nrows = -(-len(families) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(9.6, 2.1 * nrows + 0.6), sharex=True, sharey=True,
                             squeeze=False)
    colors = plt.get_cmap(PALETTE)
    titles = list(dict.fromkeys(curves["title"]))
    for ax, family in zip(axes.ravel(), families):
        for i, title in enumerate(titles):
            run = curves[(curves["family"] == family) & (curves["title"] == title)].sort_values("severity")
            ax.plot(run["severity"], run["value"], color=colors(i), lw=1.2, marker="o", ms=2.5, label=title)
        ax.set_title(family.replace("_", " "))
        ax.xaxis.set_major_locator(ticker.MaxNLocator(integer=True))
    for ax in axes.ravel()[len(families):]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("severity")
    for ax in axes[:, 0]:
        ax.set_ylabel(label)
    handles, labels = axes.ravel()[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, frameon=False)
    fig.tight_layout(rect=(0, 0.07 + 0.03 / nrows, 1, 1))
    return _finish(fig)


def severity_example_figure(images: dict, masks: dict, truth: np.ndarray, name: str = ""):
    """One image at every severity (columns) of some perturbation families (rows), with the
    prediction (after post-processing) outlined and the manual mask in green:
    ``images[(family, severity)]``, ``masks[(family, severity)]``."""
    apply_style()
    families = list(dict.fromkeys(f for f, _ in images))
    severities = sorted({s for _, s in images})
    fig, axes = plt.subplots(len(families), len(severities), figsize=(1.5 * len(severities), 1.55 * len(families)),
                             squeeze=False)
    for r, family in enumerate(families):
        for c, severity in enumerate(severities):
            ax = axes[r, c]
            ax.imshow(_rgb_overlay(images[(family, severity)], masks[(family, severity)], truth))
            _off(ax)
            if r == 0:
                ax.set_title("clean" if severity == 0 else f"severity {severity}")
            if c == 0:
                ax.set_ylabel(family.replace("_", " "))
    if name:
        fig.suptitle(name, fontsize=9)
    _legend(fig)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return _finish(fig)


# ---------------------------------------------------------------- use on your own images

def usage_figure(image: np.ndarray, overlay_bgr: np.ndarray, probability: np.ndarray, name: str = ""):
    """The usage page's figure: an X-ray, the label overlay `lungseg predict` writes (right lung
    orange, left lung blue) and the lung probability."""
    apply_style()
    fig, axes = plt.subplots(1, 3, figsize=(8.4, 3.0))
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
