"""The speed page (notebook 10): the benchmark files of ``lungseg bench``
(:mod:`lungseg_lib.bench`) as tables and a figure, the related papers' speed claims beside
ours, the numbers of the speed chapter, and the default model's time and accuracy as a user
meets them. No TensorFlow."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from ..bench import DEFAULT_INFER_BATCHES, MIN_BATCH_GAIN, MIN_REPEAT_S
from ..engine.records import RunRecord, read_metrics, read_run_record
from ..engine.runfolder import weights_file
from ..files import read_json
from ..project import repo_path
from . import facts
from . import papers as _papers
from .profile_runs import registry
from .remedies import MAX_MS, TARGET_DICE
from .verdicts import reached


#: The related papers' speed claims, quoted verbatim (they are claims, not measurements of
#: ours); ``paper`` is the key of the paper in :data:`lungseg_lib.report.papers.PAPERS`.
PAPER_CLAIMS = {
    "infer_ms_per_slice_gpu": {
        "value": 50.0, "relation": "<", "unit": "ms per slice", "device": "GPU",
        "model": "unet3_compact", "paper": "ainala2023",
        "source": _papers.source("ainala2023") + ", abstract",
        "quote": "in under 50 milliseconds per slice using a GPU",
        "quantity": "inference time per 2-D slice on an unnamed GPU"},
    "gpu_training_speedup_over_cpu": {
        "value": 3.0, "relation": "~", "unit": "x", "device": "GPU vs CPU",
        "model": "unet22", "paper": "sarada2019",
        "source": _papers.source("sarada2019") + ", Sec. VII",
        "quote": "The received results from GPU performed 3.0 times faster when compared to CPU",
        "quantity": ("the time of a whole training run: 'almost forty-five minutes' on 'a single CPU "
                     "(8 cores of Intel i7)' against an unnamed single GPU; ours: training images "
                     "per second, GPU over CPU")},
}


# ----------------------------------------------------------------------------- reading

def load_bench(path) -> dict:
    """Read one benchmark JSON, with an error naming the file when it is not one."""
    doc = read_json(path)
    missing = [k for k in ("machine", "device", "results", "settings") if k not in doc]
    if missing:
        raise ValueError(f"{path}: not a lungseg benchmark file (no {', '.join(missing)})")
    return doc


TABLE_COLUMNS = (
    "machine", "device", "model", "size", "batch", "precision", "xla", "params_m",
    "infer_ms_b1", "infer_ms_b1_q1", "infer_ms_b1_q3", "best_batch", "infer_ms_best",
    "train_img_s", "train_img_s_q1", "train_img_s_q3", "train_first_call_s", "pipeline_img_s", "post_ms",
    "peak_memory_mb", "memory_kind", "repeats", "complete", "error", "file", "gflop", "achieved_gflops",
    "matmul_gflops", "roofline")


def speed_table(files) -> pd.DataFrame:
    """One row per benchmark result in ``files`` (paths of benchmark JSONs), medians and
    quartiles of each measure; an empty table (with the columns) when there is none."""
    rows = []
    for path in files:
        doc = load_bench(path)
        m = doc["machine"]
        for r in doc["results"]:
            row = {"machine": m.get("label") or m.get("cpu_model"), "device": doc["device"]["kind"],
                   "model": r["model"], "size": r["size"], "batch": r.get("batch"),
                   "precision": r.get("mixed_precision"), "xla": bool(r.get("jit_compile")),
                   "repeats": doc["settings"].get("repeats"), "complete": bool(doc.get("complete")),
                   "error": r.get("error"), "file": Path(path).name}
            if not r.get("error"):
                row.update(
                    params_m=r["params"] / 1e6,
                    infer_ms_b1=r["infer_ms_batch1"]["median"], infer_ms_b1_q1=r["infer_ms_batch1"]["q1"],
                    infer_ms_b1_q3=r["infer_ms_batch1"]["q3"], best_batch=r["best_batch"],
                    infer_ms_best=r["infer_ms_best_batch"]["median"],
                    train_first_call_s=r.get("train_first_call_s"),
                    train_img_s=r["train_images_per_s"]["median"],
                    train_img_s_q1=r["train_images_per_s"]["q1"], train_img_s_q3=r["train_images_per_s"]["q3"],
                    pipeline_img_s=r["pipeline_images_per_s"]["median"], post_ms=r["post_ms"]["median"],
                    peak_memory_mb=r["peak_memory_mb"], memory_kind=r["memory_kind"], **_roofline(r))
            rows.append(row)
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


def _roofline(r: dict) -> dict:
    """A result's FLOPs per image (GFLOP), the rate it achieved at its best batch (GFLOP/s), the
    machine's matrix-multiply rate and their ratio; empty for files measured before the count."""
    if not r.get("flops_per_image") or not r.get("matmul_gflops"):
        return {}
    gflop = r["flops_per_image"] / 1e9
    achieved = gflop / (r["infer_ms_best_batch"]["median"] / 1000)
    roof = r["matmul_gflops"]["median"]
    return {"gflop": gflop, "achieved_gflops": achieved, "matmul_gflops": roof, "roofline": achieved / roof}


