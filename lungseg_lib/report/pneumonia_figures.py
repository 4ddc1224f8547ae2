"""The pneumonia chapter's figures, in the book's shared style (:mod:`figures`): the cross-set
heatmap, the worst test cases and one image's convention/failure regions.

Every figure that shows images of ``covid_pneumonia_512`` draws only those whose licence
allows an adapted copy (:func:`lungseg_lib.data.licences.may_show` on the manifest row), and
returns a :class:`ShownFigure`: the figure, the names drawn, their credit lines
(:func:`~lungseg_lib.data.licences.figure_credit`) for the caption, and how many images it
skipped for their licence.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import lines, patches

from ..data.folders import find_pairs
from ..data.imageio import from_square, read_image, read_mask
from ..data.licences import figure_credit, may_show
from ..engine import runfolder
from . import figures, profile_runs
from .conventions_analysis import NO_DATA, Truth, input_grid, pneumonia_data_dir
from .figures import TRUTH_COLOR, apply_style, message_figure
from .pneumonia import DATA, PROFILE, image_info, mean_scores

#: the test sets' names as the heatmap's columns say them
SHORT_TITLES = {"Shenzhen + Montgomery test": "Shenzhen +\nMontgomery\ntest", "pneumonia test": "pneumonia\ntest",
                "external site (Hannover)": "external\nsite\n(Hannover)"}
VMIN, VMAX = 0.5, 1.0  # the heatmap's fixed colour range (values below VMIN take its colour)
FIELD_COLOR, OUTSIDE_COLOR, INSIDE_COLOR = "#2c7bb6", "#d7191c", "#2c7bb6"


@dataclass
class ShownFigure:
    """A figure showing images of the set: the names drawn, their credit lines, the number of
    images skipped because their licence does not allow an adapted copy."""

    figure: object
    shown: list[str] = field(default_factory=list)
    credits: list[str] = field(default_factory=list)
    skipped: int = 0

    def caption(self) -> str:
        """The caption's credit part: the images skipped for their licence, then each credit."""
        skipped = (f"{self.skipped} image(s) not shown: their licence does not allow an adapted copy. "
                   if self.skipped else "No image was skipped for its licence. ")
        if not self.shown:
            return skipped + "No image shown."
        return skipped + "Images: " + "; ".join(self.credits) + "."


def showable(cases: list[dict]) -> tuple[list[dict], list[str], int]:
    """The cases whose manifest row (``file``, ``license``, ``url``) allows an adapted copy, their
    credit lines, and how many were refused."""
    kept, credits = [], []
    for case in cases:
        if may_show(case.get("license", "")):
            credits.append(figure_credit(case))
            kept.append(case)
    return kept, credits, len(cases) - len(kept)


# ---------------------------------------------------------------- the cross-set heatmap

def cross_set_figure(matrix: pd.DataFrame, label: str = "Dice (post-processed)", vmin: float = VMIN,
                     vmax: float = VMAX):
    """Models x the six train -> test pairs (:func:`pneumonia.cross_set_matrix`, columns
    ``(trained_on, tested_on)``): the mean score annotated in each cell, the colour range fixed
    at ``vmin``-``vmax``; a missing cell is left blank."""
    import seaborn as sns

    apply_style()
    if matrix.isna().all().all():
        return message_figure("no cross-set score yet: every cell of the matrix is missing")
    fig, ax = plt.subplots(figsize=(7.6, 0.42 * len(matrix) + 2.1))
    values = pd.DataFrame(matrix.to_numpy(float), index=matrix.index,
                          columns=[SHORT_TITLES.get(t, t) for _, t in matrix.columns])
    sns.heatmap(values, vmin=vmin, vmax=vmax, cmap="viridis", annot=True, fmt=".3f", mask=values.isna(),
                linewidths=0.6, linecolor="white", ax=ax, annot_kws={"fontsize": 9.5},
                cbar_kws={"label": f"mean {label}", "fraction": 0.05, "pad": 0.02})
    ax.set_facecolor("white")
    ax.set_ylabel("")
    ax.tick_params(axis="both", labelsize=9, length=0)
    ax.set_xticklabels(ax.get_xticklabels(), rotation=0)
    groups = list(dict.fromkeys(t for t, _ in matrix.columns))
    for i, group in enumerate(groups):
        span = [j for j, (t, _) in enumerate(matrix.columns) if t == group]
        ax.text((span[0] + span[-1] + 1) / 2, -0.2, f"trained on\n{group}", ha="center", va="bottom",
                fontsize=9.5, weight="bold")
        if i:
            ax.axvline(span[0], color="black", lw=1.5)
    fig.tight_layout()
    return figures._finish(fig)


