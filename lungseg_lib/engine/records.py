"""Typed records of a run folder's JSON files (:mod:`lungseg_lib.engine.runfolder` names them):
``metrics.json`` as :class:`Metrics`, ``training.json`` (and the copy inside ``metrics.json``)
as :class:`Training`, the outer part of ``config.json`` as :class:`RunRecord`. No TensorFlow.

The records only read: the files keep their format, written by the engine. ``from_dict`` takes
what a file holds, older files included: a key the record does not know (added later) is
ignored, and a key the file lacks (written before it existed) gets its default (None, or an
empty mapping).
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field

from . import runfolder


def _known(cls, data: dict | None) -> dict:
    """The entries of ``data`` that are fields of the dataclass ``cls``."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in (data or {}).items() if k in names}


@dataclass(frozen=True)
class Summary:
    """One metric over the images of a split: mean, median, bootstrap 95% CI, spread, count."""
    mean: float = math.nan
    median: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    std: float = math.nan
    n: int = 0
    n_infinite: int = 0  # images left out of the summary because the metric is infinite there (HD95, ASSD)

    @classmethod
    def from_dict(cls, data: dict | None) -> "Summary":
        """A summary from its JSON object (``core.stats.summarize``'s keys)."""
        return cls(**_known(cls, data))


@dataclass(frozen=True)
class Training:
    """``training.json``: how training went (None where a file predates a key)."""
    epochs_run: int | None = None
    best_epoch: int | None = None
    best_val_dice: float | None = None
    train_seconds: float | None = None
    stopped: str | None = None
    params: int | None = None
    mean_load_1min: float | None = None

    @classmethod
    def from_dict(cls, data: dict | None) -> "Training":
        """A training record from its JSON object."""
        return cls(**_known(cls, data))


@dataclass(frozen=True)
class Timings:
    """The ``timings`` of ``metrics.json``: seconds and milliseconds of each step."""
    train_seconds: float | None = None
    epochs_run: int | None = None
    inference_ms_per_image: float | None = None
    post_ms_per_image: float | None = None
    robustness_seconds: float | None = None

    @classmethod
    def from_dict(cls, data: dict | None) -> "Timings":
        """Timings from their JSON object."""
        return cls(**_known(cls, data))


@dataclass(frozen=True)
class Metrics:
    """``metrics.json``: the evaluation of a run on one split, with and without post-processing
    (``raw`` and ``post``: metric name -> :class:`Summary`; HD95 and ASSD only when finite)."""
    model: str = ""
    profile: str = ""
    split: str = ""
    n_images: int = 0
    image_size: int | None = None
    raw: dict[str, Summary] = field(default_factory=dict)
    post: dict[str, Summary] = field(default_factory=dict)
    roc_auc: float | None = None
    run_dir: str | None = None
    data_root: str | None = None
    post_k: int | None = None
    post_fill_holes: bool | None = None
    timings: Timings = field(default_factory=Timings)
    training: Training = field(default_factory=Training)

    @classmethod
    def from_dict(cls, data: dict) -> "Metrics":
        """Metrics from the JSON object of ``metrics.json`` (or :func:`engine.evaluation.evaluate`)."""
        known = _known(cls, data)
        for kind in ("raw", "post"):
            known[kind] = {k: Summary.from_dict(v) for k, v in (known.get(kind) or {}).items()}
        known["timings"] = Timings.from_dict(known.get("timings"))
        known["training"] = Training.from_dict(known.get("training"))
        return cls(**known)

    def summary(self, metric: str, post: bool = True) -> Summary | None:
        """The summary of ``metric`` after (``post``) or before post-processing; None when the
        file has none (an infinite HD95, a metric added later)."""
        return (self.post if post else self.raw).get(metric)


@dataclass(frozen=True)
class RunRecord:
    """The outer part of ``config.json``: the resolved parameters (``config``, the keys of
    ``engine.config.TrainConfig``), the data folder's name, the split file relative to the
    repository, the data fingerprint, the split's sizes and the environment (git commit,
    versions, device, CPU)."""
    config: dict = field(default_factory=dict)
    data_root: str | None = None
    split_file: str | None = None
    data_fingerprint: str | None = None
    split_sizes: dict = field(default_factory=dict)
    environment: dict = field(default_factory=dict)
    data_sets: list = field(default_factory=list)  # a model of several sets: each one's record

    @classmethod
    def from_dict(cls, data: dict) -> "RunRecord":
        """A run record from the JSON object of ``config.json``."""
        known = _known(cls, data)
        for key in ("config", "split_sizes", "environment"):
            known[key] = dict(known.get(key) or {})
        return cls(**known)


def read_metrics(run_dir: str | os.PathLike) -> Metrics | None:
    """``metrics.json`` of a run (or evaluation) folder, or None when it is not evaluated."""
    data = runfolder.read_optional(run_dir, runfolder.METRICS)
    return None if data is None else Metrics.from_dict(data)


def read_training(run_dir: str | os.PathLike) -> Training | None:
    """``training.json`` of a run folder, or None when training has not finished."""
    data = runfolder.read_optional(run_dir, runfolder.TRAINING)
    return None if data is None else Training.from_dict(data)


def read_run_record(run_dir: str | os.PathLike) -> RunRecord | None:
    """``config.json`` of a run (or model) folder, or None when the run was never started."""
    data = runfolder.read_optional(run_dir, runfolder.CONFIG)
    return None if data is None else RunRecord.from_dict(data)
