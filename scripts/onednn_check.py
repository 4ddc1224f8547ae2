#!/usr/bin/env python
"""Does a CPU rerun with the same seed give the same weights, and what does oneDNN change?

Trains the same small run (the smoke profile's compact U-Net on the synthetic data set, fixed
seed) once per setting below, each in a fresh process so that the environment variables reach
TensorFlow before it loads, then compares the per-epoch losses and a SHA-256 of the trained
weights. Writes bench/reproducibility/onednn-<isa>.json, named by the machine's widest instruction
set (or --out), and prints one line per setting; the book compares the machines' files.

    .venv/bin/python scripts/onednn_check.py [--model unet3_compact] [--epochs 2]

TensorFlow's oneDNN kernels choose their code path by the CPU's instruction set at run time
(ONEDNN_MAX_CPU_ISA caps it); with TF_ENABLE_ONEDNN_OPTS=0 TensorFlow uses its own Eigen kernels,
compiled into the binary for one instruction set. A setting whose weights equal another's under
a different cap is one that the instruction set does not reach.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from lungseg_lib import files
from lungseg_lib.engine import runfolder
from lungseg_lib.engine.records import read_run_record
from lungseg_lib.report.reproducibility import weights_sha256

SETTINGS = {  # name -> environment; "default" runs twice to test the same-machine rerun
    "default": {},
    "default (again)": {},
    "isa AVX2": {"ONEDNN_MAX_CPU_ISA": "AVX2"},
    "isa AVX": {"ONEDNN_MAX_CPU_ISA": "AVX"},
    "isa SSE41": {"ONEDNN_MAX_CPU_ISA": "SSE41"},
    "onednn off": {"TF_ENABLE_ONEDNN_OPTS": "0"},
    "onednn off, isa SSE41": {"TF_ENABLE_ONEDNN_OPTS": "0", "ONEDNN_MAX_CPU_ISA": "SSE41"},
}


def train_once(lungseg: str, model: str, epochs: int, data: Path, run_dir: Path, env: dict) -> dict:
    """One training run in a fresh process with `env` added; its losses and weight hash."""
    cmd = [lungseg, "train", "--model", model, "--profile", "smoke", "--data", str(data),
           "--run-dir", str(run_dir), "--set", f"epochs={epochs}", "--no-evaluate"]
    subprocess.run(cmd, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **env}, check=True,
                   stdout=subprocess.DEVNULL)
    history = (run_dir / runfolder.HISTORY).read_text(encoding="utf-8").splitlines()
    header = history[0].split(",")
    losses = [float(line.split(",")[header.index("loss")]) for line in history[1:]]
    environment = read_run_record(run_dir).environment
    return {"env": env, "loss": losses, "weights_sha256": weights_sha256(run_dir / runfolder.MODEL),
            "cpu_isa": environment["cpu_isa"], "cpu_model": environment["cpu_model"]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="unet3_compact")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--out", help="default: bench/reproducibility/onednn-<isa>.json")
    args = parser.parse_args(argv)
    lungseg = str(Path(sys.executable).with_name("lungseg"))
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        subprocess.run([lungseg, "data", "synth", "--out", str(data)], check=True, stdout=subprocess.DEVNULL)
        for i, (name, env) in enumerate(SETTINGS.items()):
            results[name] = train_once(lungseg, args.model, args.epochs, data, Path(tmp) / f"run{i}", env)
            ref = results["default"]["weights_sha256"]
            same = "same as default" if results[name]["weights_sha256"] == ref else "DIFFERENT from default"
            print(f"{name:24s} loss {results[name]['loss'][-1]:.10f}  weights {results[name]['weights_sha256'][:12]}  {same}")
    out = {"model": args.model, "profile": "smoke", "epochs": args.epochs, "settings": results}
    isa = results["default"]["cpu_isa"]
    files.write_json(args.out or f"bench/reproducibility/onednn-{isa}.json", out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