# ---------------------------------------------------------------- the worst cases

def _manifest(root) -> pd.DataFrame:
    """The data folder's ``manifest.csv`` rows by name (the licence of each image)."""
    path = root / "manifest.csv"
    return image_info(pd.read_csv(path, dtype=str, keep_default_na=False) if path.exists() else None)


def worst_cases(model: str, runs_dir: str | os.PathLike = "runs", n: int = 3, data_dir: str | os.PathLike = "",
                metric: str = "dice_post") -> dict:
    """The ``n`` worst pneumonia test images of ``model`` (``cpu-pneumonia``, by its per-image
    ``metric`` averaged over seeds) among those whose licence allows a figure, walking up from
    the worst: ``{"title", "cases", "skipped", "why"}``; each case holds the image, the
    lowest evaluated seed's raw prediction and the truth at the image's own size, its score and
    manifest row. ``skipped``: the names of worse images passed over for their licence;
    ``why``: what is missing when there are no cases."""
    title = profile_runs.title_of(model)
    out = {"title": title, "cases": [], "skipped": [], "why": ""}
    scores = mean_scores(PROFILE, model, DATA, "test", runs_dir)
    root = pneumonia_data_dir(data_dir)
    if scores is None or root is None:
        out["why"] = f"{title}: " + (profile_runs.missing_message(PROFILE, model, runs_dir) if scores is None else NO_DATA)
        return out
    info, pairs = _manifest(root), {p.name: p for p in find_pairs(root).pairs}
    seed, run = min(profile_runs.seed_dirs(PROFILE, model, runs_dir).items())
    size_how = input_grid(run)[1]
    for _, row in scores.sort_values([metric, "name"]).iterrows():
        if len(out["cases"]) == n:
            break
        meta = info.loc[row["name"]].to_dict()
        if not may_show(meta["license"]):
            out["skipped"].append(row["name"])
            continue
        pair = pairs[row["name"]]
        image, truth = read_image(pair.image), read_mask(pair.mask)
        raw = read_mask(run / runfolder.PREDICTIONS / f"{row['name']}.png")
        pred = from_square(raw.astype(np.float32), truth.shape, size_how) >= 0.5
        out["cases"].append({**meta, "image": image, "pred": pred, "truth": truth, "score": float(row[metric]),
                             "seed": seed})
    return out


def worst_case_models(runs_dir: str | os.PathLike = "runs") -> tuple[list[str], str]:
    """The models whose worst cases are shown: the paper's model (the NASNet-Large decoder) and
    the ``cpu-pneumonia`` model with the best validation Dice of seed 0 (once every seed-0 run
    is evaluated), each once; and that choice in words."""
    best = profile_runs.best_by_validation(PROFILE, 1, runs_dir=runs_dir)
    models = list(dict.fromkeys([profile_runs.REFERENCE_MODEL, *(best or [])]))
    title = profile_runs.title_of(profile_runs.REFERENCE_MODEL)
    if best is None:
        return models, (f"the {title} (the best {PROFILE} model by validation Dice is not known until every "
                        "seed-0 run is evaluated)")
    if best[0] == profile_runs.REFERENCE_MODEL:
        return models, f"the {title}, which is also the best {PROFILE} model by validation Dice"
    return models, f"the {title} and the best {PROFILE} model by validation Dice, the {profile_runs.title_of(best[0])}"


def worst_cases_figure(rows: list[dict], label: str = "Dice (post-processed)") -> ShownFigure:
    """One row per model (:func:`worst_cases`): each case's prediction tinted and outlined and
    its truth outlined in green, titled with its name and score; a case whose licence does not
    allow an adapted copy is not drawn (counted in ``skipped``, each image once)."""
    apply_style()
    shown_rows, credits, skipped = [], [], set()
    for row in rows:
        kept, credit, _ = showable(row["cases"])
        skipped |= set(row.get("skipped", [])) | {c["name"] for c in row["cases"] if not may_show(c.get("license", ""))}
        if kept:
            shown_rows.append((row["title"], kept))
            credits += [c for c in credit if c not in credits]
    if not shown_rows:
        why = "; ".join(r["why"] for r in rows if r.get("why")) or "no test image may be shown"
        return ShownFigure(message_figure(why, size=(7.0, 1.8)), [], [], len(skipped))
    ncols = max(len(c) for _, c in shown_rows)
    fig, axes = plt.subplots(len(shown_rows), ncols, figsize=(2.4 * ncols + 0.5, 2.6 * len(shown_rows) + 0.4),
                             squeeze=False)
    names = []
    for r, (title, cases) in enumerate(shown_rows):
        for c, ax in enumerate(axes[r]):
            figures._off(ax)
            if c >= len(cases):
                ax.set_visible(False)
                continue
            case = cases[c]
            ax.imshow(figures._rgb_overlay(case["image"], case["pred"], case["truth"]))
            ax.set_title(f"{case['name']}\n{label.split(' ')[0]} {case['score']:.3f}", fontsize=9)
            names.append(case["name"])
        axes[r, 0].set_ylabel(title, fontsize=9)
    handles = [lines.Line2D([], [], color=TRUTH_COLOR, lw=2, label="whole-lung truth"),
               patches.Patch(color=figures.PRED_COLOR, label="prediction (raw)")]
    fig.legend(handles=handles, loc="lower center", ncol=2, bbox_to_anchor=(0.5, 0.0), fontsize=9.5)
    fig.tight_layout(rect=(0, 0.35 / fig.get_figheight(), 1, 1))
    return ShownFigure(figures._finish(fig), list(dict.fromkeys(names)), credits, len(skipped))


