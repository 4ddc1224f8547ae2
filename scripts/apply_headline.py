#!/usr/bin/env python
"""Write the headline reading of the NASNet-Large decoder's recipe into the profiles that wait
for it (params/cpu-256.yaml, params/cpu-pneumonia.yaml), once the rule of params/cpu.yaml
``readings`` has picked it from every reading's seeds (best mean validation Dice).

    .venv/bin/python scripts/apply_headline.py          # prints what it would write
    .venv/bin/python scripts/apply_headline.py --write  # writes it (then commit, before their runs)

The settings written are those where the headline reading's configuration differs from the
cpu profile's (e.g. ``lr_schedule: null``), under ``models.nasnet_decoder``, with the date and
the rule's numbers in a comment. Exits 1 while the rule cannot pick yet.
"""
from __future__ import annotations

import argparse
import datetime
import json

from lungseg_lib.project import REPO_ROOT

TARGETS = ("cpu-256", "cpu-pneumonia")


def headline_settings(profile: str = "cpu") -> tuple[str, dict, str] | None:
    """(reading, settings that differ from ``profile``'s, the rule's numbers in words) or None."""
    from lungseg_lib.engine.config import resolve_config
    from lungseg_lib.report.readings import headline, reading_plan, reading_scores

    best = headline(profile)
    if best is None:
        return None
    plan = reading_plan(profile)
    model, reading_profile = plan["model"], plan["profiles"][best]
    base = resolve_config(model, profile).as_dict()
    read = resolve_config(model, reading_profile).as_dict()
    diff = {k: v for k, v in read.items() if k != "profile" and v != base[k]}
    scores = reading_scores(profile).set_index("reading")["val_dice"]
    words = ", ".join(f"{name} {value:.4f}" for name, value in scores.items())
    return best, diff, words


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    found = headline_settings()
    if found is None:
        print("no headline yet: a reading lacks an evaluated seed")
        return 1
    best, diff, words = found
    today = datetime.date.today().isoformat()
    block = (f"# The NASNet-Large decoder's headline reading, written {today} by scripts/apply_headline.py once\n"
             f"# params/cpu.yaml's rule had picked it (mean validation Dice over seeds: {words}): {best}.\n"
             f"models:\n  nasnet_decoder: {json.dumps(diff) if diff else '{}'}\n")
    for name in TARGETS:
        path = REPO_ROOT / "params" / f"{name}.yaml"
        text = path.read_text(encoding="utf-8")
        if "headline reading, written" in text:
            print(f"{path}: already written")
            continue
        print(f"{path}:\n{block}")
        if args.write:
            path.write_text(text.rstrip() + "\n" + block, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
