"""Train one model into a run folder, checkpointing every epoch and resuming where it stopped.

``train(config, run_dir)`` is what the training notebook (run by ``lungseg train`` through
papermill) calls. The run folder holds ``config.json``, ``history.csv`` (one row per
finished epoch), ``checkpoints/`` (last and best weights with optimizer state, and
``state.json``) and, once training ends, ``model.keras`` (the best epoch by validation
Dice). Every file is written atomically; a run killed at any moment loses at most the
epoch in progress.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from pathlib import Path

import keras
import numpy as np
import pandas as pd

from . import files, runs
from .config import NOT_PARAMETERS
from .project import REPO_ROOT

SYNTHETIC_N = 48


class TrainingError(RuntimeError):
    """Training cannot go on (NaN loss, out of memory, a run folder from another config)."""


def data_and_split(config: dict) -> tuple[Path, Path]:
    """The data folder and split CSV of a config; makes the synthetic set and any missing split."""
    from .data.folders import check_folder, make_split, resolve_data_dir, write_split
    from .data.synthetic import make_synthetic_dataset

    if config["data"] == "synthetic":
        root = REPO_ROOT / "data" / f"synthetic_{config['image_size']}"
        if not (root / "manifest.csv").exists():
            make_synthetic_dataset(root, n=SYNTHETIC_N, size=config["image_size"], seed=0)
    else:
        root = resolve_data_dir(config["data"])
    split = Path(config["split"]) if config["split"] else REPO_ROOT / "data" / "splits" / f"{root.name}.csv"
    if not split.exists():
        scan, _ = check_folder(root)
        if scan.problems:
            raise TrainingError(f"{root}: {len(scan.problems)} problem(s); run `lungseg data check {root}`")
        write_split(make_split(scan.pairs, seed=0), split)
        print(f"wrote a new split {split}")
    return root, split


def environment() -> dict:
    """Library versions, git commit and device, recorded in config.json."""
    import keras
    import tensorflow as tf

    from .environment import cpu_info, git_commit, git_dirty

    commit = git_commit()
    dirty = git_dirty("lungseg_lib") if commit != "unknown" else False
    gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    gpu_names = [tf.config.experimental.get_device_details(g).get("device_name", "GPU")
                 for g in tf.config.list_physical_devices("GPU")]
    return {"git_commit": commit, "git_dirty_library": dirty, "tensorflow": tf.__version__,
            "keras": keras.__version__, "numpy": np.__version__, "python": platform.python_version(),
            "device": ", ".join(gpu_names) if gpus else f"CPU ({platform.processor() or platform.machine()},"
                      f" {os.cpu_count()} cores)", "gpus": len(gpus), **cpu_info()}


def _optimizer(config: dict):
    kw = {"learning_rate": config["learning_rate"]}
    if config["weight_decay"]:
        kw["weight_decay"] = config["weight_decay"]
    name = config["optimizer"]
    if name == "adam":
        return keras.optimizers.AdamW(**kw) if config["weight_decay"] else keras.optimizers.Adam(**kw)
    if name == "sgd":
        return keras.optimizers.SGD(momentum=config["momentum"] or 0.0, **kw)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(**kw)
    raise ValueError(f"unknown optimizer {name!r}; valid: adam, sgd, rmsprop")


def learning_rate_at(config: dict, epoch: int) -> float:
    """The learning rate of an epoch under the config's schedule (None or a step schedule)."""
    schedule = config["lr_schedule"]
    lr = config["learning_rate"]
    if not schedule:
        return lr
    if schedule.get("kind") != "step":
        raise ValueError(f"unknown lr_schedule {schedule!r}; supported: {{kind: step, step_epochs, factor}}")
    return lr * schedule["factor"] ** math.floor(epoch / schedule["step_epochs"] + 1e-9)


def build_compiled_model(config: dict):
    """Build the config's model and compile it with the config's loss, optimizer and metrics."""
    from .core.losses import get_loss
    from .core.metrics import keras_metrics
    from .core.models import build_model, get_spec

    head = get_spec(config["model"]).head
    kwargs = dict(config["model_kwargs"] or {})
    if config["l2"]:
        kwargs["l2"] = config["l2"]
    size = config["image_size"]
    model = build_model(config["model"], input_shape=(size, size, 1), **kwargs)
    model.compile(optimizer=_optimizer(config), loss=get_loss(config["loss"], head),
                  metrics=keras_metrics(head))
    return model