# ---------------------------------------------------------------- the regions of one image

def region_example(truth: Truth | None, data_dir: str | os.PathLike = "") -> dict | None:
    """The test image whose share of truth outside the reference field is closest to the
    median share, among those whose licence allows a figure (ties: by name), on the analysis
    grid with its manifest row; None without the reference fields or a showable image."""
    if truth is None or not truth.fields:
        return None
    info = _manifest(pneumonia_data_dir(data_dir))
    shares = [(t & ~f).sum() / max(t.sum(), 1) for t, f in zip(truth.masks, truth.fields)]
    median = float(np.median(shares))
    order = sorted(range(len(shares)), key=lambda i: (abs(shares[i] - median), truth.names[i]))
    for i in order:
        meta = info.loc[truth.names[i]].to_dict()
        if may_show(meta["license"]):
            return {**meta, "image": truth.images[i], "truth": truth.masks[i], "field": truth.fields[i],
                    "reference": truth.reference_preds[i], "share": float(shares[i])}
    return None


def _outline(ax, mask: np.ndarray, color: str, style: str = "solid") -> None:
    if mask.any():
        ax.contour(mask.astype(float), levels=[0.5], colors=[color], linewidths=1.4, linestyles=style)


def regions_figure(case: dict | None, why: str = "") -> ShownFigure:
    """One test image on the analysis grid: (a) the whole-lung truth outlined in green; (b) the
    reference model's raw prediction tinted and its visible field (the convex hulls) outlined;
    (c) the truth inside the field (blue) and outside it (red). Drawn only when the image's
    licence allows an adapted copy."""
    apply_style()
    kept, credits, refused = showable([case] if case else [])
    if not kept:
        return ShownFigure(message_figure(why or "no test image may be shown here", size=(7.0, 1.8)), [], [], refused)
    case = kept[0]
    image, truth, field_, ref = (np.asarray(case[k]) for k in ("image", "truth", "field", "reference"))
    grey = np.repeat(np.clip(image, 0, 1)[..., None], 3, axis=2)
    fig, axes = plt.subplots(1, 3, figsize=(8.0, 3.2))
    tinted = grey.copy()
    tinted[ref] = 0.6 * tinted[ref] + 0.4 * np.array(matplotlib.colors.to_rgb(figures.PRED_COLOR))
    regions = grey.copy()
    for mask, color in ((truth & field_, INSIDE_COLOR), (truth & ~field_, OUTSIDE_COLOR)):
        regions[mask] = 0.45 * regions[mask] + 0.55 * np.array(matplotlib.colors.to_rgb(color))
    panels = [(grey, "(a) whole-lung truth"), (tinted, "(b) reference prediction\nand its visible field"),
              (regions, f"(c) inside (blue) and outside\n(red) the field: {100 * case.get('share', np.nan):.1f} % outside")]
    for ax, (picture, title) in zip(axes, panels):
        ax.imshow(picture, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        figures._off(ax)
    _outline(axes[0], truth, TRUTH_COLOR)
    _outline(axes[1], field_, FIELD_COLOR)
    _outline(axes[2], field_, "white", "dashed")
    handles = [lines.Line2D([], [], color=TRUTH_COLOR, lw=2, label="whole-lung truth"),
               patches.Patch(color=figures.PRED_COLOR, label="reference prediction"),
               lines.Line2D([], [], color=FIELD_COLOR, lw=2, label="visible field (hulls)")]
    fig.legend(handles=handles, loc="lower center", ncol=3, bbox_to_anchor=(0.5, 0.0), fontsize=9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        fig.tight_layout(rect=(0, 0.08, 1, 1))
    return ShownFigure(figures._finish(fig), [case["name"]], credits, refused)
