"""The default model's remedy screen (``params/screen*.yaml``): which remedies to keep.

Every arm is the compact U-Net trained once with one change to the base recipe and scored on
the validation split only (``RUN/val``: ``lungseg evaluate RUN --split val --out RUN/val``);
filling holes is a post-processing arm, the base run scored again with ``--fill-holes``
(``RUN/val-fill-holes``). The rule below was fixed with the profiles, before any run:

- paired image by image with the base arm, a remedy *helps* when it raises the Dice after
  post-processing under intensity shifts (:func:`augmentation_experiment.per_image_scores`: the mean over
  the six intensity families of their five severities) or on the tuberculosis images (manifest
  label 1) by a difference that counts (:func:`augmentation_experiment.compare`: above
  :data:`verdicts.MIN_EFFECT`, paired bootstrap CI excluding zero);
- it *costs* when it lowers the clean validation Dice by a difference that counts;
- it is kept when it helps and does not cost.

No TensorFlow: everything is read from the run folders.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ..core.stats import summarize
from ..engine.runfolder import METRICS, PER_IMAGE, run_dir_for
from ..project import repo_path
from . import facts
from .verdicts import MIN_EFFECT, direction
from .augmentation_experiment import compare, per_image_scores

MODEL, SEED = "unet3_compact", 0
BASE = "screen"
VAL, VAL_FILL_HOLES = "val", "val-fill-holes"
#: the arms: (profile, folder of its validation scores) -> what it changes
ARMS = {("screen-strongaug", VAL): "stronger intensity augmentation",
        ("screen-opacity", VAL): "opacities painted inside the lungs",
        ("screen-clahe", VAL): "CLAHE on every input",
        (BASE, VAL_FILL_HOLES): "holes filled inside the kept lungs"}
#: what a kept remedy sets in the default model's configuration (keys as in :data:`ARMS`)
SETS = {("screen-strongaug", VAL): {"augment_strength": "strong"},
        ("screen-opacity", VAL): {"augment_strength": "opacity"},
        ("screen-clahe", VAL): {"normalize": "clahe"}, (BASE, VAL_FILL_HOLES): {"post_fill_holes": True}}
_WHERE = {"intensity": "under intensity shifts", "tb": "on the tuberculosis images"}
METRIC = "dice_post"
TB_LABEL = 1
MAX_MB, MAX_MS, SIZE = 5.0, 100.0, 256  # the default model's limits: weights on disk, ms per image
TARGET_DICE = 0.967  # the test-split Dice after post-processing the default model was set to reach


def candidates(bench: dict) -> pd.DataFrame:
    """Which registry models can be the default model: per model of a CPU benchmark
    (``bench/cpu.json``) at 256 px, its parameters, its float32 weights in MB and its inference
    time per image (batch 1), and whether both are within :data:`MAX_MB` and :data:`MAX_MS`."""
    rows = [{"model": r["model"], "params": r["params"], "mb": 4 * r["params"] / 1e6,
             "ms": r["infer_ms_batch1"]["median"]} for r in bench["results"] if r["size"] == SIZE]
    table = pd.DataFrame(rows).sort_values("ms").reset_index(drop=True)
    table["fits"] = (table["mb"] <= MAX_MB) & (table["ms"] < MAX_MS)
    return table


def candidates_table(fit: pd.DataFrame) -> pd.DataFrame:
    """:func:`candidates` as the book shows it, one row per model."""
    from .profile_runs import title_of

    return pd.DataFrame({"Model": fit.model.map(title_of), "Parameters": fit.params.map("{:,}".format),
                         "MB (float32)": fit.mb.round(1), "ms per image": fit.ms.round(0),
                         "Fits": fit.fits.map({True: "yes", False: "no"})})


def arm_folder(profile: str, scores: str = VAL, runs_dir: str | os.PathLike = "runs") -> Path:
    """Where an arm's validation scores are: ``runs_dir/PROFILE/unet3_compact/seed0/SCORES``."""
    return run_dir_for(profile, MODEL, SEED, repo_path(runs_dir)) / scores


def arm_scores(folder: Path) -> pd.DataFrame | None:
    """Per validation image: clean Dice, Dice under intensity shifts, and ``tb`` (label 1);
    None until the arm is scored (``metrics.json`` and the grid)."""
    if not (folder / METRICS).exists():
        return None
    table = per_image_scores(folder, METRIC)
    if table is None:
        return None
    labels = pd.read_csv(folder / PER_IMAGE).set_index("name")["label"]
    table["tb"] = table["clean"].where(labels.reindex(table.index) == TB_LABEL)
    return table[["clean", "intensity", "tb"]]


def screen(runs_dir: str | os.PathLike = "runs") -> pd.DataFrame:
    """One row per arm: its means (clean, under intensity shifts, TB images) and, for the
    remedies, the paired differences to the base arm with CIs, whether each counts, and the
    verdict (kept / not kept / not run yet)."""
    base = arm_scores(arm_folder(BASE, VAL, runs_dir))
    rows = [{"arm": "base recipe", "profile": BASE, "scores": VAL, "kept": None, "verdict": "reference",
             **_means(base)}]
    for (profile, scores), what in ARMS.items():
        table = arm_scores(arm_folder(profile, scores, runs_dir))
        row = {"arm": what, "profile": profile, "scores": scores, **_means(table)}
        if table is None or base is None:
            rows.append({**row, "kept": None, "verdict": "not run yet"})
            continue
        diffs = {c: compare(table, base, c) for c in ("clean", "intensity", "tb")}
        for c, d in diffs.items():
            row.update({f"{c}_diff": d["mean_diff"], f"{c}_low": d["ci_low"], f"{c}_high": d["ci_high"],
                        f"{c}_counts": d["counts"]})
        helps = [c for c in ("intensity", "tb") if diffs[c]["counts"] and diffs[c]["mean_diff"] > 0]
        costs = diffs["clean"]["counts"] and diffs["clean"]["mean_diff"] < 0
        row["kept"] = bool(helps) and not costs
        row["verdict"] = (("kept: helps " + " and ".join(_WHERE[c] for c in helps)) if row["kept"] else
                          "not kept: " + ("costs clean Dice" if costs else "no difference that counts"))
        rows.append(row)
    return pd.DataFrame(rows)


