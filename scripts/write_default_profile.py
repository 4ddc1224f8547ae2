#!/usr/bin/env python
"""Write params/default.yaml, the default model's profile, from the remedy screen's verdicts.

    .venv/bin/python scripts/write_default_profile.py [--runs runs] [--out params/default.yaml]

The profile is the compact U-Net's own recipe at 256 px with its early stopping, plus every
remedy the screen keeps (lungseg_lib.report.remedies: the rule fixed in params/screen.yaml
before any run). It refuses while an arm of the screen has not been scored.
"""
from __future__ import annotations

import argparse
import textwrap

import yaml

from lungseg_lib import files
from lungseg_lib.report import remedies

HEADER = """\
# The default model's profile (lungseg_lib/default_model): written by
# scripts/write_default_profile.py from the remedy screen (params/screen.yaml, its rule in
# lungseg_lib/report/remedies.py, both fixed before any run of the screen); do not edit by hand.
# The compact U-Net's own recipe (BCE, Adam 1e-4, batch 4, L2 0.01, early stopping when the
# validation loss has not improved for 5 epochs, at most 50 epochs) at 256 px, on the train
# split, the weights of the epoch with the best validation Dice; plus the kept remedies:
# {kept}.
{verdicts}
# Nothing here was chosen on the test split; the test split scores only the model trained
# with this profile.
"""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="runs")
    parser.add_argument("--out", default="params/default.yaml")
    args = parser.parse_args(argv)
    table = remedies.screen(args.runs)
    arms = table.iloc[1:]
    if table["n"].iloc[0] == 0 or (arms["verdict"] == "not run yet").any():
        raise SystemExit("the screen is not complete: " + "; ".join(f"{a}: {v}" for a, v in zip(arms.arm, arms.verdict)))
    chosen = remedies.chosen_settings(table)
    profile = {"profile": "default", "seeds": [0], "image_size": remedies.SIZE, "augment": True,
               "deterministic": True, **chosen}
    kept = ", ".join(f"{k}: {v}" for k, v in chosen.items()) or "none"
    verdicts = "\n".join(textwrap.wrap("The screen's verdicts: " + "; ".join(
        f"{a}: {v}" for a, v in zip(arms.arm, arms.verdict)) + ".", 94, initial_indent="# ", subsequent_indent="# "))
    files.atomic_write_text(args.out, HEADER.format(kept=kept, verdicts=verdicts) + yaml.safe_dump(profile, sort_keys=False))
    print(f"wrote {args.out} ({kept})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
