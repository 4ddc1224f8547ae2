"""The robustness fix experiment: does training remove the damage of intensity shifts?

The NASNet-Large decoder and the best model of the cpu profile's seed 0 are trained again with
one change each (``params/cpu-noaug.yaml``: no augmentation; ``params/cpu-strongaug.yaml``: the
remedy, stronger intensity augmentation) and compared, image by image, with their default
recipe's seed-0 run. The rules below were fixed before any of these runs was trained:

- a model's score under an intensity family is, per test image, its Dice averaged over that
  family's five severities (``robustness.csv``); "under intensity shifts" averages the six
  intensity families (:data:`INTENSITY`) the same way;
- a difference counts when it exceeds :data:`verdicts.MIN_EFFECT` and its paired bootstrap CI
  excludes zero; otherwise it is negligible;
- the remedy *helps* when it raises the score under intensity shifts by a difference that
  counts, and it *costs clean accuracy* when it lowers the clean score by one that counts.

No TensorFlow: everything is read from the run folders.
"""

from __future__ import annotations

import math
import os

import pandas as pd

from ..core.stats import paired_comparison
from ..engine.runfolder import ROBUSTNESS
from ..project import repo_path
from . import facts, profile_runs
from .verdicts import MIN_EFFECT

REFERENCE_PROFILE = "cpu"
VARIANTS = {"cpu-noaug": "no augmentation", "cpu-strongaug": "stronger intensity augmentation"}
NO_AUGMENT, REMEDY = "cpu-noaug", "cpu-strongaug"
INTENSITY = ("brightness_down", "brightness_up", "contrast_down", "contrast_up", "gamma_down", "gamma_up")
SEED = 0
#: the runs of this experiment trained with a schedule that froze training (the scaled reading
#: of the NASNet-Large decoder's "step size 5": lr x0.5 every 0.6 epochs); they are marked where
#: they are shown, not rerun
FROZEN = {profile_runs.REFERENCE_MODEL: " (scaled reading of its schedule: training froze from epoch 3)"}


def fix_models(runs_dir: str | os.PathLike = "runs") -> list[str]:
    """The experiment's models: the paper's model, then the cpu profile's best other model by
    seed-0 best validation Dice (``training.json``); only the first until every seed-0 run of
    the cpu profile is evaluated (:func:`profile_runs.best_by_validation`)."""
    best = profile_runs.best_by_validation(REFERENCE_PROFILE, 1, [profile_runs.REFERENCE_MODEL], runs_dir)
    return [profile_runs.REFERENCE_MODEL] + (best or [])


def per_image_scores(run: os.PathLike, metric: str = "dice_post") -> pd.DataFrame | None:
    """One row per test image: the clean score, the score under each intensity family (mean of
    its severities 1-5) and under intensity shifts (mean of the families); None without a grid."""
    path = repo_path(run) / ROBUSTNESS
    if not path.exists():
        return None
    grid = pd.read_csv(path)
    clean = grid[grid.severity == 0].groupby("name")[metric].first().rename("clean")
    shifted = grid[(grid.severity > 0) & grid.family.isin(INTENSITY)]
    by_family = shifted.pivot_table(index="name", columns="family", values=metric, aggfunc="mean")
    table = pd.concat([clean, by_family], axis=1)
    table["intensity"] = table[[f for f in INTENSITY if f in table]].mean(axis=1)
    return table


def compare(variant: pd.DataFrame, default: pd.DataFrame, column: str) -> dict[str, float]:
    """Paired ``variant - default`` on ``column`` over the images both scored: mean, CI, p, n,
    and whether it counts (above :data:`MIN_EFFECT` in size with the CI excluding zero)."""
    both = pd.concat([variant[column].rename("v"), default[column].rename("d")], axis=1).dropna()
    if len(both) < 2:
        return {"mean_diff": math.nan, "ci_low": math.nan, "ci_high": math.nan, "n": len(both), "counts": False}
    c = paired_comparison(both["v"], both["d"])
    c["counts"] = abs(c["mean_diff"]) > MIN_EFFECT and (c["ci_low"] > 0 or c["ci_high"] < 0)
    return c


