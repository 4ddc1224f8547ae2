"""What the papers report, as data: the one place the book's quoted values come from.

Every value here is REPORTED by a paper (quoted, never measured here); the book labels it so.
``results`` and ``claims`` read these records; nothing else types a paper's number.

    PAPERS: per paper, its citation, data, input size and how it averages its scores
    REPORTED: per reported row, the values as printed, where they are printed, the data
    table1() / table1_by_model(): the reproduced paper's Table 1
    related_table() -> DataFrame: the related papers' reported numbers
    mean_possible(dice, iou, decimals) / pooled_possible(...): the consistency check
    consistency_table(extra_rows) -> DataFrame

**The consistency check.** For one image (or one pooled set of pixels), Dice and IoU of the
same prediction satisfy Dice = 2 IoU / (1 + IoU). A mean over images (or over batches) of
that concave function is at most the function of the mean IoU, and at least the mean IoU
(Dice >= IoU for every image); every point between can be reached by mixing images. So a mean
Dice D and a mean IoU J of the same predictions satisfy J <= D <= 2 J / (1 + J), and scores
pooled over all pixels satisfy D = 2 J / (1 + J) exactly. A printed value ``v`` with ``d``
decimals stands for any value within ``ROUNDING * 10**-d`` of it; a pair is *possible* when
some values within those intervals satisfy the relation.
"""

from __future__ import annotations

import dataclasses
import math

ROUNDING = 0.5  # a printed value v with d decimals stands for [v - 0.5 10^-d, v + 0.5 10^-d]


@dataclasses.dataclass(frozen=True)
class Paper:
    """One paper: how the book cites it and what it says about its data and scores."""

    key: str
    short: str  # how the book's tables name it
    citation: str
    model: str  # the registry model it contributes (or the reproduced paper's)
    data: str
    input_size: str
    averaging: str
    n_train: int | None = None  # training images (or scans) the paper reports
    n_test: int | None = None  # test images (or scans) the paper reports


@dataclasses.dataclass(frozen=True)
class Reported:
    """One row of values a paper reports (as printed; fractions, percentages divided by 100).

    ``decimals``: the decimals of the printed fraction (``93.88%`` -> 0.9388 -> 4), which set
    the rounding interval of the consistency check. ``beside``: the registry model this row is
    set beside in the results table (None: none), ``post``: with the paper's post-processing.
    """

    paper: str
    row: str
    where: str
    quote: str
    dice: float | None
    iou: float | None
    decimals: int
    split: str = "test"
    beside: str | None = None
    post: bool = False
    note: str = ""


PAPERS = {p.key: p for p in (
    Paper("zhang2023", "Zhang 2023", "Y. Zhang, Lung Segmentation with NASNet-Large-Decoder Net, arXiv:2303.10315",
          "nasnet_decoder",
          "chest X-rays from the RSNA pneumonia detection dataset, lungs manually segmented; "
          "800 training and 200 test images; published at the author's repository (footnote 3)",
          "not stated", "not stated (Dice and IoU of the lung area, Sec. 3.3)", 800, 200),
    Paper("kuppili2023", "Kuppili 2023", "S. Kuppili, Lung Segmentation using Deep Learning (2023)", "resnet50_unet",
          "not named: a folder with images and masks subfolders (Sec. 3); no image counts",
          "Resize(256), which the paper says keeps the aspect ratio (Sec. 3)",
          "mean over test batches (Sec. 4)"),
    Paper("swaminathan", "Swaminathan (undated)", "A. R. Swaminathan, Deep Learning-Based Lung Segmentation using U-Net (undated)",
          "resnet101_unet",
          "the lung images dataset of its reference [4], which is Zhang's paper; no image counts",
          "not stated", "not stated"),
    Paper("sarada2019", "Sarada & Thirupathi Rao 2019", "N. Sarada, K. Thirupathi Rao, Lung Semantic Segmentation using Convolutional "
          "Neural Networks (2019)", "unet22",
          "NIH chest X-rays, 70/30 split (Sec. VIII; Sec. IX says 40,000 training and 15,000 test "
          "images); masks made from the mean and median of the image's pixels (Sec. VI)",
          "256x256x3 (Table I)", "per image only (Table II); no summary Dice or IoU"),
    Paper("ainala2023", "Ainala 2023", "S. R. Ainala, Lung Segmentation from CT Scans using Neural Networks (2023)",
          "unet3_compact",
          "1000 CT scans from the RSNA Pneumonia Detection Challenge dataset (a chest X-ray set), "
          "800 training and 200 test (Sec. 2)",
          "256x256 central axial slices (Secs. 2, 3)", "average over the test scans (Sec. 4)", 800, 200),
)}

