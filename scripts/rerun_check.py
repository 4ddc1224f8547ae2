#!/usr/bin/env python
"""How far a same-seed retrain moved: compare two run folders of one model and seed.

    .venv/bin/python scripts/rerun_check.py runs/cpu/unet/seed0 /tmp/rerun/unet/seed0

Writes bench/reproducibility/rerun.json (or --out): both runs' mean test Dice after post-processing, the
largest per-image difference, whether the training histories (all but the epoch times) and,
when both weight files are present, the weights are identical, and where each run was made.
"""
from __future__ import annotations

import argparse
import json

from lungseg_lib import files
from lungseg_lib.engine.records import read_run_record
from lungseg_lib.report.reproducibility import compare_runs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("original")
    parser.add_argument("rerun")
    parser.add_argument("--out", default="bench/reproducibility/rerun.json")
    args = parser.parse_args(argv)
    record = compare_runs(args.original, args.rerun)
    runs = [read_run_record(r) for r in (args.original, args.rerun)]
    config = runs[0].config
    record.update({"model": config["model"], "profile": config["profile"],
                   "seed": config["seed"], "original": str(args.original),
                   "devices": [r.environment.get("cpu_model", r.environment["device"]) for r in runs],
                   "isas": [r.environment.get("cpu_isa", "unknown") for r in runs]})
    if runs[0].config != runs[1].config:
        raise SystemExit(f"{args.rerun}: not the same configuration as {args.original}")
    files.write_json(args.out, record)
    print(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
