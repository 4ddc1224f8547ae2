"""The runs of a profile as the book reads them: the registry's models, which profile to show,
each model's run folders and seeds, and the per-image scores averaged over seeds.

Nothing here trains or imports TensorFlow: every function reads what a run left on disk
(:mod:`lungseg_lib.engine.runfolder`). A model whose run does not exist is marked ``missing``;
no number is ever filled in for it.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..engine import runfolder
from ..engine.records import read_training
from ..project import relative_to_repo, repo_path
from . import facts


REFERENCE_MODEL = "nasnet_decoder"


PROFILE_PREFERENCE = ("paper", "cpu", "cpu-v1")  # smoke only when asked for


PROFILE_NOTES = {
    "smoke": "smoke profile: synthetic 64 px images, a few epochs (checks the pipeline, not the method)",
    "cpu": "cpu profile (the fair protocol): the real data at 128 px, trained on 2-core CPUs",
    "cpu-v1": ("cpu-v1 profile (the first cpu protocol, replaced by the fair one): the real data at "
               "128 px, one seed, 10 to 30 epochs per model, trained on a 2-core CPU"),
    "paper": ("paper profile: each model's recipe at 256 px (the input size of two of the papers, "
              "our choice for the others), trained on a GPU"),
}


HARDWARE = {"smoke": "synthetic images", "cpu": "2-core CPUs", "cpu-v1": "a 2-core CPU", "paper": "a GPU"}


def profile_brief(profile: str) -> str:
    """The conditions of a profile in a few words, from ``params/<profile>.yaml``:
    ``cpu profile: 128 px, 12 epochs per model (the paper: 100), 2-core CPUs``."""
    from ..core.models import get_spec
    from ..engine.config import profile_params

    params = profile_params(profile)
    paper = get_spec(REFERENCE_MODEL).recipe.get("epochs")
    epochs = f"{params['epochs']} epochs per model" if params.get("epochs") else "each recipe's epochs"
    size = f"{params['image_size']} px, " if params.get("image_size") else ""
    return f"{profile} profile: {size}{epochs} (the paper: {paper}), {HARDWARE.get(profile, 'its machines')}"


def profile_note(profile: str, runs_dir: str | os.PathLike = "runs") -> str:
    """:data:`PROFILE_NOTES` of ``profile`` with what its runs are, counted: the epochs (beside the
    paper's for its model) and how many models have one seed or several (named)."""
    from ..core.models import get_spec
    from ..engine.config import profile_params

    note = PROFILE_NOTES[profile]
    epochs = profile_params(profile).get("epochs")
    paper = get_spec(REFERENCE_MODEL).recipe.get("epochs")
    if epochs and profile != "smoke":
        note += f"; {epochs} epochs for every model" + (f" (the paper trains its model for {paper})" if paper else "")
    by_seeds: dict[int, list[str]] = {}
    for model in registry_models():
        by_seeds.setdefault(len(seed_dirs(profile, model, runs_dir)), []).append(model)
    parts = []
    for n, models in sorted(by_seeds.items(), reverse=True):
        who = f"{len(models)} model{'s' if len(models) > 1 else ''}"
        if n > 1:
            parts.append(f"{who} with {n} seeds ({', '.join(title_of(m) for m in models)})")
        else:
            parts.append(f"{who} with {'one seed' if n else 'no evaluated run yet'}")
    return note + "; evaluated runs: " + ", ".join(parts)


def registry() -> pd.DataFrame:
    """The registry's models in registry order (name, title, paper, params, recipe):
    :func:`lungseg_lib.core.models.registry_table`, read without TensorFlow."""
    from ..core.models import registry_table

    return registry_table()


def registry_models() -> list[str]:
    """Names of every registered model, the paper's model first."""
    return registry()["name"].tolist()


def title_of(model: str) -> str:
    """The registry title of ``model`` (ValueError naming the valid models)."""
    titles = dict(zip(registry()["name"], registry()["title"]))
    if model not in titles:
        raise ValueError(f"unknown model {model!r}; valid: {', '.join(titles)}")
    return titles[model]


def evaluated_models(profile: str, runs_dir: str | os.PathLike = "runs") -> list[str]:
    """Registry models with at least one evaluated seed under ``runs_dir/profile/model/``."""
    return [m for m in registry_models() if seed_dirs(profile, m, runs_dir)]


def source_profile(profile: str, model: str, runs_dir: str | os.PathLike = "runs") -> str:
    """The profile whose runs stand for ``model`` in ``profile``: for the model whose recipe has
    readings (``params/<profile>.yaml`` ``readings``), the headline reading's profile once the
    rule has picked it (:func:`lungseg_lib.report.readings.headline`); else ``profile`` itself."""
    from .readings import headline_profile

    return headline_profile(profile, model, runs_dir) or profile


def seed_dirs(profile: str, model: str, runs_dir: str | os.PathLike = "runs", headline: bool = True) -> dict[int, Path]:
    """``{seed: run folder}`` of the evaluated runs ``runs_dir/profile/model/seed<k>``, by seed
    (with ``headline``, the headline reading's runs for a model with recipe readings:
    :func:`source_profile`)."""
    if headline:
        profile = source_profile(profile, model, runs_dir)
    found = {}
    for path in (repo_path(runs_dir) / profile / model).glob("seed*"):
        if path.name[4:].isdigit() and runfolder.run_status(path) == "evaluated":
            found[int(path.name[4:])] = path
    return dict(sorted(found.items()))


def best_by_validation(profile: str, n: int, exclude=(), runs_dir: str | os.PathLike = "runs") -> list[str] | None:
    """The ``n`` registry models not in ``exclude`` whose evaluated seed-0 run of ``profile``
    reached the best validation Dice (``training.json`` ``best_val_dice``), best first; None
    until every registry model's seed-0 run is evaluated (a choice among some would change)."""
    done = {m: seed_dirs(profile, m, runs_dir).get(0) for m in registry_models()}
    if not all(done.values()):
        return None
    val = {m: read_training(d).best_val_dice for m, d in done.items() if m not in exclude}
    return sorted(val, key=val.get, reverse=True)[:n]


def seed_plan(profile: str, runs_dir: str | os.PathLike = "runs") -> tuple[list[tuple[int, str]], str]:
    """The runs ``params/<profile>.yaml`` asks for, as ``(seed, model)`` in training order, and the
    rule in words. ``seeds``: every registry model; ``more_seeds`` (``seeds``, ``always``,
    ``best_by_validation: N``): those seeds also for the ``always`` models and for the N other
    models whose evaluated seed-0 run reached the best validation Dice (``training.json``
    ``best_val_dice``: chosen on the validation split, never on test scores). Until every
    seed-0 run is evaluated, the N models are not known and only the ``always`` ones are planned."""
    from ..engine.config import profile_params

    params = profile_params(profile)
    models = [m for m in registry_models() if m in (params.get("plan_models") or registry_models())]
    plan = [(seed, m) for seed in params.get("seeds", [0]) for m in models]
    more = params.get("more_seeds")
    first = params.get("seeds", [0])
    who = "every model" if models == registry_models() else f"the {', '.join(title_of(m) for m in models)}"
    first = f"seed{'s' if len(first) > 1 else ''} {', '.join(str(s) for s in first)} for {who}"
    if not more:
        return plan, first
    always, n = list(more.get("always", [])), int(more.get("best_by_validation", 0))
    best = best_by_validation(profile, n, always, runs_dir)
    if best is not None:
        chosen = f"{', '.join(title_of(m) for m in best)}, the {n} best by validation Dice of seed 0"
    else:
        best, chosen = [], f"the {n} other models with the best validation Dice of seed 0 (not known until every seed-0 run is evaluated)"
    plan += [(seed, m) for seed in more["seeds"] for m in always + best]
    rule = (f"{first}; seeds "
            f"{' and '.join(str(s) for s in more['seeds'])} for the {', '.join(title_of(m) for m in always)} "
            f"and {chosen}")
    return plan, rule


def best_profile(runs_dir: str | os.PathLike = "runs") -> str:
    """The first of :data:`PROFILE_PREFERENCE` with every registry model evaluated; else the
    one with the most evaluated models (earlier ones win ties); ``cpu`` when there is none.
    Smoke is never chosen by itself."""
    counts = {p: len(evaluated_models(p, runs_dir)) for p in PROFILE_PREFERENCE}
    complete = [p for p, n in counts.items() if n == len(registry_models())]
    if complete:
        return complete[0]
    best = max(PROFILE_PREFERENCE, key=lambda p: (counts[p], -PROFILE_PREFERENCE.index(p)))
    return best if counts[best] else "cpu"


def resolve_profile(profile: str, runs_dir: str | os.PathLike = "runs") -> str:
    """``auto`` -> :func:`best_profile`; any other name is checked and returned."""
    if profile == "auto":
        return best_profile(runs_dir)
    if profile not in PROFILE_NOTES:
        raise ValueError(f"unknown profile {profile!r}; valid: auto, {', '.join(PROFILE_NOTES)}")
    return profile


def run_dir(profile: str, model: str, runs_dir: str | os.PathLike = "runs", seed: int = 0) -> Path:
    """The run folder of ``model`` under ``profile`` with ``seed`` (the figures of single runs
    show seed 0; the headline reading's run for a model with recipe readings)."""
    return runfolder.run_dir_for(source_profile(profile, model, runs_dir), model, seed, repo_path(runs_dir))


def seed_per_image(profile: str, model: str, runs_dir: str | os.PathLike = "runs",
                   headline: bool = True) -> pd.DataFrame | None:
    """``per_image.csv`` of every evaluated seed, stacked with a ``seed`` column (None if none)."""
    frames = [runfolder.read_per_image(path).assign(seed=seed)
              for seed, path in seed_dirs(profile, model, runs_dir, headline).items()]
    return pd.concat(frames, ignore_index=True) if frames else None


def mean_per_image(profile: str, model: str, runs_dir: str | os.PathLike = "runs",
                   headline: bool = True) -> pd.DataFrame | None:
    """Per-image scores averaged over the evaluated seeds (one row per test image, the seed count
    in ``n_seeds``); the descriptive columns (source, label, brightness, ...) are the images'."""
    stacked = seed_per_image(profile, model, runs_dir, headline)
    if stacked is None:
        return None
    keys = ["name", "source", "label"]
    scores = stacked.drop(columns="seed").groupby(keys, as_index=False, sort=False, dropna=False).mean(numeric_only=True)
    return scores.assign(n_seeds=stacked["seed"].nunique())


def seed_spread(profile: str, model: str, runs_dir: str | os.PathLike = "runs",
                metric: str = "dice_post", headline: bool = True) -> dict[str, float]:
    """The test mean of ``metric`` in each seed, and their mean, standard deviation and range."""
    stacked = seed_per_image(profile, model, runs_dir, headline)
    if stacked is None:
        return {"n_seeds": 0.0, "mean": math.nan, "sd": math.nan, "min": math.nan, "max": math.nan}
    per_seed = stacked.groupby("seed")[metric].mean()
    return {"n_seeds": float(len(per_seed)), "mean": float(per_seed.mean()),
            "sd": float(per_seed.std(ddof=1)) if len(per_seed) > 1 else math.nan,
            "min": float(per_seed.min()), "max": float(per_seed.max()),
            **{f"seed{k}": float(v) for k, v in per_seed.items()}}


def model_fact(profile: str, model: str, metric: str, runs_dir: str | os.PathLike = "runs",
               seeds=None, score: str = "") -> facts.Fact:
    """The fact (:mod:`facts`) ``metric`` of ``model``'s runs under ``profile``: the runs' own
    profile (the headline reading's, :func:`source_profile`) and ``seeds`` (default: every
    evaluated seed, the seeds :func:`mean_per_image` averages)."""
    if seeds is None:
        seeds = seed_dirs(profile, model, runs_dir)
    return facts.Fact(source_profile(profile, model, runs_dir), model, metric, tuple(int(s) for s in seeds), score)


def seeds_words(profile: str, models, runs_dir: str | os.PathLike = "runs") -> dict[str, str]:
    """``{model: "mean of 3 seeds" | "seed 0"}``: which seeds each model's scores average."""
    return {m: facts.seeds_words(seed_dirs(profile, m, runs_dir)) for m in models}


def missing_message(profile: str, model: str, runs_dir: str | os.PathLike = "runs") -> str:
    """What to say (and do) when a run is not there."""
    path = run_dir(profile, model, runs_dir)
    return (f"run {relative_to_repo(path)} is {runfolder.run_status(path)}: nothing to show yet "
            f"(lungseg train --model {model} --profile {profile})")


def run_folders(profile: str, model: str, runs_dir: str | os.PathLike = "runs") -> dict[int, Path]:
    """``{seed: run folder}`` of every started run of ``model`` (finished or not), by seed."""
    found = {int(p.name[4:]): p for p in (repo_path(runs_dir) / profile / model).glob("seed*")
             if p.name[4:].isdigit() and (p / runfolder.CONFIG).exists()}
    return dict(sorted(found.items()))


@dataclass(frozen=True, eq=False)
class ModelRun:
    """One model's seed-0 run of a profile, as a figure notebook opens it: the resolved profile,
    the run folder and its per-image scores (``table``: None when the run is not evaluated)."""

    profile: str
    model: str
    path: Path
    table: pd.DataFrame | None
    runs_dir: str | os.PathLike = "runs"

    @property
    def title(self) -> str:
        return title_of(self.model)

    @property
    def missing(self) -> str:
        """What to say (and do) when the run is not there: :func:`missing_message`."""
        return missing_message(self.profile, self.model, self.runs_dir)

    def labels(self, prefix: str, metric: str | None = None) -> dict[str, str]:
        """What the notebook's page names: ``{prefix}_model`` (the title), ``{prefix}_run``
        (``profile/model``) and, given a ``metric``, ``{prefix}_metric`` (its label)."""
        from .tables import metric_label

        out = {f"{prefix}_model": self.title, f"{prefix}_run": f"{self.profile}/{self.model}"}
        return out | ({f"{prefix}_metric": metric_label(metric)} if metric else {})


def open_run(profile: str, model: str, runs_dir: str | os.PathLike = "runs") -> ModelRun:
    """The seed-0 run of ``model`` under ``profile`` (``auto``: :func:`best_profile`), with its
    per-image scores: the common opening of the figure notebooks of one run (04 to 06)."""
    profile = resolve_profile(profile, runs_dir)
    path = run_dir(profile, model, runs_dir)
    return ModelRun(profile, model, path, runfolder.read_per_image(path), runs_dir)