REPORTED: tuple[Reported, ...] = (
    Reported("zhang2023", "Segnet [19]", "Table 1", "Segnet [19] 0.82 0.87", 0.87, 0.82, 2,
             beside="segnet"),
    Reported("zhang2023", "U-Net [20]", "Table 1", "U-Net [20] 0.84 0.88", 0.88, 0.84, 2,
             beside="unet"),
    Reported("zhang2023", "Deep-Lab [21]", "Table 1", "Deep-Lab [21] 0.85 0.89", 0.89, 0.85, 2,
             beside="deeplabv3plus",
             note="DeepLab v1, Chen et al. 2014, arXiv:1412.7062; DeepLabV3+ stands in for it here"),
    Reported("zhang2023", "Nastnetlarge-net", "Table 1", "Nastnetlarge-net 0.86 0.91", 0.91, 0.86, 2,
             beside="nasnet_decoder"),
    Reported("zhang2023", "Nastnetlarge-net-Post", "Table 1", "Nastnetlarge-net-Post 0.87 0.92", 0.92, 0.87, 2,
             beside="nasnet_decoder", post=True),
    Reported("kuppili2023", "test", "Sec. 4", "The IoU is calculated as 0.87", None, 0.87, 2),
    Reported("swaminathan", "validation", "Sec. 3.4",
             "a final validation IoU of 87.94% and a validation Dice score of 93.56%", 0.9356, 0.8794, 4,
             split="validation"),
    Reported("swaminathan", "test", "Sec. 3.4",
             "The test set evaluation resulted in an IoU of 88.50% and a Dice score of 93.88%", 0.9388, 0.8850, 4),
    Reported("ainala2023", "abstract", "abstract",
             "an average Dice score of 0.93 and intersection-over-union (IoU) of 0.85", 0.93, 0.85, 2),
    Reported("ainala2023", "results", "Sec. 4",
             "an average Dice Similarity Coefficient of 0.938 and Intersection over Union (IoU) score of 0.859",
             0.938, 0.859, 3),
)

REPRODUCED = "zhang2023"
HEADLINE = ("zhang2023", "Nastnetlarge-net-Post")  # the abstract's "0.92 dice scores"


def rows(paper: str | None = None) -> list[Reported]:
    """The reported rows (of one paper when given), in the order above."""
    return [r for r in REPORTED if paper is None or r.paper == paper]


def row(paper: str, name: str) -> Reported:
    """The reported row ``name`` of ``paper`` (KeyError names the valid rows)."""
    for r in rows(paper):
        if r.row == name:
            return r
    raise KeyError(f"{paper} has no reported row {name!r}; rows: {', '.join(r.row for r in rows(paper))}")


def table1() -> list[Reported]:
    """The reproduced paper's Table 1, its five rows in the printed order."""
    return [r for r in rows(REPRODUCED) if r.where == "Table 1"]


def table1_by_model() -> dict[str, dict[str, float]]:
    """``{model: {"dice": .., "iou": .., "dice_post": .., "iou_post": ..}}``: Table 1's values
    under the registry model each row is set beside (``_post``: the paper's post-processed row)."""
    out: dict[str, dict[str, float]] = {}
    for r in table1():
        suffix = "_post" if r.post else ""
        out.setdefault(r.beside, {}).update({f"dice{suffix}": r.dice, f"iou{suffix}": r.iou})
    return out


