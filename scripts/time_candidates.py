#!/usr/bin/env python
"""Time the default model's candidates as a user meets them: ``segment()`` per image file at the
final input size (params/select.yaml ``selection``), the architecture built with untrained
weights (time does not depend on the weights' values).

    LUNGSEG_DATA=../shared/data/shenzhen_montgomery_512 .venv/bin/python scripts/time_candidates.py

Writes bench/selection/timing.json ({"PROFILE/MODEL": {median, q1, q3 (ms), gflop, machine}})
from pneumonia validation films (not square, as users' films); run it on an otherwise idle
machine (the record keeps the load average before and after).
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from lungseg_lib import files
from lungseg_lib.bench.usage import time_segment
from lungseg_lib.report.selection import TIMING, rule


def _model_folder(profile: str, model: str, size: int, folder: Path) -> Path:
    """A model folder of ``model`` as ``profile`` trains it, at ``size`` px, untrained."""
    from lungseg_lib.engine.config import resolve_config
    from lungseg_lib.engine.training import build_compiled_model, recorded_config

    config = resolve_config(model, profile, {"image_size": size})
    build_compiled_model(config).save(folder / "model.keras")
    files.write_json(folder / "config.json", {"config": recorded_config(config)})
    return folder


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--n", type=int, default=20, help="validation images to time (default 20)")
    parser.add_argument("--out", default=str(TIMING))
    args = parser.parse_args(argv)
    from lungseg_lib.core.models.flops import count_flops
    from lungseg_lib.data.folders import load_split, resolve_data_dir
    from lungseg_lib.engine.inference import TrainedModel
    from lungseg_lib.project import REPO_ROOT

    root = resolve_data_dir("covid_pneumonia_512")
    paths = [p.image for p in load_split(REPO_ROOT / "data/splits/covid_pneumonia_512.csv", root)["val"][: args.n]]
    record = {}
    for profile, model in rule()["candidates"]:
        with tempfile.TemporaryDirectory() as tmp:
            loaded = TrainedModel(_model_folder(profile, model, args.size, Path(tmp)))
            t = time_segment(paths, loaded)
            record[f"{profile}/{model}"] = {**t["segment_ms"], "network_ms": t["network_ms"]["median"],
                                            "gflop": count_flops(loaded.model) / 1e9, "image_size": args.size,
                                            "machine": t["machine"]}
        print(f"{profile}/{model}: {record[f'{profile}/{model}']['median']:.1f} ms per image")
    files.write_json(args.out, record)
    print(json.dumps({k: round(v["median"], 1) for k, v in record.items()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
