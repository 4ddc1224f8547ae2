"""What the usage page ("Use it on your own images") computes: the default model (or another)
on one test image through the user's call, and the ranges its warnings compare with."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from . import figures

#: the example's numbers the page glues (NaN without a model)
EXAMPLE_KEYS = ("right_px", "left_px", "right_percent", "left_percent", "ratio", "dice", "n_warnings")


def find_model(model: str = ""):
    """``(folder, "")`` of the model to show (``""``: the default model), or ``(None, why)`` when
    it is not here; published weights are not downloaded for the page."""
    from ..engine import weights

    try:
        return weights.model_folder(model or None, fetch_missing=False), ""
    except FileNotFoundError as exc:
        return None, str(exc)


def status(folder, model: str = "") -> str:
    """The page's first answer: which model it shows (``folder``, from :func:`find_model`; its
    architecture, input size, profile and seed from its ``config.json``, and its model card when
    the folder has one), or that it has none."""
    if folder is None:
        return ("This build of the book does not have it yet: the package does not ship the default "
                "model's weights, so the example below shows no result." if not model else
                f"The model {model!r} is not here, so the example below shows no result.")
    from ..engine.records import RunRecord, read_run_record
    from .profile_runs import title_of

    folder = Path(folder)
    config = (read_run_record(folder) or RunRecord()).config
    arch = config.get("model", "?")
    try:
        title = title_of(arch)
    except ValueError:  # a model this version of the registry does not know
        title = arch
    what = "This build of the book has it" if not model else f"This page shows the model {model!r}"
    card = f"; its model card is {folder.name}/model_card.md" if (folder / "model_card.md").is_file() else ""
    # plain text: a glued sentence is pasted as it is (Markdown in it would show its backticks)
    return (f"{what}: the {title} at {config.get('image_size', '?')} px, trained with the "
            f"{config.get('profile', '?')} profile (seed {config.get('seed', 0)}){card}.")


def best_sentence(best: list[str] | None) -> str:
    """Which model of the fair study is best by seed-0 validation Dice (``best``: from
    :func:`lungseg_lib.report.profile_runs.best_by_validation`, None while not every run is evaluated)."""
    from .profile_runs import title_of

    if not best:
        return ("Which of the eight models is best by validation Dice is not known yet: not every "
                "first run (seed zero) of the fair study is evaluated.")
    return (f"Among the eight models' first runs of the fair study (seed zero), the best by "
            f"validation Dice is the {title_of(best[0])}.")


def example(result, pair, name: str, model: str = "") -> dict:
    """The page's view of ``result``, what :func:`lungseg_lib.segment` gave for the image/mask
    ``pair`` (test image ``name``): ``figure``, ``table`` (the CSV row of ``lungseg predict``),
    ``sentence`` and ``values`` (:data:`EXAMPLE_KEYS`). Without a model (``result`` None): a
    message figure and NaN values, never a made-up result."""
    if result is None:
        what = "The default model is not shipped yet" if not model else f"The model {model!r} is not here"
        return {"figure": figures.message_figure(f"{what}: no result to show (never a made-up one)."),
                "table": pd.DataFrame([{"File": pair.image.name, "Result": "none: no model"}]),
                "sentence": (f"{what}, so this page shows no result: lungseg predict and segment() stop "
                             "with an error that says so and how to pass another model."),
                "values": dict.fromkeys(EXAMPLE_KEYS, math.nan)}
    from ..core.metrics import dice
    from ..data.imageio import read_mask

    a = result.areas
    values = dict(right_px=float(a.right_px), left_px=float(a.left_px),
                  right_percent=float(100 * a.right_fraction), left_percent=float(100 * a.left_fraction),
                  ratio=float(a.right_left_ratio or math.nan), dice=float(dice(result.mask, read_mask(pair.mask))),
                  n_warnings=float(len(result.warnings)))
    sentence = (f"On the test image {name} ({result.labels.shape[1]} x {result.labels.shape[0]} pixels) the "
                f"model finds a right lung of {a.right_px:,} pixels ({values['right_percent']:.1f}% of the "
                f"image) and a left lung of {a.left_px:,} pixels ({values['left_percent']:.1f}%), a right/left "
                f"ratio of {values['ratio']:.2f}; Dice against the manual mask {values['dice']:.3f}. "
                + (f"Warnings: {'; '.join(result.warnings)}." if result.warnings else "No warning."))
    return {"figure": figures.usage_figure(result.image, result.overlay(), result.probability, name),
            "table": pd.DataFrame([{"File": pair.image.name, **result.row()}]).replace("", pd.NA).dropna(axis=1),
            "sentence": sentence, "values": values}


def range_values(ranges: dict) -> dict[str, float]:
    """The training masks' ranges the warnings compare with, for the page: the number of masks,
    each lung's 1st and 99th percentile of the image's area (%), and the right/left ratio's."""
    out = {"range_n": float(ranges["n_masks"])}
    for side in ("right", "left"):
        for p in ("p1", "p99"):
            out[f"range_{side}_{p}"] = float(100 * ranges[f"{side}_fraction"][p])
    out["range_ratio_p1"] = float(ranges["ratio"]["p1"])
    out["range_ratio_p99"] = float(ranges["ratio"]["p99"])
    return out
