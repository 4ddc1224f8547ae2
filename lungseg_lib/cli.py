"""The ``lungseg`` command line: a thin layer over the library (``lungseg --help``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import DataError


def _data_check(args) -> int:
    from .data.folders import check_folder, check_report

    scan, stats = check_folder(args.path)
    print(check_report(scan, stats))
    return 1 if scan.problems else 0


def _data_split(args) -> int:
    from .data.folders import check_folder, make_split, read_names, write_split

    scan, _ = check_folder(args.path)
    if scan.problems:
        print("\n".join(f"PROBLEM {p}" for p in scan.problems), file=sys.stderr)
        print(f"{len(scan.problems)} problem(s): fix them (see `lungseg data check`) before splitting",
              file=sys.stderr)
        return 1
    test_names = read_names(args.test_list) if args.test_list else None
    table = make_split(scan.pairs, seed=args.seed, test_names=test_names)
    write_split(table, args.out)
    print(f"{args.out}: " + ", ".join(f"{k} {v}" for k, v in table.split.value_counts().items()))
    return 0


def _data_synth(args) -> int:
    from .data.synthetic import make_synthetic_dataset

    print(make_synthetic_dataset(args.out, n=args.n, size=args.size, seed=args.seed))
    return 0


def _data_fetch(args) -> int:
    from .data.download import MONTGOMERY_URL, fetch_montgomery, fetch_shenzhen_montgomery_512

    if args.name == "montgomery":
        print(fetch_montgomery(args.out, url=args.url or MONTGOMERY_URL, size=args.size))
    elif args.size is not None:
        raise ValueError(f"--size: not for {args.name} (its files are used as published, 512 x 512)")
    else:
        print(fetch_shenzhen_montgomery_512(args.out, url=args.url))
    return 0


def _data_convert(args) -> int:
    from .data.download import convert_kaggle

    print(convert_kaggle(args.src, args.out, size=args.size))
    return 0


def _models(args) -> int:
    from .core.models import list_models, model_table

    print(" ".join(list_models()) if args.names else model_table().to_string(index=False))
    return 0


def _train(args) -> int:
    import json

    from .core.models import check_input_shape
    from .engine import runfolder
    from .engine.config import parse_set, resolve_config
    from .engine.datasets import prepare_data
    from .notebooks import run_notebook

    overrides = parse_set(args.set)
    if args.data:
        overrides["data"] = args.data
    if args.seed is not None:
        overrides["seed"] = args.seed
    config = resolve_config(args.model, args.profile, overrides)  # fails early on bad names
    check_input_shape(args.model, (config.image_size, config.image_size, 1))
    run_dir = Path(args.run_dir) if args.run_dir else runfolder.run_dir_for(args.profile, args.model, config.seed)
    if not args.force and runfolder.run_status(run_dir) == "evaluated":
        from .engine.training import check_same_config

        check_same_config(run_dir, config)
        print(f"{run_dir}: already trained and evaluated; nothing to do (--force trains again)")
        return 0
    prepare_data(config)  # the data step: the synthetic set of a smoke run, a missing split
    run_notebook("train", run_dir / runfolder.TRAIN_NOTEBOOK, log_output=True, parameters={
        "model": args.model, "profile": args.profile, "run_dir": str(run_dir),
        "overrides": json.dumps(overrides), "force": args.force, "evaluate_after": not args.no_evaluate})
    print(f"{run_dir}: done")
    return 0


def _evaluate(args) -> int:
    from .engine.evaluation import evaluate

    metrics = evaluate(args.run_dir, data=args.data, split=args.split, out=args.out,
                       robustness=not args.no_robustness)
    post, raw = metrics["post"], metrics["raw"]
    print(f"{metrics['model']} on {metrics['n_images']} images ({metrics['split']}): "
          f"Dice {raw['dice']['mean']:.4f} -> {post['dice']['mean']:.4f} with post-processing, "
          f"IoU {raw['iou']['mean']:.4f} -> {post['iou']['mean']:.4f}")
    return 0


def _robustness(args) -> int:
    from .engine.robustness import run_robustness

    words = lambda text: text.replace(",", " ").split() if text else None
    summary = run_robustness(args.run_dir, data=args.data, split=args.split, out=args.out,
                             families=words(args.families), severities=words(args.severities))
    print(f"{summary['path']}: {summary['rows']} rows, {summary['predictions']} predictions "
          f"in {summary['seconds']} s")
    return 0


def _predict(args) -> int:
    from .data.ct_io import names_a_volume
    from .engine.inference import predict_files

    volumes = [p for p in args.images if names_a_volume(p)]
    images = [p for p in args.images if p not in volumes]
    if volumes:
        from .engine.inference import TrainedModel, predict_ct_volume

        model = TrainedModel(args.run)
        for volume in volumes:
            r = predict_ct_volume(model, volume, args.out, post=not args.no_post)
            print(f"{r['out']}  ({r['slices']} slices, {r['ms_per_slice']:.1f} ms per slice "
                  f"in the model, {r['seconds']:.1f} s in all)")
    if images:
        for path in predict_files(args.run, images, args.out, post=not args.no_post):
            print(path)
    return 0


def _parse_numbers(text: str, what: str, n: tuple[int, ...] | None = None, cast=float) -> list:
    """``"a,b"`` -> [a, b] (``n``: the allowed counts), with an error naming the option."""
    try:
        values = [cast(v) for v in text.replace(",", " ").split()]
    except ValueError:
        values = []
    if not values or (n and len(values) not in n):
        count = " or ".join(map(str, n)) if n else "one or more"
        raise ValueError(f"{what}: cannot read {text!r} (expected {count} comma-separated numbers)")
    return values


def _data_from_ct(args) -> int:
    from .data.ct import convert_ct_folder, parse_slices

    slices = parse_slices(args.slices)
    window = _parse_numbers(args.window, "--window", (2,))
    spacing = _parse_numbers(args.spacing, "--spacing", (1, 3))
    labels = _parse_numbers(args.lung_labels, "--lung-labels", cast=int) if args.lung_labels else None
    summary = convert_ct_folder(
        args.src, args.out, mask=args.mask, slices=slices, window=window,
        spacing=spacing[0] if len(spacing) == 1 else spacing, size=args.size,
        lung_labels=labels, label_mod=args.label_mod, png_mode=args.png_mode)
    for problem in summary["problems"]:
        print(f"PROBLEM {problem}", file=sys.stderr)
    print(f"{summary['out']}: {summary['volumes']} volume(s), {summary['slices']} slice(s) written "
          f"(images/, masks/, manifest.csv); {len(summary['problems'])} problem(s)")
    return 1 if summary["problems"] else 0


def _bench_command(args) -> str:
    """The ``lungseg bench`` command line with every option spelled out (for the JSON)."""
    import shlex

    words = ["lungseg", "bench"]
    for key, value in vars(args).items():
        if key not in ("command", "func") and value is not None:
            words += [f"--{key.replace('_', '-')}", str(value)]
    return shlex.join(words)


def _bench(args) -> int:
    from .bench.run import run_bench

    models = [m for m in args.models.replace(",", " ").split()] if args.models else None
    sizes = _parse_numbers(args.sizes, "--sizes", cast=int)
    batches = _parse_numbers(args.infer_batches, "--infer-batches", cast=int) if args.infer_batches else None
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
    from .book import BookError, build_book

    try:
        index = build_book(args.profile, runs_dir=args.runs_dir, execute_notebooks=not args.no_execute,
                           builder=args.builder)
    except BookError as exc:
        print(f"lungseg: error: {exc}", file=sys.stderr)
        return 1
    print(f"the link check: {index}" if args.builder == "linkcheck" else f"the book: {index}")
    return 0


def _figure(args) -> int:
    from .book import BookError, run_figure
    from .engine.config import parse_set

    try:
        executed = run_figure(args.name, parse_set(args.set), reset=args.reset)
    except BookError as exc:
        print(f"lungseg: error: {exc}", file=sys.stderr)
        return 1
    print(f"{executed}: done; `lungseg book --no-execute` rebuilds the HTML with it "
          "(and `lungseg book` keeps these parameters)")
    return 0


def _add_data_commands(sub) -> None:
    """``lungseg data check | split | synth | fetch | convert | from-ct``."""
    data = sub.add_parser("data", help="check, split, generate, download or convert data sets")
    dsub = data.add_subparsers(dest="data_command", required=True)
    p = dsub.add_parser("check", help="report pairs, sizes, mask statistics and every problem")
    p.add_argument("path")
    p.set_defaults(func=_data_check)
    p = dsub.add_parser("split", help="write a stratified train/val/test split CSV")
    p.add_argument("path")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--test-list", help="a text file of image names (one per line, with or without "
                   "extension) that form the test split, e.g. a paper's own test set")
    p.set_defaults(func=_data_split)
    p = dsub.add_parser("synth", help="write a small synthetic data set (tests, smoke runs)")
    p.add_argument("--out", required=True)
    p.add_argument("--n", type=int, default=40)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_data_synth)
    p = dsub.add_parser("fetch", help="download a public data set: shenzhen-montgomery-512 (the "
                        "704 pairs the runs were trained on, every file checked) or montgomery")
    p.add_argument("name", choices=["shenzhen-montgomery-512", "montgomery"])
    p.add_argument("--out", required=True)
    p.add_argument("--size", type=int, default=None, help="resize to SIZE x SIZE (default: keep; "
                   "montgomery only)")
    p.add_argument("--url", help="another URL of the same archive, or a local copy of it (archive "
                   "or extracted folder) for machines without internet access")
    p.set_defaults(func=_data_fetch)
    p = dsub.add_parser("convert", help="convert a downloaded archive to the standard layout (kaggle)")
    p.add_argument("layout", choices=["kaggle"])
    p.add_argument("src")
    p.add_argument("--out", required=True)
    p.add_argument("--size", type=int, default=None)
    p.set_defaults(func=_data_convert)
    p = dsub.add_parser("from-ct", help="CT volume(s) + lung mask(s) -> 2-D axial slices in the "
                        "standard layout (HU window, 1 mm resampling, 256 x 256)")
    p.add_argument("src", metavar="VOLUME_OR_DIR", help="a volume (NIfTI, NRRD, MetaImage, DICOM "
                   "series folder) with --mask, or a folder of NAME.ext + NAME_mask.ext pairs")
    p.add_argument("--out", required=True)
    p.add_argument("--mask", help="the lung mask of a single volume (same geometry)")
    p.add_argument("--slices", default="central", help="central (default), all-lung or every:K")
    p.add_argument("--window", default="-125,275", metavar="LOW,HIGH",
                   help="HU window (default -125,275); write it with '=': --window=-100,300")
    p.add_argument("--spacing", default="1.0", help="mm, one value or x,y,z (default 1.0)")
    p.add_argument("--size", type=int, default=256, help="slice size in pixels (default 256)")
    p.add_argument("--lung-labels", help="mask values that are lung, e.g. 2,3 (default: any > 0)")
    p.add_argument("--label-mod", type=int, help="compare mask values modulo this (CIP label maps: 256)")
    p.add_argument("--png-mode", default="windowed8", choices=["windowed8", "hu16"])
    p.set_defaults(func=_data_from_ct)


def _add_run_commands(sub) -> None:
    """``lungseg models | train | evaluate | robustness | predict``."""
    p = sub.add_parser("models", help="list the registry's models with parameter counts")
    p.add_argument("--names", action="store_true", help="only the names, in registry order")
    p.set_defaults(func=_models)

    p = sub.add_parser("train", help="train (or resume) a model; runs notebooks/00_train.ipynb")
    p.add_argument("--model", required=True)
    p.add_argument("--profile", required=True, help="smoke, cpu or paper (params/*.yaml)")
    p.add_argument("--data", help="data folder (default: $LUNGSEG_DATA; smoke uses synthetic data)")
    p.add_argument("--seed", type=int, help="seed of initialisation, shuffling and augmentation "
                   "(default: the config's, 0)")
    p.add_argument("--run-dir", help="default: runs/PROFILE/MODEL/seedSEED")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a parameter, e.g. --set epochs=5 (repeatable)")
    p.add_argument("--force", action="store_true", help="train again from scratch")
    p.add_argument("--no-evaluate", action="store_true", help="skip the test-set evaluation")
    p.set_defaults(func=_train)

    p = sub.add_parser("evaluate", help="evaluate a trained run (test split, or another data folder)")
    p.add_argument("run_dir")
    p.add_argument("--data", help="another data folder (cross-data-set evaluation)")
    p.add_argument("--split", default="test", choices=["train", "val", "test", "all"])
    p.add_argument("--out", help="write results here instead of the run folder")
    p.add_argument("--no-robustness", action="store_true", help="skip the perturbation grid")
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("robustness", help="score a trained run on perturbed images (brightness, "
                       "contrast, gamma, noise, blur, JPEG, pixelation; MedMNIST-C severities)")
    p.add_argument("run_dir")
    p.add_argument("--data", help="another data folder (with --split all)")
    p.add_argument("--split", default="test", choices=["train", "val", "test", "all"])
    p.add_argument("--families", help="comma-separated families (default: all)")
    p.add_argument("--severities", help="comma-separated severities 0-5 (default: all)")
    p.add_argument("--out", help="folder for robustness.csv (default: the run folder)")
    p.set_defaults(func=_robustness)

    p = sub.add_parser("predict", help="predict lung masks for image files of any size, or for CT "
                       "volumes (.nii/.nii.gz/.nrrd/.mha/.mhd, DICOM series folders) slice by slice")
    p.add_argument("--run", required=True, help="a trained run folder")
    p.add_argument("images", nargs="+")
    p.add_argument("--out", required=True)
    p.add_argument("--no-post", action="store_true", help="skip the post-processing layer")
    p.set_defaults(func=_predict)


def _add_bench_command(sub) -> None:
    """``lungseg bench``."""
    p = sub.add_parser("bench", help="speed benchmark: training images/s, inference ms/image, peak "
                       "memory, input pipeline and post-processing, one fresh process per model")
    p.add_argument("--models", help="comma-separated model names (default: all eight)")
    p.add_argument("--sizes", default="256", help="comma-separated input sizes (default 256)")
    p.add_argument("--batch", type=int, help="training batch (default: each model's paper recipe)")
    p.add_argument("--device", default="cpu", choices=["cpu", "gpu"])
    p.add_argument("--repeats", type=int, default=5, help="timed repeats per measure (default 5)")
    p.add_argument("--warmup", type=int, default=2, help="untimed calls first (default 2)")
    p.add_argument("--min-repeat-s", type=float, default=0.2,
                   help="a repeat runs calls for at least this long (default 0.2 s)")
    p.add_argument("--infer-batches", help="inference batches to try (default 1,4,16 on cpu, "
                   "1,8,32,128 on gpu)")
    p.add_argument("--mixed-precision", default="auto", choices=["auto", "on", "off", "both"],
                   help="mixed_float16 (auto: on for gpu, off for cpu)")
    p.add_argument("--jit-compile", default="off", choices=["off", "on", "both"], help="XLA")
    p.add_argument("--label", help="machine label for tables and plots (default: CPU/GPU model)")
    p.add_argument("--timeout", type=float, help="seconds per model before it is given up")
    p.add_argument("--out", required=True, help="the JSON file to write, e.g. bench/cpu.json")
    p.set_defaults(func=_bench)


def _add_book_commands(sub) -> None:
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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``lungseg`` command."""
    parser = argparse.ArgumentParser(prog="lungseg", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_data_commands, _add_run_commands, _add_bench_command, _add_book_commands):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``lungseg`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (DataError, FileNotFoundError, KeyError, ValueError) as exc:
        print(f"lungseg: error: {exc.args[0] if isinstance(exc, KeyError) else exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a failed training notebook: show its error, not papermill's trace
        if type(exc).__name__ == "PapermillExecutionError":
            print(f"lungseg: error in the notebook: {exc.ename}: {exc.evalue}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
