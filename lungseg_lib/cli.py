"""The ``lungseg`` command line: a thin layer over the library (``lungseg --help``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import DataError


def _data_check(args) -> int:
    from .data import check_folder, check_report

    scan, stats = check_folder(args.path)
    print(check_report(scan, stats))
    return 1 if scan.problems else 0


def _data_split(args) -> int:
    from .data import check_folder, make_split, write_split

    scan, _ = check_folder(args.path)
    if scan.problems:
        print("\n".join(f"PROBLEM {p}" for p in scan.problems), file=sys.stderr)
        print(f"{len(scan.problems)} problem(s): fix them (see `lungseg data check`) before splitting",
              file=sys.stderr)
        return 1
    table = make_split(scan.pairs, seed=args.seed)
    write_split(table, args.out)
    print(f"{args.out}: " + ", ".join(f"{k} {v}" for k, v in table.split.value_counts().items()))
    return 0


def _data_synth(args) -> int:
    from .synthetic import make_synthetic_dataset

    print(make_synthetic_dataset(args.out, n=args.n, size=args.size, seed=args.seed))
    return 0


def _data_fetch(args) -> int:
    from .download import fetch_montgomery

    print(fetch_montgomery(args.out, size=args.size))
    return 0


def _data_convert(args) -> int:
    from .download import convert_kaggle

    print(convert_kaggle(args.src, args.out, size=args.size))
    return 0


def _models(args) -> int:
    from .models import model_table

    table = model_table()
    print(table.to_string(index=False))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``lungseg`` command."""
    parser = argparse.ArgumentParser(prog="lungseg", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    data = sub.add_parser("data", help="check, split, generate, download or convert data sets")
    dsub = data.add_subparsers(dest="data_command", required=True)
    p = dsub.add_parser("check", help="report pairs, sizes, mask statistics and every problem")
    p.add_argument("path")
    p.set_defaults(func=_data_check)
    p = dsub.add_parser("split", help="write a stratified train/val/test split CSV")
    p.add_argument("path")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_data_split)
    p = dsub.add_parser("synth", help="write a small synthetic data set (tests, smoke runs)")
    p.add_argument("--out", required=True)
    p.add_argument("--n", type=int, default=40)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_data_synth)
    p = dsub.add_parser("fetch", help="download a public data set (montgomery)")
    p.add_argument("name", choices=["montgomery"])
    p.add_argument("--out", required=True)
    p.add_argument("--size", type=int, default=None, help="resize to SIZE x SIZE (default: keep)")
    p.set_defaults(func=_data_fetch)
    p = dsub.add_parser("convert", help="convert a downloaded archive to the standard layout (kaggle)")
    p.add_argument("layout", choices=["kaggle"])
    p.add_argument("src")
    p.add_argument("--out", required=True)
    p.add_argument("--size", type=int, default=None)
    p.set_defaults(func=_data_convert)

    p = sub.add_parser("models", help="list the registry's models with parameter counts")
    p.set_defaults(func=_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``lungseg`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (DataError, FileNotFoundError, KeyError, ValueError) as exc:
        print(f"lungseg: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
