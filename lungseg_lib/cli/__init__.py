"""The ``lungseg`` command line: a thin layer over the library (``lungseg --help``)."""

from __future__ import annotations

import argparse
import os
import sys

from ..errors import DataError
from . import book_commands, data_commands, model_commands, weights_commands
from .model_commands import DEFAULT_EVALUATION  # noqa: F401  (where `lungseg evaluate` writes for the default model)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``lungseg`` command."""
    parser = argparse.ArgumentParser(prog="lungseg", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (data_commands.add_data_commands, model_commands.add_run_commands, weights_commands.add_weights_command,
                book_commands.add_bench_command, book_commands.add_book_commands):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``lungseg`` console script."""
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's errors only, as in the tests
    try:
        return args.func(args)
    except (DataError, OSError, KeyError, ValueError) as exc:  # OSError: unwritable --out, ...
        print(f"lungseg: error: {exc.args[0] if isinstance(exc, KeyError) else exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        print(f"lungseg: error: {exc}; install the package with its backend: pip install -e \".[cpu]\" "
              "(or \".[gpu]\")", file=sys.stderr)
        return 2
    except Exception as exc:  # a failed training notebook: show its error, not papermill's trace
        if type(exc).__name__ == "PapermillExecutionError":
            print(f"lungseg: error in the notebook: {exc.ename}: {exc.evalue}", file=sys.stderr)
            return 1
        raise

