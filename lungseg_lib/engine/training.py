"""Train one model into a run folder, checkpointing every epoch and resuming where it stopped.

``train(config, run_dir)`` is what the training notebook (run by ``lungseg train`` through
papermill) calls, after :func:`lungseg_lib.engine.datasets.prepare_data`: training reads the
data, it never writes them. The run folder (:mod:`lungseg_lib.engine.runfolder`) holds
``config.json``, ``history.csv`` (one row per finished epoch), ``checkpoints/`` (last and best
weights with optimizer state, and ``state.json``: :mod:`lungseg_lib.engine.checkpoints`) and,
once training ends, ``model.keras`` (the best epoch by validation Dice) and ``training.json``.
Every file is written atomically; a run killed at any moment loses at most the epoch in
progress.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from .. import files
from ..environment import run_environment
from ..project import REPO_ROOT
from . import runfolder
from .checkpoints import EpochCheckpoint, TrainingError, initial_state, load_optimizer
from .config import DEFAULTS, NOT_PARAMETERS, TrainConfig, learning_rate_at

__all__ = ["TrainingError", "build_compiled_model", "check_same_config", "recorded_config", "train"]


def _optimizer(config: TrainConfig):
    kw = {"learning_rate": config.learning_rate}
    if config.weight_decay:
        kw["weight_decay"] = config.weight_decay
    if config.optimizer == "adam":
        return keras.optimizers.AdamW(**kw) if config.weight_decay else keras.optimizers.Adam(**kw)
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(momentum=config.momentum or 0.0, **kw)
    return keras.optimizers.RMSprop(**kw)  # the config allows adam, sgd and rmsprop only


def build_compiled_model(config: TrainConfig):
    """Build the config's model and compile it with the config's loss, optimizer and metrics."""
    from ..core.losses import get_loss
    from ..core.metrics import keras_metrics
    from ..core.models import build_model, get_spec

    head = get_spec(config.model).head
    kwargs = dict(config.model_kwargs or {})
    if config.l2:
        kwargs["l2"] = config.l2
    size = config.image_size
    lungs = len(config.lungs)
    if lungs:
        kwargs.update(head="sigmoid", lungs=lungs)  # one sigmoid channel per lung convention
        head = "sigmoid"
    model = build_model(config.model, input_shape=(size, size, 1), **kwargs)
    model.compile(optimizer=_optimizer(config), loss=get_loss(config.loss, head, lungs),
                  metrics=keras_metrics(head, lungs))
    return model


def _setup_device(config: TrainConfig):
    """Seeds, determinism, mixed precision and the distribution strategy for a config."""
    import tensorflow as tf

    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    gpus = tf.config.list_physical_devices("GPU")
    if config.mixed_precision is True or (config.mixed_precision == "auto" and gpus):
        keras.mixed_precision.set_global_policy("mixed_float16")
    if config.strategy == "mirrored" or (config.strategy == "auto" and len(gpus) > 1):
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def recorded_config(config: TrainConfig | dict) -> dict:
    """``config`` as config.json records it: JSON types, and data and split paths relative to
    the repository (or the data folder's name), never a machine's absolute path."""
    from ..data.folders import portable_path

    values = config.as_dict() if isinstance(config, TrainConfig) else config
    out = json.loads(json.dumps(values, default=str))
    for key in ("data", "split"):
        if out[key] not in (None, "synthetic"):
            out[key] = portable_path(out[key], REPO_ROOT)
    return out


def check_same_config(run_dir: Path, config: TrainConfig) -> None:
    """Raise TrainingError when the run folder was made with other parameters than ``config``
    (:data:`NOT_PARAMETERS` left out)."""
    old = files.read_json(Path(run_dir) / runfolder.CONFIG)["config"]
    new = recorded_config(config)
    # a key added to the engine after the run started counts as its default there
    old = {**{k: v for k, v in recorded_config({**DEFAULTS, "data": None, "split": None}).items()
              if k not in old}, **old}
    diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k) and k not in NOT_PARAMETERS)
    if diff:
        raise TrainingError(f"{run_dir} holds a run with other parameters ({', '.join(diff)}); "
                            "use --force to start it again or --run-dir for a new folder")


def _clear(run_dir: Path) -> None:
    """Delete a run folder's results and checkpoints (``--force``)."""
    for name in (runfolder.CHECKPOINTS, runfolder.PREDICTIONS):
        shutil.rmtree(run_dir / name, ignore_errors=True)
    for name in runfolder.RESULTS:
        (run_dir / name).unlink(missing_ok=True)


def _data_record(root: Path, split_path: Path, split: dict) -> dict:
    """What config.json records of one data set: folder, split file, fingerprint, split sizes."""
    from ..data.folders import fingerprint, portable_path

    return {"data_root": portable_path(root, REPO_ROOT), "split_file": portable_path(split_path, REPO_ROOT),
            "data_fingerprint": fingerprint(sum(split.values(), [])),  # every side, as evaluation checks it
            "split_sizes": {k: len(v) for k, v in split.items()}}


def _record_start(run_dir: Path, config: TrainConfig, sets: list, splits: list[dict]) -> None:
    """Write config.json for a new run (the first data set's record at the top; with several,
    each one's under ``data_sets``); check a started run's against ``config``."""
    if (run_dir / runfolder.CONFIG).exists():
        check_same_config(run_dir, config)
        return
    records = [_data_record(root, path, split) for (_, root, path), split in zip(sets, splits)]
    extra = {"data_sets": [{"name": Path(root).name, "convention": convention, **record}
                           for (convention, root, _), record in zip(sets, records)]} if config.data_sets else {}
    files.write_json(run_dir / runfolder.CONFIG, {"config": recorded_config(config), **records[0], **extra,
                                                   "environment": run_environment()})


def _arrays(config: TrainConfig, sets: list, splits: list[dict], side: str) -> tuple:
    """Images and targets of one side of every data set, at the config's size and square rule;
    with several sets, each target carries its convention's channel index as a second channel."""
    from ..data.folders import load_arrays

    images, targets = [], []
    for (convention, _, _), split in zip(sets, splits):
        x, y = load_arrays(split.get(side, []), config.image_size, config.square)
        if config.data_sets:
            y = np.concatenate([y, np.full_like(y, config.lungs.index(convention))], axis=-1)
        images.append(x)
        targets.append(y)
    return np.concatenate(images), np.concatenate(targets)


def _model_and_history(config: TrainConfig, run_dir: Path, state: dict, strategy) -> tuple:
    """The compiled model (the last checkpoint's weights and optimizer state when resuming) and
    the history of the epochs done."""
    ckpt_dir = run_dir / runfolder.CHECKPOINTS
    with strategy.scope():
        model = build_compiled_model(config)
        if state["epochs_done"] > 0:
            with warnings.catch_warnings():  # the optimizer is restored just below, from its own file
                warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
                model.load_weights(ckpt_dir / f"{state['last']}.weights.h5")
            load_optimizer(model, ckpt_dir / f"{state['last']}.optimizer.npz")
            print(f"resuming {run_dir} after epoch {state['epochs_done']}")
    path = run_dir / runfolder.HISTORY
    history = pd.read_csv(path).to_dict("records") if path.exists() else []
    return model, history[: state["epochs_done"]]


def _fit(model, config: TrainConfig, state: dict, train: tuple, val: tuple, callbacks: list, verbose: int) -> None:
    """``model.fit`` from the epoch after the last one done to ``config.epochs``; out of memory
    becomes a TrainingError suggesting a smaller batch."""
    from ..core.normalize import normalize
    from .pipeline import augment_for, eval_dataset, steps_per_epoch, train_dataset

    batch = config.batch_size
    steps = config.steps_per_epoch or steps_per_epoch(len(train[0]), batch)
    try:
        model.fit(train_dataset(*train, batch, config.seed, state["epochs_done"], config.epochs, augment_for(config),
                                config.normalize, steps),
                  steps_per_epoch=steps,
                  initial_epoch=state["epochs_done"], epochs=config.epochs,
                  validation_data=eval_dataset(normalize(val[0], config.normalize), val[1], batch),
                  callbacks=callbacks, shuffle=False, verbose=verbose)
    except Exception as exc:  # GPU out-of-memory has no portable exception class
        if "ResourceExhausted" in type(exc).__name__ or "OOM" in str(exc)[:2000]:
            raise TrainingError(f"out of memory with batch_size={batch}: try a smaller batch, "
                                f"e.g. --set batch_size={max(1, batch // 2)}") from exc
        raise


def _finish(run_dir: Path, model, state: dict) -> dict:
    """Keep the selected epoch's weights as model.keras, drop the epoch checkpoints and write
    training.json; return its summary."""
    ckpt_dir = run_dir / runfolder.CHECKPOINTS
    model.load_weights(ckpt_dir / f"{state['best'] or state['last']}.weights.h5")
    with files.replacing(run_dir / runfolder.MODEL) as tmp:
        model.save(tmp)
    for f in ckpt_dir.glob("epoch_*"):  # the run is finished: model.keras replaces them
        f.unlink()
    summary = {"epochs_run": state["epochs_done"], "best_epoch": state["best_epoch"],
               "best_val_dice": state["best_val_dice"], "stopped": state["stopped"] or "epochs",
               "train_seconds": round(state["seconds"], 1),
               "mean_load_1min": round(float(np.mean(state["load_1min"])), 2) if state.get("load_1min") else None,
               "params": int(model.count_params())}
    files.write_json(run_dir / runfolder.TRAINING, summary)
    return summary


def train(config: TrainConfig, run_dir: str | os.PathLike, force: bool = False, verbose: int = 2) -> dict:
    """Train (or resume) ``config`` in ``run_dir``; return the training summary.

    The data must be there (:func:`lungseg_lib.engine.datasets.prepare_data`). A finished run
    is left alone unless ``force``. ``verbose=2`` prints one line per epoch (for notebooks),
    ``1`` a progress bar (terminals).
    """
    from ..data.folders import load_split
    from .datasets import data_sets

    run_dir = Path(run_dir)
    if force and run_dir.exists():
        _clear(run_dir)
    if (run_dir / runfolder.MODEL).exists() and (run_dir / runfolder.TRAINING).exists():
        check_same_config(run_dir, config)
        print(f"{run_dir}: already trained; nothing to do (use --force to train again)")
        return runfolder.read_training(run_dir)
    sets = data_sets(config)
    splits = [load_split(path, root) for _, root, path in sets]
    _record_start(run_dir, config, sets, splits)
    strategy = _setup_device(config)
    train_xy, val_xy = (_arrays(config, sets, splits, side) for side in ("train", "val"))
    state = initial_state(run_dir / runfolder.STATE)
    model, history = _model_and_history(config, run_dir, state, strategy)
    saver = EpochCheckpoint(run_dir, config, state, history)
    callbacks = [keras.callbacks.LearningRateScheduler(lambda e, lr: learning_rate_at(config, e)), saver]
    if state["stopped"] is None and state["epochs_done"] < config.epochs:
        _fit(model, config, state, train_xy, val_xy, callbacks, verbose)
    if saver.state["stopped"] == "nan":
        raise TrainingError(f"{run_dir}: loss became NaN in epoch {saver.state['epochs_done'] + 1}; "
                            "the last good checkpoint is kept. Try a lower learning_rate.")
    return _finish(run_dir, model, saver.state)
