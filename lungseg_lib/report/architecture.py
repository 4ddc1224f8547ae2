"""The architecture page (notebook 02): the model's stages and the numbers the method chapter
gives about it, every model's size and recipe, and the profiles' numbers, read from the registry
and ``params/*.yaml`` (so the text cannot drift from what training uses)."""

from __future__ import annotations

import math
import os
import re

import pandas as pd

from ..core.models import deviation_table as registry_deviations
from ..core.models import get_spec
from ..core.models.nasnet_decoder import ENCODER_LAYERS
from ..engine.records import read_run_record, read_training
from ..engine.config import TrainConfig, profile_params, resolve_config, schedule_halvings
from .profile_runs import registry, run_dir, seed_plan


PARAM_SIZE = 256  # the input side of the registry's parameter counts (ModelSpec.params)


def param_table(profile: str, runs_dir: str | os.PathLike = "runs") -> pd.DataFrame:
    """Every model: paper, parameters at 256 px with the paper's widths, parameters of the
    run of ``profile`` (its widths and size), and the paper recipe (loss, optimizer, lr, batch, epochs)."""
    reg = registry()
    ours = []
    for name in reg["name"]:
        info = read_training(run_dir(profile, name, runs_dir))
        ours.append(f"{info.params / 1e6:.2f} M" if info else "missing")
    return pd.DataFrame({
        "Model": reg["title"], "Paper": reg["paper"],
        f"Parameters ({PARAM_SIZE} px)": [f"{p / 1e6:.2f} M" for p in reg["params"]],
        f"Parameters ({profile} run)": ours, "Loss": reg["loss"], "Optimizer": reg["optimizer"],
        "Learning rate": [f"{v:g}" for v in reg["lr"]], "Batch": reg["batch"], "Epochs": reg["epochs"]})


_GROUP = re.compile(r"^(dec\d+|enc\d+|head)_")
_STAGE_ALIAS = {"prediction": "head"}


def _describe(layer) -> str:
    kind = type(layer).__name__
    cfg = layer.get_config()
    if kind == "UpSampling2D":
        return f"upsample x{cfg['size'][0]}"
    if kind == "Conv2D":
        k = cfg["kernel_size"][0]
        act = "" if cfg["activation"] == "linear" else f"\n{cfg['activation']}"
        return f"conv {k}x{k}, {cfg['filters']}{act}"
    if kind == "BatchNormalization":
        return "batch norm"
    if kind == "Activation":
        return cfg["activation"]
    if kind == "Concatenate":
        return "gray -> 3 channels"
    if kind == "InputLayer":
        return ""
    if hasattr(layer, "layers"):
        if layer.name == "nasnet_encoder":  # the text's number: cut after NASNet-Large's layer 414
            return f"NASNet-Large cut after layer {ENCODER_LAYERS}\n({encoder_path_layers(layer)} layers on the path)"
        return f"{len(layer.layers)} layers"
    return kind


def encoder_path_layers(encoder) -> int:
    """How many of the kept NASNet-Large layers lie on the path to the cut (the encoder model's
    own layers, its input included): 68 of the first 415 do not."""
    return len(encoder.layers)


def model_stages(model) -> list[dict]:
    """The top-level layers of a built Keras model as stages: layers named ``decN_*``
    (``head_*``, ``prediction``) form one stage. Each stage: name, what its layers do,
    output shape (without the batch axis) and parameter count."""
    stages: list[dict] = []
    for layer in model.layers:
        match = _GROUP.match(layer.name)
        group = match.group(1) if match else _STAGE_ALIAS.get(layer.name, layer.name)
        shape = tuple(int(d) for d in layer.output.shape[1:])
        if stages and stages[-1]["name"] == group:
            stages[-1]["ops"].append(_describe(layer))
            stages[-1]["shape"] = shape
            stages[-1]["params"] += layer.count_params()
        else:
            stages.append({"name": group, "ops": [_describe(layer)], "shape": shape,
                           "params": layer.count_params()})
    return stages


def _stage_title(name: str) -> str:
    if name.startswith("dec"):
        return f"decoder block {int(name[3:]) + 1}"
    return {"image": "input", "gray_to_rgb": "to RGB", "nasnet_encoder": "NASNet-Large encoder",
            "head": "head"}.get(name, name.replace("_", " "))


