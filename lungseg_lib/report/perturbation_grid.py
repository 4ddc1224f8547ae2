"""What the book computes from the runs' ``robustness.csv``: curves of Dice against
severity, each model's paired drop at chosen severities, and the example image's rows.

No TensorFlow: the grid was scored by :mod:`lungseg_lib.engine.perturbations` when the run was
evaluated; here it is read, averaged over seeds, and compared.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pandas as pd

from ..core.stats import paired_comparison
from ..engine.perturbations import FAMILIES, load_example, perturb
from ..engine.runfolder import EXAMPLE, ROBUSTNESS
from . import facts, profile_runs
from .images import load_pair, pairs_in


GRID_TARGET_SECONDS = 300  # the target for one cpu-profile run's grid (NASNet-Large decoder, 128 px, 2 cores)


def grid_time_sentence(seconds: float | None, predictions: float, environment: dict) -> str:
    """How long a run's grid took (``timings.robustness_seconds``), on which CPU, against
    :data:`GRID_TARGET_SECONDS`; says so when the run was evaluated before the grid was timed."""
    if seconds is None or math.isnan(seconds):
        return "The grid's time was not recorded for this run (it was evaluated before the grid existed)."
    cpu = f"{environment.get('cpu_model', 'an unrecorded CPU')} ({environment.get('cpu_isa', '?')})"
    met = "within" if seconds <= GRID_TARGET_SECONDS else "over"
    return (f"It took {seconds:.0f} s for {predictions:.0f} predictions on {cpu}, {met} the target of "
            f"{GRID_TARGET_SECONDS} s set for a cpu-profile run's grid on two CPU cores.")


def read_grid(profile: str, model: str, runs_dir: str | os.PathLike = "runs") -> pd.DataFrame | None:
    """The model's robustness grid averaged over its evaluated seeds that have one (None if none):
    one row per image, family and severity, with ``n_seeds``."""
    frames = [pd.read_csv(path / ROBUSTNESS).assign(seed=seed)
              for seed, path in profile_runs.seed_dirs(profile, model, runs_dir).items() if (path / ROBUSTNESS).exists()]
    if not frames:
        return None
    stacked = pd.concat(frames, ignore_index=True)
    grid = stacked.drop(columns="seed").groupby(["name", "family", "severity"], as_index=False).mean()
    return grid.assign(n_seeds=stacked["seed"].nunique())


def curves(profile: str, runs_dir: str | os.PathLike = "runs", metric: str = "dice_post") -> pd.DataFrame:
    """Mean ``metric`` per model, family and severity (columns model, title, family, severity, value)."""
    frames = []
    for model in profile_runs.registry_models():
        grid = read_grid(profile, model, runs_dir)
        if grid is not None:
            mean = grid.groupby(["family", "severity"], as_index=False, sort=False)[metric].mean()
            frames.append(mean.rename(columns={metric: "value"}).assign(model=model, title=profile_runs.title_of(model)))
    columns = ["model", "title", "family", "severity", "value"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def drop(grid: pd.DataFrame, family: str, severity: int, metric: str = "dice_post") -> dict[str, float]:
    """Mean loss of ``metric`` (clean minus perturbed, paired over the images) with its
    bootstrap 95% CI and Wilcoxon p; NaN when the grid lacks that family or severity."""
    clean = grid[(grid.family == family) & (grid.severity == 0)].set_index("name")[metric]
    hit = grid[(grid.family == family) & (grid.severity == severity)].set_index("name")[metric]
    both = pd.concat([clean.rename("clean"), hit.rename("hit")], axis=1).dropna()
    if len(both) < 2:
        return {"mean": math.nan, "ci_low": math.nan, "ci_high": math.nan, "wilcoxon_p": math.nan, "n": len(both)}
    c = paired_comparison(both["clean"], both["hit"])
    return {"mean": c["mean_diff"], "ci_low": c["ci_low"], "ci_high": c["ci_high"],
            "wilcoxon_p": c["wilcoxon_p"], "n": c["n"]}


def drop_fact(profile: str, model: str, family: str, severity: int, metric: str = "dice_post",
              runs_dir: str | os.PathLike = "runs", stat: str = "") -> facts.Fact:
    """The fact of ``model``'s mean drop of ``metric`` under ``family`` at ``severity`` over its
    seeds with a grid (``stat``: "", ``_ci_low``, ``_ci_high``, ``_mean``: the perturbed score)."""
    return _with_metric(grid_fact(profile, model, runs_dir), f"drop_{family}_{severity}{stat}", metric)


def grid_fact(profile: str, model: str, runs_dir: str | os.PathLike = "runs") -> facts.Fact:
    """A fact of ``model``'s grid: its runs' profile and the seeds that have a grid (metric blank)."""
    seeds = [s for s, path in profile_runs.seed_dirs(profile, model, runs_dir).items() if (path / ROBUSTNESS).exists()]
    return profile_runs.model_fact(profile, model, "grid", runs_dir, seeds)


def _with_metric(fact: facts.Fact, metric: str, score: str) -> facts.Fact:
    return facts.Fact(fact.profile, fact.model, metric, fact.seeds, score)


def drop_table(profile: str, runs_dir: str | os.PathLike = "runs", severities=(3, 5),
               metric: str = "dice_post") -> pd.DataFrame:
    """One row per model and severity, one column per family: the mean drop of ``metric``
    ``mean [low, high]`` (positive: the perturbation lowers the score), each a fact
    (:func:`drop_fact`); missing runs marked."""
    rows = []
    for model in profile_runs.registry_models():
        grid, base = read_grid(profile, model, runs_dir), grid_fact(profile, model, runs_dir)
        for severity in severities:
            row = {"Model (severity)": f"{profile_runs.title_of(model)} ({severity})", facts.FACTS: {}}
            for family in FAMILIES:
                column = family.replace("_", " ")
                if grid is None:
                    row[column] = "missing"
                    continue
                d = drop(grid, family, severity, metric)
                row[column] = (f"{d['mean']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]"
                               if not math.isnan(d["mean"]) else "not scored")
                row[facts.FACTS][column] = _with_metric(base, f"drop_{family}_{severity}", metric).identity
            rows.append(row)
    return pd.DataFrame(rows)


def drop_facts(profile: str, runs_dir: str | os.PathLike = "runs", severities=(3, 5),
               metric: str = "dice_post") -> dict[facts.Fact, float]:
    """Every model's drop at every family and severity as facts (:func:`drop_fact`): the drop,
    its CI and the perturbed mean score (NaN for missing runs)."""
    out = {}
    for model in profile_runs.registry_models():
        grid, base = read_grid(profile, model, runs_dir), grid_fact(profile, model, runs_dir)
        for family in FAMILIES:
            for severity in severities:
                d = drop(grid, family, severity, metric) if grid is not None else {}
                hit = grid[(grid.family == family) & (grid.severity == severity)][metric] if grid is not None else []
                values = {"": d.get("mean", math.nan), "_ci_low": d.get("ci_low", math.nan),
                          "_ci_high": d.get("ci_high", math.nan), "_mean": np.mean(hit) if len(hit) else math.nan}
                for stat, value in values.items():
                    out[_with_metric(base, f"drop_{family}_{severity}{stat}", metric)] = float(value)
    return out


def example(profile: str, model: str, root, runs_dir: str | os.PathLike = "runs",
            families=("brightness_down", "brightness_up", "gamma_up", "gamma_down", "contrast_down",
                      "contrast_up")) -> dict | None:
    """The seed-0 run's example image (``robustness_example.npz``): ``{"name", "images",
    "masks", "truth"}`` keyed by (family, severity), the perturbed images recomputed; None if
    the run has no example or the image is not in ``root``."""
    path = profile_runs.run_dir(profile, model, runs_dir) / EXAMPLE
    if not path.exists():
        return None
    name, masks = load_example(path)
    if name not in pairs_in(root):
        return None
    size = next(iter(masks.values())).shape[0]
    image, truth = load_pair(root, name, size)
    images = {(f, s): perturb(image, f, s, 0) for f, s in masks if f in families}
    return {"name": name, "images": images, "masks": {k: masks[k] for k in images}, "truth": truth}