def headline() -> Reported:
    """The row whose Dice the paper's abstract gives (its model with post-processing)."""
    return row(*HEADLINE)


def reported_gain(metric: str = "dice") -> float:
    """The post-processing gain Table 1 reports for the paper's model (post row minus raw row),
    rounded to the printed decimals."""
    raw, post = row(REPRODUCED, "Nastnetlarge-net"), row(REPRODUCED, "Nastnetlarge-net-Post")
    return round(getattr(post, metric) - getattr(raw, metric), max(raw.decimals, post.decimals))


def source(paper: str = REPRODUCED) -> str:
    """The citation of ``paper``."""
    return PAPERS[paper].citation


def short(paper: str = REPRODUCED) -> str:
    """The short name of ``paper`` (author and year)."""
    return PAPERS[paper].short


# ---------------------------------------------------------------- the consistency check

def dice_of_iou(iou: float) -> float:
    """Dice of one image (or one pooled set of pixels) from its IoU: 2 IoU / (1 + IoU)."""
    return 2 * iou / (1 + iou)


def interval(value: float, decimals: int | None) -> tuple[float, float]:
    """The values a printed ``value`` with ``decimals`` decimals stands for (None: exact)."""
    if decimals is None:
        return value, value
    half = ROUNDING * 10.0 ** -decimals
    return max(0.0, value - half), min(1.0, value + half)


def mean_possible(dice: float, iou: float, decimals: int | None = None) -> bool:
    """Can ``dice`` and ``iou`` be the mean Dice and mean IoU of the same predictions over
    images (or batches)? True when some values within the rounding intervals satisfy
    IoU <= Dice <= 2 IoU / (1 + IoU)."""
    d_lo, d_hi = interval(dice, decimals)
    j_lo, j_hi = interval(iou, decimals)
    eps = 1e-12
    return d_lo <= dice_of_iou(j_hi) + eps and d_hi >= j_lo - eps


def pooled_possible(dice: float, iou: float, decimals: int | None = None) -> bool:
    """Can they be Dice and IoU pooled over all pixels of the test set? True when some values
    within the rounding intervals satisfy Dice = 2 IoU / (1 + IoU)."""
    d_lo, d_hi = interval(dice, decimals)
    j_lo, j_hi = interval(iou, decimals)
    eps = 1e-12
    return dice_of_iou(j_lo) <= d_hi + eps and dice_of_iou(j_hi) >= d_lo - eps


def check(dice: float, iou: float, decimals: int | None) -> dict:
    """The consistency check of one pair: the largest mean Dice a mean IoU allows (at the top
    of its rounding interval) and the two verdicts."""
    return {"bound": dice_of_iou(interval(iou, decimals)[1]),
            "mean": "possible" if mean_possible(dice, iou, decimals) else "impossible",
            "pooled": "possible" if pooled_possible(dice, iou, decimals) else "impossible"}


def aggregation_verdict(rows: list[Reported]) -> str:
    """What the consistency check says about how ``rows`` (one paper's pairs) were averaged."""
    pairs = [r for r in rows if r.dice is not None and r.iou is not None]
    mean = sum(mean_possible(r.dice, r.iou, r.decimals) for r in pairs)
    pooled = sum(pooled_possible(r.dice, r.iou, r.decimals) for r in pairs)
    n = len(pairs)
    if not n:
        return "no Dice/IoU pair to check"
    if mean == n and pooled == 0:
        return "they can only be means over images (or batches), not scores pooled over all pixels"
    if pooled == n and mean == n:
        return "they can be means over images or scores pooled over all pixels"
    if pooled == n:
        return "they can only be scores pooled over all pixels"
    if mean == 0 and pooled == 0:
        return "they can be neither means over images nor scores pooled over all pixels"
    return (f"{n - mean} of {n} cannot be means over images and {n - pooled} of {n} cannot be pooled "
            "scores: no one way of averaging fits them all")


def _fmt(value: float | None, decimals: int) -> str:
    return "" if value is None else f"{value:.{decimals}f}"