def architecture_figure(model, title: str = ""):
    """The paper's Fig. 1, drawn from the built model: one row per stage, top to bottom, with a
    bar as long as its output's side (log scale), its output shape and parameters, and what its
    layers do."""
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib import patches

    from .figure_style import PALETTE, WIDTH, apply_style

    apply_style()
    stages = model_stages(model)
    sides = np.log2([s["shape"][0] for s in stages])
    fig, ax = plt.subplots(figsize=(WIDTH, 0.62 * len(stages) + 0.5))
    colors = plt.get_cmap(PALETTE)
    for i, stage in enumerate(stages):
        y = -i
        width = 0.35 + 1.25 * (sides[i] - sides.min()) / max(np.ptp(sides), 1)
        color = colors(1 if stage["name"].startswith("dec") else 0 if "encoder" in stage["name"] else 7)
        ax.add_patch(patches.FancyBboxPatch((2.0, y - 0.22), width, 0.44, boxstyle="round,pad=0.02",
                                            fc=color, ec="black", lw=0.6, alpha=0.75))
        params = f"{stage['params'] / 1e6:.2f} M" if stage["params"] >= 1e5 else f"{stage['params']:,}"
        ax.text(0, y, _stage_title(stage["name"]), ha="left", va="center", weight="bold")
        ax.text(3.75, y, "x".join(map(str, stage["shape"])) + f"\n{params}", ha="left", va="center")
        ax.text(4.95, y, ", ".join(o.replace("\n", ", ") for o in stage["ops"] if o) or "-", ha="left", va="center",
                wrap=True)
        if i:
            ax.annotate("", xy=(2.15, y + 0.24), xytext=(2.15, y + 0.76), arrowprops={"arrowstyle": "->", "lw": 0.8})
    ax.set_xlim(0, 7.2)
    ax.set_ylim(-len(stages) + 0.4, 0.6)
    ax.axis("off")
    total = sum(s["params"] for s in stages)
    ax.set_title(title or f"{model.name}: {total / 1e6:.2f} M parameters (per stage: output height x width x "
                          "channels, parameters, layers)", loc="left")
    fig.tight_layout()
    plt.close(fig)
    return fig


def architecture_values(model, image_size: int) -> dict:
    """The numbers the method chapter gives about the drawn model (glued by notebook 02 with an
    ``arch_`` prefix): parameters (millions) of the model and of its encoder, the input size,
    the bottleneck's shape (``16x16x336``) and stride, the NASNet layer the encoder is cut after
    and how many of the layers up to it lie on the path to the cut (both in the figure too)."""
    stages = model_stages(model)
    encoder = [s["params"] for s in stages if "encoder" in s["name"]]
    bottleneck = min(stages, key=lambda s: s["shape"][0])["shape"]
    nested = [layer for layer in model.layers if layer.name == "nasnet_encoder"]
    return {"params_m": float(model.count_params() / 1e6),
            "encoder_params_m": float(encoder[0] / 1e6) if encoder else math.nan,
            "encoder_path_layers": float(encoder_path_layers(nested[0])) if nested else math.nan,
            "image_size": float(image_size), "bottleneck": "x".join(map(str, bottleneck)),
            "stride": float(image_size / bottleneck[0]), "encoder_layers": float(ENCODER_LAYERS)}


def profile_values(runs_dir: str | os.PathLike = "runs") -> dict:
    """Every number the method chapter gives about the profiles and the NASNet-Large decoder's
    schedule, read from ``params/*.yaml`` and the registry through :mod:`lungseg_lib.engine.config`
    (so the text cannot drift from what training uses), with the glue keys of notebook 02."""
    smoke, cpu, paper = (profile_params(p) for p in ("smoke", "cpu", "paper"))
    recipe = get_spec("nasnet_decoder").recipe
    nasnet_cpu = resolve_config("nasnet_decoder", "cpu")
    out = {"smoke_image_size": float(smoke["image_size"]), "smoke_epochs": float(smoke["epochs"]),
           "paper_image_size": float(paper["image_size"]),
           "nasnet_batch": float(recipe["batch_size"]), "nasnet_epochs": float(recipe["epochs"]),
           "nasnet_step": float(recipe["lr_schedule"]["step_epochs"]),
           "nasnet_factor": float(recipe["lr_schedule"]["factor"]),
           # the fair protocol of the cpu profile
           "cpu_image_size": float(cpu["image_size"]), "cpu_epochs": float(cpu["epochs"]),
           "cpu_schedule_scaling": str(cpu["schedule_scaling"]),
           "cpu_early_stopping": "none" if cpu.get("early_stopping_patience") is None
           else f"patience {cpu['early_stopping_patience']}",
           "cpu_seeds": seed_plan("cpu", runs_dir)[1],
           "cpu_nasnet_step": float(nasnet_cpu.lr_schedule["step_epochs"]),
           "cpu_nasnet_halvings": float(schedule_halvings(nasnet_cpu)),
           "cpu_half_width_models": ", ".join(cpu.get("models", {}))}
    # the cpu-v1 run of the NASNet decoder (trained before the fair protocol), and its first run
    record = read_run_record(run_dir("cpu-v1", "nasnet_decoder", runs_dir))
    committed = record.config if record else None
    first = TrainConfig.from_dict(committed).replace(lr_schedule=recipe["lr_schedule"]) if committed else None
    out["committed_nasnet_epochs"] = float(committed["epochs"]) if committed else math.nan
    out["committed_nasnet_step"] = float(committed["lr_schedule"]["step_epochs"]) if committed else math.nan
    # the last epochs of the first run ran at 1/this of the starting learning rate
    out["first_run_final_lr"] = float((1 / first.lr_schedule["factor"]) ** schedule_halvings(first)) \
        if first else math.nan
    return out


def deviation_table() -> pd.DataFrame:
    """The registry's deviations (:func:`lungseg_lib.core.models.deviation_table`) as the book
    shows them: readable headers, each model named once above its rows."""
    shown = registry_deviations().rename(columns={"title": "Model", "aspect": "Aspect", "paper": "The paper",
                                                  "ours": "Here", "reason": "Why", "kind": "Kind"})
    shown = shown.drop(columns="model")
    shown["Model"] = shown["Model"].where(shown["Model"] != shown["Model"].shift(), "")
    return shown
