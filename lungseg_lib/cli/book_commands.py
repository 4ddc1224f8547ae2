"""``lungseg bench | book | figure``: the speed benchmark and the book."""

from __future__ import annotations

import sys

from ..bench import MIN_REPEAT_S
from .data_commands import parse_numbers


def _bench_command(args) -> str:
    """The ``lungseg bench`` command line with every option spelled out (for the JSON)."""
    import shlex

    words = ["lungseg", "bench"]
    for key, value in vars(args).items():
        if key not in ("command", "func") and value is not None:
            words += [f"--{key.replace('_', '-')}", str(value)]
    return shlex.join(words)


def _bench(args) -> int:
    from ..bench.run import run_bench

    models = [m for m in args.models.replace(",", " ").split()] if args.models else None
    sizes = parse_numbers(args.sizes, "--sizes", cast=int)
    batches = parse_numbers(args.infer_batches, "--infer-batches", cast=int) if args.infer_batches else None
    doc = run_bench(models=models, sizes=sizes, batch=args.batch, device=args.device,
                    repeats=args.repeats, warmup=args.warmup, min_repeat_s=args.min_repeat_s,
                    infer_batches=batches, mixed_precision=args.mixed_precision,
                    jit_compile=args.jit_compile, out=args.out, label=args.label,
                    timeout_s=args.timeout, command=_bench_command(args))
    failed = [r["model"] for r in doc["results"] if r.get("error")]
    print(f"{args.out}: {len(doc['results'])} result(s) on {doc['device']['name']}, {doc['seconds']} s"
          + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


def _book(args) -> int:
    from ..book import BookError, build_book

    try:
        index = build_book(args.profile, runs_dir=args.runs_dir, execute_notebooks=not args.no_execute,
                           builder=args.builder)
    except BookError as exc:
        print(f"lungseg: error: {exc}", file=sys.stderr)
        return 1
    print(f"the link check: {index}" if args.builder == "linkcheck" else f"the book: {index}")
    return 0


def _figure(args) -> int:
    from ..book import BookError, run_figure
    from ..engine.config import parse_set

    try:
        executed = run_figure(args.name, parse_set(args.set), reset=args.reset)
    except BookError as exc:
        print(f"lungseg: error: {exc}", file=sys.stderr)
        return 1
    print(f"{executed}: done; `lungseg book --no-execute` rebuilds the HTML with it "
          "(and `lungseg book` keeps these parameters)")
    return 0


def add_bench_command(sub) -> None:
    """``lungseg bench``."""
    p = sub.add_parser("bench", help="speed benchmark: training images/s, inference ms/image, peak "
                       "memory, input pipeline and post-processing, one fresh process per model")
    p.add_argument("--models", help="comma-separated model names (default: all eight)")
    p.add_argument("--sizes", default="256", help="comma-separated input sizes (default 256)")
    p.add_argument("--batch", type=int, help="training batch (default: each model's paper recipe)")
    p.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    p.add_argument("--repeats", type=int, default=5, help="timed repeats per measure (default 5)")
    p.add_argument("--warmup", type=int, default=2, help="untimed calls first (default 2)")
    p.add_argument("--min-repeat-s", type=float, default=MIN_REPEAT_S,
                   help=f"a repeat runs calls for at least this long (default {MIN_REPEAT_S} s)")
    p.add_argument("--infer-batches", help="inference batches to try (default 1,4,16 on cpu, "
                   "1,8,32,128 on gpu)")
    p.add_argument("--mixed-precision", default="auto", choices=["auto", "on", "off", "both"],
                   help="mixed_float16 (auto: on for gpu, off for cpu)")
    p.add_argument("--jit-compile", default="off", choices=["off", "on", "both"], help="XLA")
    p.add_argument("--label", help="machine label for tables and plots (default: CPU/GPU model)")
    p.add_argument("--timeout", type=float, help="seconds per model before it is given up")
    p.add_argument("--out", required=True, help="the JSON file to write, e.g. bench/cpu.json")
    p.set_defaults(func=_bench)


def add_book_commands(sub) -> None:
    """``lungseg book | figure``."""
    p = sub.add_parser("book", help="execute the figure notebooks and build the book (_build/html)")
    p.add_argument("--profile", default="auto", help="auto (paper runs if any, else cpu), smoke "
                   "(trains missing smoke runs on synthetic data first), cpu or paper")
    p.add_argument("--runs-dir", default="runs", help="folder of the run folders (default: runs)")
    p.add_argument("--no-execute", action="store_true", help="rebuild the HTML from the notebooks "
                   "executed last time")
    p.add_argument("--builder", default="html", choices=["html", "linkcheck"], help="html (default), "
                   "or linkcheck: check every link of the book (report in _build/linkcheck/)")
    p.set_defaults(func=_book)

    p = sub.add_parser("figure", help="re-execute one figure notebook with other parameters "
                       "(remembered by later `lungseg book` builds)")
    p.add_argument("name", help="notebook, e.g. predictions or 05_predictions")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="notebook parameter, e.g. --set n_cases=6 (repeatable)")
    p.add_argument("--reset", action="store_true", help="forget the parameters set before")
    p.set_defaults(func=_figure)