def display_table(table) -> pd.DataFrame:
    """The speed table for the book: the model first (the table's key, held in place when it
    scrolls), readable headers, medians with [quartiles] as text, the memory's kind beside it, a
    ``note`` column with the error of a failed model (when there is one). The input pipeline's
    and post-processing's rates, the same for every model, are in the chapter's text."""
    def spread(med, q1, q3, digits):
        return [f"{m:.{digits}f} [{a:.{digits}f}, {b:.{digits}f}]" if pd.notna(m) else ""
                for m, a, b in zip(table[med], table[q1], table[q3])]

    def num(col, digits):
        return [f"{v:.{digits}f}" if pd.notna(v) else "" for v in table[col]]

    t = pd.DataFrame({
        "model": table["model"], "machine": table["machine"],
        "variant": [f"{p}, XLA {'on' if x else 'off'}" for p, x in zip(table["precision"], table["xla"])],
        "params (M)": num("params_m", 2),
        "inference ms/image, batch 1 [IQR]": spread("infer_ms_b1", "infer_ms_b1_q1", "infer_ms_b1_q3", 1),
        "best batch": [str(int(b)) if pd.notna(b) else "" for b in table["best_batch"]],
        "inference ms/image, best batch": num("infer_ms_best", 1),
        "training images/s [IQR]": spread("train_img_s", "train_img_s_q1", "train_img_s_q3", 2),
        "training batch": [str(int(b)) if pd.notna(b) else "" for b in table["batch"]],
        "peak memory (MB)": [f"{v:.0f} ({k})" if pd.notna(v) else "" for v, k in
                             zip(table["peak_memory_mb"], table["memory_kind"].fillna(""))],
        "GFLOP/image": num("gflop", 1), "achieved GFLOP/s": num("achieved_gflops", 0),
        "share of matmul rate": num("roofline", 2),
    })
    notes = [" ".join(filter(None, pair)) for pair in zip(table["error"].fillna(""), stale_notes(table))]
    if any(notes):
        t["note"] = notes
    return t.reset_index(drop=True)


def stale_notes(table, size: int = 256) -> list[str]:
    """Per row, a note when the benchmarked model at ``size`` has another parameter count than
    today's registry model (it was measured before the model changed), else ""."""
    today = registry().set_index("name")["params"] / 1e6
    notes = []
    for model, px, params in zip(table["model"], table["size"], table["params_m"]):
        now = today.get(model)
        stale = px == size and pd.notna(params) and now is not None and not math.isclose(params, now, rel_tol=1e-4)
        notes.append(f"measured on an earlier version of the model ({params:.2f} M parameters, today "
                     f"{now:.2f} M): rerun `lungseg bench`" if stale else "")
    return notes