def kept_costs(table: pd.DataFrame) -> str:
    """What the kept remedies cost on clean validation images, said plainly: each one's paired
    difference with its CI, and whether the CI excludes zero although the difference is below
    the one that counts (so a reader sees a small cost the rule lets through)."""
    kept = table[table["kept"] == True]  # noqa: E712 (None means not run)
    if kept.empty:
        return "No remedy is kept, so the default model pays no clean cost for one."
    parts = []
    for r in kept.itertuples():
        parts.append(f"{r.arm} {r.clean_diff:+.4f} [{r.clean_low:+.4f}, {r.clean_high:+.4f}]"
                     + (" (the CI excludes zero: a real but small cost)"
                        if direction(r.clean_low, r.clean_high) == "worse" else ""))
    return ("On the clean validation images the kept remedies change the Dice by: " + "; ".join(parts)
            + f". The rule counts a cost only above {MIN_EFFECT:.3f}.")


def _means(table: pd.DataFrame | None) -> dict:
    if table is None:
        return {"clean": None, "intensity": None, "tb": None, "n": 0, "n_tb": 0}
    return {"clean": table["clean"].mean(), "intensity": table["intensity"].mean(), "tb": table["tb"].mean(),
            "n": len(table), "n_tb": int(table["tb"].notna().sum())}


def chosen_settings(table: pd.DataFrame) -> dict:
    """The default model's settings from the kept remedies (both augmentations kept:
    ``augment_strength: strong_opacity``); empty when none is kept."""
    out: dict = {}
    strengths = []
    for row in table[table["kept"] == True].itertuples():  # noqa: E712 (None means not run)
        for k, v in SETS[(row.profile, row.scores)].items():
            if k == "augment_strength":
                strengths.append(v)
            else:
                out[k] = v
    if strengths:
        out["augment_strength"] = "strong_opacity" if len(strengths) == 2 else strengths[0]
    return out


def screen_table(table: pd.DataFrame) -> pd.DataFrame:
    """The book's table: per arm, the means and the paired differences ``+d [low, high]``."""
    def cell(row, c):
        if row[c] is None or pd.isna(row[c]):
            return "missing"
        text = f"{row[c]:.3f}"
        if f"{c}_diff" in row and pd.notna(row.get(f"{c}_diff")):
            text += f" ({row[f'{c}_diff']:+.3f} [{row[f'{c}_low']:+.3f}, {row[f'{c}_high']:+.3f}])"
        return text

    out = [{"Arm": r["arm"], "Clean Dice": cell(r, "clean"), "Under intensity shifts": cell(r, "intensity"),
            "Tuberculosis images": cell(r, "tb"), "Verdict": r["verdict"]} for _, r in table.iterrows()]
    return pd.DataFrame(out)


#: the default model's run and the fair study's run of the same architecture it is set beside
DEFAULT_RUN = ("default", MODEL, SEED)
STUDY_RUN = ("cpu", MODEL, SEED)


def default_test_table(runs_dir: str | os.PathLike = "runs") -> pd.DataFrame:
    """The default model on the test split beside the fair study's compact U-Net (``cpu``
    profile, seed 0): per run, the mean Dice after post-processing clean, under intensity shifts
    and on the tuberculosis images with bootstrap CIs, then the paired difference default - study;
    a run not trained yet is marked. The two differ in image size, epochs and augmentation, so the
    difference describes the shipped model, not one remedy (the screen tests the remedies)."""
    runs = {f"default model (seed {DEFAULT_RUN[2]})": DEFAULT_RUN,
            f"fair study's compact U-Net ({STUDY_RUN[0]} profile, seed {STUDY_RUN[2]})": STUDY_RUN}
    found = {name: arm_scores(run_dir_for(*key, repo_path(runs_dir))) for name, key in runs.items()}
    columns = {"clean": "Clean Dice", "intensity": "Under intensity shifts", "tb": "Tuberculosis images"}
    rows = []
    for name, table in found.items():
        profile, model, seed = runs[name]
        row = {"Run": name, facts.FACTS: {"Clean Dice": facts.Fact(profile, model, "dice_post", (seed,)).identity}}
        for c, title in columns.items():
            s = summarize(table[c].dropna()) if table is not None else None
            row[title] = f"{s['mean']:.4f} [{s['ci_low']:.4f}, {s['ci_high']:.4f}]" if s else "not trained yet"
        rows.append(row)
    default, study = found.values()
    row = {"Run": "difference (default - study), paired"}
    for c, title in columns.items():
        if default is None or study is None:
            row[title] = "missing"
            continue
        d = compare(default, study, c)
        row[title] = f"{d['mean_diff']:+.4f} [{d['ci_low']:+.4f}, {d['ci_high']:+.4f}]"
    return pd.DataFrame([*rows, row]).reindex(columns=["Run", *columns.values(), facts.FACTS])
