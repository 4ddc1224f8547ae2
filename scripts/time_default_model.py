#!/usr/bin/env python
"""Time the default model (or --model) as a user meets it: ``segment()`` on test images.

    LUNGSEG_DATA=../shared/data/shenzhen_montgomery_512 .venv/bin/python scripts/time_default_model.py

Writes bench/default_model/timing.json (or --out) and prints it; run it on an otherwise idle
machine (the record keeps the load average before and after).
"""
from __future__ import annotations

import argparse
import json

from lungseg_lib import files, load_model
from lungseg_lib.bench.usage import TIMING, time_segment
from lungseg_lib.engine.evaluation import evaluation_pairs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a run or model folder (default: the default model)")
    parser.add_argument("--data", default=None, help="data folder (default: $LUNGSEG_DATA)")
    parser.add_argument("--n", type=int, default=20, help="test images to time (default 20)")
    parser.add_argument("--out", default=str(TIMING))
    args = parser.parse_args(argv)
    model = load_model(args.model)
    _, pairs = evaluation_pairs(model.run_dir, args.data, "test")  # the model's own test split
    record = time_segment([p.image for p in pairs[: args.n]], model)
    record["model"] = str(args.model or "default")
    files.write_json(args.out, record)
    print(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