def headline(table, device: str, model: str, size: int = 256):
    """The row that speaks for ``model`` on ``device`` at ``size`` (None if there is none):
    the default variant first (float32 on a CPU, mixed precision on a GPU, no XLA), then
    files in name order."""
    t = table[(table["device"] == device) & (table["model"] == model) & (table["size"] == size)
              & table["error"].isna()]
    if t.empty:
        return None
    default = "mixed_float16" if device == "gpu" else "float32"
    rank = (t["precision"] != default).astype(int) * 2 + t["xla"].astype(int)
    return t.assign(_rank=rank).sort_values(["_rank", "file"], kind="stable").iloc[0]


def claims_table(table, size: int = 256) -> pd.DataFrame:
    """The related papers' claims (quoted) beside our measurement of the same quantity."""
    rows = []
    claim = PAPER_CLAIMS["infer_ms_per_slice_gpu"]
    for device in ("gpu", "cpu"):
        r = headline(table, device, claim["model"], size)
        ours = (f"{r['infer_ms_b1']:.1f} ms per slice at batch 1, {r['infer_ms_best']:.2f} ms at batch "
                f"{int(r['best_batch'])} ({r['machine']}, {r['precision']})" if r is not None
                else f"no {device.upper()} benchmark yet")
        rows.append({"source": claim["source"], "claim (quoted)": claim["quote"],
                     "ours": f"{device.upper()}: {ours}", "model": claim["model"], "size": size,
                     "quantity": claim["quantity"]})
    claim = PAPER_CLAIMS["gpu_training_speedup_over_cpu"]
    g, c = (headline(table, d, claim["model"], size) for d in ("gpu", "cpu"))
    ours = (f"{g['train_img_s'] / c['train_img_s']:.1f}x ({g['train_img_s']:.0f} vs "
            f"{c['train_img_s']:.1f} images/s; {g['machine']} vs {c['machine']})"
            if g is not None and c is not None else "needs both a GPU and a CPU benchmark")
    rows.append({"source": claim["source"], "claim (quoted)": claim["quote"], "ours": ours,
                 "model": claim["model"], "size": size, "quantity": claim["quantity"]})
    return pd.DataFrame(rows)


def _variant_label(machine: str, precision: str, xla: bool) -> str:
    extra = [p for p, on in (("mixed fp16", precision == "mixed_float16"), ("XLA", xla)) if on]
    return machine + (f" ({', '.join(extra)})" if extra else "")