def consistency_rows() -> list[dict]:
    """One row per reported Dice/IoU pair (rows with only one of the two are left out)."""
    out = []
    for r in REPORTED:
        if r.dice is None or r.iou is None:
            continue
        c = check(r.dice, r.iou, r.decimals)
        where = "" if r.where == r.row else f" ({r.where})"
        out.append({"Source": f"{PAPERS[r.paper].short}: {r.row}{where}",
                    "Dice": _fmt(r.dice, r.decimals), "IoU": _fmt(r.iou, r.decimals),
                    "Decimals": str(r.decimals), "Largest mean Dice": f"{c['bound']:.4f}",
                    "As a mean over images": c["mean"], "Pooled over pixels": c["pooled"],
                    "_reported": True})
    return out


def consistency_table(measured: list[dict] | None = None):
    """The consistency check of every reported pair, then of ``measured`` rows
    (``{"Source", "dice", "iou"}``: means of our runs, exact, no rounding interval)."""
    import pandas as pd

    table = consistency_rows()
    for m in measured or []:
        if m["dice"] is None or m["iou"] is None or math.isnan(m["dice"]) or math.isnan(m["iou"]):
            continue
        c = check(m["dice"], m["iou"], None)
        table.append({"Source": m["Source"], "Dice": f"{m['dice']:.4f}", "IoU": f"{m['iou']:.4f}",
                      "Decimals": "measured", "Largest mean Dice": f"{c['bound']:.4f}",
                      "As a mean over images": c["mean"], "Pooled over pixels": "(a mean)",
                      "_reported": False})
    return pd.DataFrame(table)


def consistency_counts(table) -> dict:
    """What the page says of :func:`consistency_table`: how many reported pairs, how many are
    impossible as a mean over images and pooled over pixels (and whose), the same for ours."""
    reported, ours = table[table["_reported"]], table[~table["_reported"]]
    impossible = reported["As a mean over images"] == "impossible"
    return {"n_reported_pairs": float(len(reported)), "n_mean_impossible": float(impossible.sum()),
            "n_pooled_impossible": float((reported["Pooled over pixels"] == "impossible").sum()),
            "mean_impossible_sources": "; ".join(reported.loc[impossible, "Source"]) or "none",
            "n_own_pairs": float(len(ours)),
            "n_own_impossible": float((ours["As a mean over images"] == "impossible").sum())}


def table1_counts() -> dict:
    """How many of Table 1's rows are possible as a mean over images and pooled over pixels,
    and the verdict on how the paper averaged."""
    zhang = table1()
    return {"zhang_mean_possible": float(sum(mean_possible(r.dice, r.iou, r.decimals) for r in zhang)),
            "zhang_pooled_possible": float(sum(pooled_possible(r.dice, r.iou, r.decimals) for r in zhang)),
            "n_table1_rows": float(len(zhang)), "zhang_verdict": aggregation_verdict(zhang)}


def related_table():
    """The related papers' reported numbers, one row per reported row, with their data,
    input size and averaging (the reproduced paper's Table 1 is in the results table)."""
    import pandas as pd

    out = []
    for r in REPORTED:
        if r.paper == REPRODUCED:
            continue
        p = PAPERS[r.paper]
        out.append({"Paper": p.short, "Model here": p.model, "Split": f"{r.split} ({r.where})",
                    "Dice": _fmt(r.dice, r.decimals) or "not reported",
                    "IoU": _fmt(r.iou, r.decimals) or "not reported",
                    "Data": p.data, "Input size": p.input_size, "Averaging": p.averaging})
    covered = {r.paper for r in REPORTED}
    for p in PAPERS.values():
        if p.key not in covered and p.key != REPRODUCED:
            out.append({"Paper": p.short, "Model here": p.model, "Split": "", "Dice": "not reported",
                        "IoU": "not reported", "Data": p.data, "Input size": p.input_size,
                        "Averaging": p.averaging})
    table = pd.DataFrame(out)
    table.attrs["reported_columns"] = ["Dice", "IoU"]  # the values the papers report, set apart
    return table