def _runs(model: str, runs_dir) -> dict[str, pd.DataFrame | None]:
    """Each variant's seed-0 scores, with the recipe as the variants were trained: the cpu
    profile's own runs (for the paper's model: the first, scaled reading of its schedule, which
    froze its training), never the headline reading's."""
    profiles = (REFERENCE_PROFILE, *VARIANTS)
    found = {p: profile_runs.seed_dirs(p, model, runs_dir, headline=False).get(SEED) for p in profiles}
    return {p: per_image_scores(folder) if folder is not None else None for p, folder in found.items()}


def fix_table(runs_dir: str | os.PathLike = "runs", metric: str = "dice_post") -> pd.DataFrame:
    """Per model and variant: the mean clean score and the mean score under each intensity family
    and under all six, each with the paired difference to the default recipe ``+d [low, high]``;
    rows for the default recipe give the means alone; missing runs are marked."""
    rows = []
    columns = ["clean", *INTENSITY, "intensity"]
    for model in fix_models(runs_dir):
        scores = _runs(model, runs_dir)
        default = scores[REFERENCE_PROFILE]
        for profile in (REFERENCE_PROFILE, *VARIANTS):
            label = ("default recipe" if profile == REFERENCE_PROFILE else VARIANTS[profile]) + f", seed {SEED}"
            row = {"Model": profile_runs.title_of(model) + FROZEN.get(model, ""), "Training": label,
                   facts.FACTS: {"clean": facts.Fact(profile, model, metric, (SEED,)).identity}}
            for column in columns:
                name = column.replace("_", " ")
                if scores[profile] is None or default is None:
                    row[name] = "missing"
                elif profile == REFERENCE_PROFILE:
                    row[name] = f"{scores[profile][column].mean():.3f}"
                else:
                    c = compare(scores[profile], default, column)
                    row[name] = (f"{scores[profile][column].mean():.3f} "
                                 f"({c['mean_diff']:+.3f} [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}])")
            rows.append(row)
    return pd.DataFrame(rows)


def verdicts(runs_dir: str | os.PathLike = "runs") -> dict[str, str]:
    """``{model: sentence}``: what the default augmentation buys (default minus no augmentation,
    clean and under intensity shifts) and whether the remedy helps without costing clean Dice."""
    out = {}
    for model in fix_models(runs_dir):
        s = _runs(model, runs_dir)
        if any(v is None for v in s.values()):
            missing = [p for p, v in s.items() if v is None]
            out[model] = f"not measured yet: no robustness grid for {', '.join(missing)}"
            continue
        buys_clean = compare(s[REFERENCE_PROFILE], s[NO_AUGMENT], "clean")
        buys_shift = compare(s[REFERENCE_PROFILE], s[NO_AUGMENT], "intensity")
        remedy_shift = compare(s[REMEDY], s[REFERENCE_PROFILE], "intensity")
        remedy_clean = compare(s[REMEDY], s[REFERENCE_PROFILE], "clean")

        def said(c):
            return f"{c['mean_diff']:+.3f} [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}]" + ("" if c["counts"] else ", negligible")

        helps = remedy_shift["counts"] and remedy_shift["mean_diff"] > 0
        costs = remedy_clean["counts"] and remedy_clean["mean_diff"] < 0
        remedy = ("helps without costing clean Dice" if helps and not costs else
                  "helps, at a cost in clean Dice" if helps else
                  "does not help" + (" and costs clean Dice" if costs else ""))
        out[model] = (f"(trained with the {FROZEN[model].strip(' ()')}) " if model in FROZEN else "") + (
                      f"the default augmentation buys {said(buys_clean)} clean Dice and {said(buys_shift)} "
                      f"under intensity shifts; the remedy {remedy} ({said(remedy_shift)} under shifts, "
                      f"{said(remedy_clean)} clean)")
    return out