def speed_figure(table, size: int = 256):
    """Inference latency (batch 1), training throughput and peak memory per model at ``size``,
    one colour per machine/variant: medians as points with quartile whiskers on log axes, memory
    as bars; the related paper's 50 ms per slice claim as a dashed line."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    from .figure_style import WIDTH, apply_style

    apply_style()
    t = table[(table["size"] == size) & table["error"].isna()].copy()
    if t.empty:
        fig = Figure(figsize=(WIDTH, 1.2))
        fig.text(0.5, 0.5, f"No benchmark results at {size} x {size} yet.", ha="center", va="center")
        return fig
    t["variant"] = [_variant_label(m, p, x) for m, p, x in zip(t["machine"], t["precision"], t["xla"])]
    order = list(dict.fromkeys(t["model"]))  # the files' order: the registry's
    variants = list(dict.fromkeys(t["variant"]))
    colors = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860"]
    fig = Figure(figsize=(WIDTH, 0.36 * len(order) * max(1, len(variants) ** 0.5) + 1.6 + 0.22 * len(variants)),
                 layout="constrained")
    axes = fig.subplots(1, 3, sharey=True)
    panels = [("infer_ms_b1", "infer_ms_b1_q1", "infer_ms_b1_q3", "inference,\nms/image (batch 1)"),
              ("train_img_s", "train_img_s_q1", "train_img_s_q3", "training,\nimages/s"),
              ("peak_memory_mb", None, None, "peak memory,\nGB")]
    height = 0.8 / len(variants)
    ypos = np.arange(len(order))
    for ax, (col, lo, hi, title) in zip(axes, panels):
        for j, v in enumerate(variants):
            sub = t[t["variant"] == v].set_index("model").reindex(order)
            y = ypos - 0.4 + height * (j + 0.5)
            x = sub[col].to_numpy(float) / (1000 if col == "peak_memory_mb" else 1)
            color = colors[j % len(colors)]
            if lo:  # log axis: points and whiskers (bar lengths would depend on the axis limit)
                err = np.vstack([x - sub[lo].to_numpy(float), sub[hi].to_numpy(float) - x])
                ax.errorbar(x, y, xerr=err, fmt="o", ms=4, color=color, elinewidth=1, capsize=2, label=v)
            else:
                ax.barh(y, x, height=height, color=color, label=v)
        ax.set_title(title)
        ax.grid(axis="x", alpha=0.3)
        if lo:
            ax.set_xscale("log")
            ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.grid(axis="y", alpha=0.15)
    claim = PAPER_CLAIMS["infer_ms_per_slice_gpu"]
    axes[0].axvline(claim["value"], color="k", ls="--", lw=1,
                    label=f"{_papers.short(claim['paper'])}'s claim: {claim['value']:g} ms per slice on a GPU")
    axes[0].set_yticks(ypos, order)
    axes[0].set_ylim(len(order) - 0.5, -0.5)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(2, len(labels)), frameon=False)
    return fig


# ----------------------------------------------------------------------------- the speed chapter

HEADLINE_MODELS = ("nasnet_decoder", "unet", "unet3_compact")  # the models the text names
HEADLINE_COLUMNS = {"infer_ms": "infer_ms_b1", "best_ms": "infer_ms_best", "train_img_s": "train_img_s",
                    "memory_mb": "peak_memory_mb", "first_call_s": "train_first_call_s"}


def bench_files(bench_dir: str | Path) -> list[Path]:
    """The benchmark JSON files in ``bench_dir`` (relative to the repository unless absolute)."""
    folder = repo_path(bench_dir)
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def speed_status(files: list[Path], table, bench_dir: str, size: int = 256) -> str:
    """The sentence at the top of the speed page: which benchmark files it shows (machine,
    results, date, incomplete ones), which models failed, or that there is no benchmark yet."""
    at_size = table[(table["size"] == size) & table["error"].isna()]
    if at_size.empty:
        return (f"No benchmark yet: no results at {size} x {size} in {bench_dir}/ "
                f"(make one with `lungseg bench --out {bench_dir}/cpu.json`).")
    docs = [load_bench(f) for f in files]
    status = "Benchmark files: " + "; ".join(
        f"{f.name} ({d['machine']['label']}, {len(d['results'])} results, {d['created'][:10]}"
        f"{'' if d.get('complete') else ', INCOMPLETE'})" for f, d in zip(files, docs)) + "."
    failed = table[table["error"].notna()]
    if len(failed):
        status += " Failed: " + ", ".join(f"{r.model} ({r.error})" for r in failed.itertuples()) + "."
    return status


def speed_values(table, size: int = 256) -> dict[str, float | str]:
    """Every number of the speed chapter, keyed as notebook 10 glues them: per device and model
    (those benchmarked and those the text names) ``speed_{device}_{model}_{infer_ms|best_ms|
    train_img_s|memory_mb|first_call_s}``, NaN where a benchmark is missing; the input pipeline
    and post-processing; how it is measured (the benchmark's defaults); the papers' claims."""
    out: dict[str, float | str] = {}
    for device in ("cpu", "gpu"):
        for model in dict.fromkeys([*table["model"], *HEADLINE_MODELS]):
            r = headline(table, device, model, size)
            for key, col in HEADLINE_COLUMNS.items():
                out[f"speed_{device}_{model}_{key}"] = float(r[col]) if r is not None else math.nan
    cpu = headline(table, "cpu", "unet3_compact", size)
    out["speed_cpu_pipeline_img_s"] = float(cpu["pipeline_img_s"]) if cpu is not None else math.nan
    out["speed_cpu_post_ms"] = float(cpu["post_ms"]) if cpu is not None else math.nan
    out["speed_size"] = float(size)
    for device, batches in DEFAULT_INFER_BATCHES.items():
        out[f"speed_batches_{device}"] = ", ".join(map(str, batches))
    out["speed_latency_batch"] = float(min(DEFAULT_INFER_BATCHES["cpu"]))
    out["speed_min_gain_percent"] = float(100 * MIN_BATCH_GAIN)
    out["speed_min_repeat_s"] = float(MIN_REPEAT_S)
    out["speed_unet_params_m"] = float(registry().set_index("name").loc["unet", "params"] / 1e6)
    for key, claim in PAPER_CLAIMS.items():
        out[f"speed_claim_{key}"] = float(claim["value"])
    return out


def save_speed_figure(fig, figures_dir: str | Path) -> Path:
    """Write ``speed.png`` (150 dpi) and ``speed.pdf`` into ``figures_dir``; return the PNG."""
    from .figures import save

    return save(fig, "speed", figures_dir, dpi=150)[0]


# ----------------------------------------------------------------------------- the default model

def default_model_timing(path) -> dict[str, float | str]:
    """The default model's time per image as a user meets it (``bench/default_model/timing.json``,
    written by ``scripts/time_default_model.py``): ``segment()`` end to end and the network alone,
    median ms, the machine and how busy it was, against the target of :data:`MAX_MS` on 2 cores;
    NaN and a sentence saying so when not measured."""
    path = repo_path(path)
    if not path.exists():
        return {"default_segment_ms": math.nan, "default_network_ms": math.nan,
                "default_timing": f"The default model's time per image is not measured yet ({path.name} is missing)."}
    doc = read_json(path)
    machine = doc["machine"]
    seg, net = doc["segment_ms"]["median"], doc["network_ms"]["median"]
    cores = machine["usable_cpus"]
    verdict = (f" End to end, that is {'under' if seg < MAX_MS else 'over'} the target of {MAX_MS:.0f} ms per image on 2 cores"
               + ("." if cores == 2 else f", but measured with {cores} usable cores, not 2."))
    return {"default_segment_ms": seg, "default_network_ms": net,
            "default_timing": (f"The default model takes {seg:.0f} ms per image from file to lung labels "
                               f"(segment(), median of {doc['calls']} calls on {doc['images']} test images; "
                               f"quartiles {doc['segment_ms']['q1']:.0f} to {doc['segment_ms']['q3']:.0f} ms), "
                               f"{net:.0f} ms of it in the network at {doc['image_size']} px, on "
                               f"{machine['cpu_model']} with {cores} usable cores "
                               f"(load average {machine['load_average_start'][0]:.1f} before, "
                               f"{machine['load_average_end'][0]:.1f} after)." + verdict)}


def default_model_accuracy(folder) -> dict[str, float | str]:
    """The shipped default model's test-split Dice after post-processing with its CI, against
    the target it was set, and its weights' size on disk (``folder``: the package's
    ``default_model``); NaN and a sentence saying so while it is not shipped."""
    m = read_metrics(folder)
    if m is None:
        return {"default_test_dice": math.nan, "default_test_low": math.nan, "default_test_high": math.nan,
                "default_mb": math.nan, "default_target_dice": TARGET_DICE,
                "default_accuracy": "The default model is not shipped yet: no test score to report."}
    d = m.summary("dice")
    mb = weights_file(folder).stat().st_size / 1e6
    verdict = {"reached": "reaches", "not reached": "falls short of", "inconclusive": "cannot be told apart from"}[
        reached(d.ci_low, d.ci_high, TARGET_DICE)]
    seed = (read_run_record(folder) or RunRecord()).config.get("seed", 0)
    mean = facts.mark(f"{d.mean:.4f}", facts.Fact(m.profile or "default", m.model, "dice_post", (int(seed),)))
    return {"default_test_dice": float(d.mean), "default_test_low": float(d.ci_low),
            "default_test_high": float(d.ci_high), "default_mb": mb, "default_target_dice": TARGET_DICE,
            "default_accuracy": (f"The default model ({m.model}, {m.image_size} px) scores a Dice after "
                                 f"post-processing of {mean} [{d.ci_low:.4f}, {d.ci_high:.4f}] on the "
                                 f"{m.n_images} images of the {m.split} split, which {verdict} the target of "
                                 f"{TARGET_DICE:.3f} set for it; its weights take {mb:.2f} MB on disk.")}