def _setup_device(config: dict):
    """Seeds, determinism, mixed precision and the distribution strategy for a config."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(config["seed"])
    if config["deterministic"]:
        tf.config.experimental.enable_op_determinism()
    gpus = tf.config.list_physical_devices("GPU")
    if config["mixed_precision"] is True or (config["mixed_precision"] == "auto" and gpus):
        keras.mixed_precision.set_global_policy("mixed_float16")
    if config["strategy"] == "mirrored" or (config["strategy"] == "auto" and len(gpus) > 1):
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def recorded_config(config: dict) -> dict:
    """``config`` as config.json records it: JSON types, and data and split paths relative to
    the repository (or the data folder's name), never a machine's absolute path."""
    from .data.folders import portable_path

    out = json.loads(json.dumps(config, default=str))
    for key in ("data", "split"):
        if out[key] not in (None, "synthetic"):
            out[key] = portable_path(out[key], REPO_ROOT)
    return out


def check_same_config(run_dir: Path, config: dict) -> None:
    """Raise TrainingError when the run folder was made with other parameters than ``config``
    (:data:`NOT_PARAMETERS` left out)."""
    from .config import DEFAULTS

    old = files.read_json(run_dir / runs.CONFIG)["config"]
    new = recorded_config(config)
    # a key added to the engine after the run started counts as its default there
    old = {**{k: v for k, v in recorded_config({**DEFAULTS, "data": None, "split": None}).items()
              if k not in old}, **old}
    diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k) and k not in NOT_PARAMETERS)
    if diff:
        raise TrainingError(f"{run_dir} holds a run with other parameters ({', '.join(diff)}); "
                            "use --force to start it again or --run-dir for a new folder")


def train(config: dict, run_dir: str | os.PathLike, force: bool = False, verbose: int = 2) -> dict:
    """Train (or resume) ``config`` in ``run_dir``; return the training summary.

    A finished run is left alone unless ``force``. ``verbose=2`` prints one line per epoch
    (for notebooks), ``1`` a progress bar (terminals).
    """
    import shutil

    from .data.folders import fingerprint, load_arrays, load_split, portable_path
    from .pipeline import augment_for, eval_dataset, steps_per_epoch, train_dataset

    run_dir = Path(run_dir)
    if force and run_dir.exists():
        for name in (runs.CHECKPOINTS, runs.PREDICTIONS):
            shutil.rmtree(run_dir / name, ignore_errors=True)
        for name in (runs.CONFIG, runs.MODEL, runs.METRICS, runs.HISTORY, runs.PER_IMAGE, runs.ROC, "training.json"):
            (run_dir / name).unlink(missing_ok=True)
    if (run_dir / runs.MODEL).exists() and (run_dir / "training.json").exists():
        check_same_config(run_dir, config)
        print(f"{run_dir}: already trained; nothing to do (use --force to train again)")
        return files.read_json(run_dir / "training.json")

    root, split_path = data_and_split(config)
    split = load_split(split_path, root)
    if (run_dir / runs.CONFIG).exists():
        check_same_config(run_dir, config)
    else:
        files.write_json(run_dir / runs.CONFIG, {
            "config": recorded_config(config), "data_root": portable_path(root, REPO_ROOT),
            "split_file": portable_path(split_path, REPO_ROOT),
            "data_fingerprint": fingerprint(split["train"] + split["val"] + split["test"]),
            "split_sizes": {k: len(v) for k, v in split.items()}, "environment": environment()})

    strategy = _setup_device(config)
    size, batch = config["image_size"], config["batch_size"]
    x_train, y_train = load_arrays(split["train"], size)
    x_val, y_val = load_arrays(split["val"], size)

    ckpt_dir = run_dir / runs.CHECKPOINTS
    state_path = run_dir / runs.STATE
    state = files.read_json(state_path) if state_path.exists() else {
        "epochs_done": 0, "best_val_dice": -1.0, "best_epoch": None, "best": None, "last": None,
        "wait": 0, "seconds": 0.0, "stopped": None}
    with strategy.scope():
        if state["epochs_done"] > 0:
            model = build_compiled_model(config)
            model.load_weights(ckpt_dir / f"{state['last']}.weights.h5")
            _load_optimizer(model, ckpt_dir / f"{state['last']}.optimizer.npz")
            print(f"resuming {run_dir} after epoch {state['epochs_done']}")
        else:
            model = build_compiled_model(config)
    history = pd.read_csv(run_dir / runs.HISTORY).to_dict("records") if (run_dir / runs.HISTORY).exists() else []
    history = history[: state["epochs_done"]]

    saver = EpochCheckpoint(run_dir, config, state, history)
    callbacks = [keras.callbacks.LearningRateScheduler(lambda e, lr: learning_rate_at(config, e)), saver]
    if state["stopped"] is None and state["epochs_done"] < config["epochs"]:
        try:
            model.fit(train_dataset(x_train, y_train, batch, config["seed"], state["epochs_done"],
                                    config["epochs"], augment_for(config)),
                      steps_per_epoch=steps_per_epoch(len(x_train), batch),
                      initial_epoch=state["epochs_done"], epochs=config["epochs"],
                      validation_data=eval_dataset(x_val, y_val, batch), callbacks=callbacks, shuffle=False,
                      verbose=verbose)
        except Exception as exc:  # GPU out-of-memory has no portable exception class
            if "ResourceExhausted" in type(exc).__name__ or "OOM" in str(exc)[:2000]:
                raise TrainingError(f"out of memory with batch_size={batch}: try a smaller batch, "
                                    f"e.g. --set batch_size={max(1, batch // 2)}") from exc
            raise
    if saver.state["stopped"] == "nan":
        raise TrainingError(f"{run_dir}: loss became NaN in epoch {saver.state['epochs_done'] + 1}; "
                            "the last good checkpoint is kept. Try a lower learning_rate.")
    model.load_weights(ckpt_dir / f"{saver.state['best'] or saver.state['last']}.weights.h5")
    with files.replacing(run_dir / runs.MODEL) as tmp:
        model.save(tmp)
    for f in ckpt_dir.glob("epoch_*"):  # the run is finished: model.keras replaces them
        f.unlink()
    summary = {"epochs_run": saver.state["epochs_done"], "best_epoch": saver.state["best_epoch"],
               "best_val_dice": saver.state["best_val_dice"], "stopped": saver.state["stopped"] or "epochs",
               "train_seconds": round(saver.state["seconds"], 1),
               "mean_load_1min": round(float(np.mean(saver.state["load_1min"])), 2)
               if saver.state.get("load_1min") else None,
               "params": int(model.count_params())}
    files.write_json(run_dir / "training.json", summary)
    return summary


def _save_optimizer(model, path: Path) -> None:
    arrays = {f"v{i}": np.asarray(v) for i, v in enumerate(model.optimizer.variables)}
    with files.replacing(path) as tmp:
        np.savez(tmp, **arrays)


def _load_optimizer(model, path: Path) -> None:
    model.optimizer.build(model.trainable_variables)
    saved = np.load(path)
    variables = model.optimizer.variables
    if len(saved.files) != len(variables):
        raise TrainingError(f"{path}: optimizer state has {len(saved.files)} variables, "
                            f"the model's optimizer {len(variables)}")
    for i, v in enumerate(variables):
        v.assign(saved[f"v{i}"])


class EpochCheckpoint(keras.callbacks.Callback):
    """After every epoch: save weights and optimizer state, history, then state.json.

    state.json is written last and names the checkpoint files to use, so a process killed
    anywhere in between resumes from the previous, complete epoch.
    """

    def __init__(self, run_dir: Path, config: dict, state: dict, history: list):
        super().__init__()
        self.run_dir, self.config, self.state, self.history = run_dir, config, state, history
        self.ckpt = run_dir / runs.CHECKPOINTS
        self.ckpt.mkdir(parents=True, exist_ok=True)
        self._nan = False

    def on_epoch_begin(self, epoch, logs=None):
        self._t0 = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if logs and not math.isfinite(float(logs.get("loss", 0.0))):
            self._nan = True
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self._nan:
            self.state["stopped"] = "nan"
            files.write_json(self.run_dir / runs.STATE, self.state)
            return
        logs = {k: float(v) for k, v in (logs or {}).items()}
        seconds = time.perf_counter() - self._t0
        tag = f"epoch_{epoch + 1:04d}"
        self.model.save_weights(self.ckpt / f"{tag}.weights.h5")
        _save_optimizer(self.model, self.ckpt / f"{tag}.optimizer.npz")
        val = logs.get("val_dice", -1.0)
        improved = val > self.state["best_val_dice"]
        if improved:  # the selection rule: the best epoch by validation Dice
            self.state.update(best_val_dice=val, best_epoch=epoch + 1, best=tag)
        if self.config.get("early_stopping_monitor", "val_dice") == "val_loss":
            loss = logs.get("val_loss", math.inf)
            improved = loss < self.state.get("best_val_loss", math.inf)
            if improved:
                self.state["best_val_loss"] = loss
        self.state["wait"] = 0 if improved else self.state["wait"] + 1
        self.history.append({"epoch": epoch + 1, **logs, "seconds": round(seconds, 2)})
        # how busy the machine was (1-minute load average at each epoch's end), for the cost table
        self.state["load_1min"] = self.state.get("load_1min", []) + [round(os.getloadavg()[0], 2)]
        files.write_csv(self.run_dir / runs.HISTORY, pd.DataFrame(self.history))
        self.state.update(epochs_done=epoch + 1, last=tag, seconds=self.state["seconds"] + seconds)
        patience = self.config["early_stopping_patience"]
        if patience and self.state["wait"] >= patience:
            self.state["stopped"] = f"early stopping after {patience} epochs without improvement"
            self.model.stop_training = True
        files.write_json(self.run_dir / runs.STATE, self.state)  # the commit point of the epoch
        for f in self.ckpt.glob("epoch_*"):
            if f.name.split(".")[0] not in (self.state["last"], self.state["best"]):
                f.unlink()
