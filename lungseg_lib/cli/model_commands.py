"""``lungseg models | train | evaluate | robustness | predict``: training and using models."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..data.conventions import CONVENTIONS


DEFAULT_EVALUATION = "default-model-evaluation"


PREDICT_HELP = """Segment the lungs of chest X-rays with the default model (or --run).

Inputs: files, folders (their image files) and glob patterns ('scans/**/*.dcm'); PNG, JPEG,
TIFF, BMP (8 or 16 bit) and X-ray DICOM (rescale, VOI LUT or window applied; MONOCHROME1
inverted). A file that cannot be read (a CT DICOM, a non-image file) is reported by name and
the others are still processed; the exit status is 1 if any failed.

Outputs in --out, at each image's original size:
  NAME_mask.png     label image: 0 background, 1 right lung, 2 left lung, in the radiological
                    convention (the patient's right lung appears on the image's LEFT side)
  NAME_overlay.png  the image with the right lung in orange, the left lung in blue
  lungs.csv         one row per input: per-lung areas in pixels, and in cm2 when the pixel
                    spacing is known (DICOM or --pixel-spacing), the right/left ratio, and a
                    warning column (e.g. fewer than two lungs, an area outside the training range)

CT volumes (.nii, .nii.gz, .nrrd, .mha, .mhd, or a folder of CT DICOM files) are segmented
slice by slice with --run (a run trained on CT slices) into NAME_mask.nii.gz."""


def _models(args) -> int:
    from ..core.models import list_models, model_table

    if args.plan:
        from ..report.profile_runs import seed_plan

        plan, rule = seed_plan(args.plan)
        print(f"# {rule}")
        print("\n".join(f"{seed} {model}" for seed, model in plan))
        return 0
    print(" ".join(list_models()) if args.names else model_table().to_string(index=False))
    return 0


def _train(args) -> int:
    from ..engine.config import parse_set
    from ..engine.runner import train_run

    run_dir, trained = train_run(args.model, args.profile, seed=args.seed, overrides=parse_set(args.set),
                                 data=args.data, run_dir=args.run_dir, force=args.force,
                                 evaluate=not args.no_evaluate)
    print(f"{run_dir}: done" if trained else
          f"{run_dir}: already trained and evaluated; nothing to do (--force trains again)")
    return 0


def _evaluation_out(folder: Path, data: str | None, split: str) -> Path | None:
    """Where ``lungseg evaluate`` writes: a training run's own test split into its folder, other
    data or splits into its ``evaluations/<data>-<split>/``; never into a model folder (the
    installed default model, an exported or fetched one: its SHA256SUMS would no longer match)."""
    from ..data.folders import resolve_data_dir
    from ..engine import runfolder
    from ..engine.records import read_run_record

    if not (folder / runfolder.HISTORY).is_file():
        return Path(DEFAULT_EVALUATION)
    record = read_run_record(folder)
    own = Path(str(record.data_root or "")).name if record else ""
    name = resolve_data_dir(data).name if data else own
    return None if (name == own and split == "test") else runfolder.evaluation_dir(folder, name, split)


def _evaluate(args) -> int:
    from ..engine.evaluation import evaluate
    from ..engine.records import Metrics
    from ..engine.weights import model_folder

    if args.run_dir and args.run and args.run_dir != args.run:
        raise ValueError(f"two runs given ({args.run_dir} and --run {args.run}): give one")
    run = args.run_dir or args.run
    folder = model_folder(run)
    out = args.out or _evaluation_out(folder, args.data, args.split)
    m = Metrics.from_dict(evaluate(folder, data=args.data, split=args.split, out=out,
                                   robustness=not args.no_robustness, fill_holes=True if args.fill_holes else None))
    if out:
        print(f"results in {out}")
    dice, iou = (tuple(m.summary(k, post).mean for post in (False, True)) for k in ("dice", "iou"))
    print(f"{m.model} on {m.n_images} images ({m.split}): "
          f"Dice {dice[0]:.4f} -> {dice[1]:.4f} with post-processing, IoU {iou[0]:.4f} -> {iou[1]:.4f}")
    return 0


def _robustness(args) -> int:
    from ..engine.evaluation import run_robustness

    words = lambda text: text.replace(",", " ").split() if text else None
    summary = run_robustness(args.run_dir, data=args.data, split=args.split, out=args.out,
                             families=words(args.families), severities=words(args.severities))
    print(f"{summary['path']}: {summary['rows']} rows, {summary['predictions']} predictions "
          f"in {summary['seconds']} s")
    return 0


def _predict(args) -> int:
    volumes = [p for p in args.images if _is_ct_volume(p)]
    images = [p for p in args.images if p not in volumes]
    spacing = None
    if args.pixel_spacing:
        from ..data.inputs import parse_pixel_spacing

        spacing = parse_pixel_spacing(args.pixel_spacing)
    failures = _predict_volumes(volumes, args) if volumes else []
    if images:
        from ..api import PROGRESS_MIN, predict_images

        summary = predict_images(images, args.out, model=args.run, post=not args.no_post,
                                 batch_size=args.batch_size, pixel_spacing=spacing, lung=args.lung)
        done = summary.table[summary.table["status"] == "ok"]
        if len(done) < PROGRESS_MIN:
            for name in done["mask"]:
                print(Path(args.out) / name)
        print(f"{summary.csv}: {summary.n_ok} image(s) segmented (label masks, overlays, areas)")
        failures += summary.failures
    if failures:
        print(f"lungseg: {len(failures)} input(s) failed:", file=sys.stderr)
        for item, why in failures:
            print(f"  {item}: {why}", file=sys.stderr)
        return 1
    return 0


def _predict_volumes(volumes: list[str], args) -> list[tuple[str, str]]:
    """Segment CT volumes slice by slice with ``--run``; each one that fails (or every one,
    without a CT-trained ``--run``) is a failure named by its file, and the others go on."""
    if not args.run:
        why = ("a CT volume; the default model reads chest X-rays. Pass --run with a run trained on "
               "CT slices (`lungseg data from-ct`, then train)")
        for volume in volumes:
            print(f"lungseg: error: {volume}: {why}", file=sys.stderr)
        return [(volume, why) for volume in volumes]
    from ..engine.inference import TrainedModel, predict_ct_volume
    from ..engine.weights import model_folder

    model = TrainedModel(model_folder(args.run))
    failures = []
    for volume in volumes:
        try:
            r = predict_ct_volume(model, volume, args.out, post=not args.no_post, batch_size=args.batch_size)
        except (ValueError, OSError) as exc:  # DataError is a ValueError
            failures.append((volume, str(exc)))
            print(f"lungseg: error: {volume}: {exc}", file=sys.stderr)
            continue
        print(f"{r['out']}  ({r['slices']} slices, {r['ms_per_slice']:.1f} ms per slice "
              f"in the model, {r['seconds']:.1f} s in all)")
    return failures


def _is_ct_volume(path: str) -> bool:
    """A CT volume file (NIfTI, NRRD, MetaImage) or a folder of CT DICOM files (a series); a
    folder of X-ray files is not one."""
    from ..data.ct_io import VOLUME_SUFFIXES
    from ..data.inputs import is_ct_series_folder

    return path.lower().endswith(VOLUME_SUFFIXES) or is_ct_series_folder(path)


def add_run_commands(sub) -> None:
    """``lungseg models | train | evaluate | robustness | predict``."""
    _add_training_commands(sub)
    _add_use_commands(sub)


def _add_training_commands(sub) -> None:
    """``lungseg models | train``."""
    from ..engine.config import profile_names

    p = sub.add_parser("models", help="list the registry's models with parameter counts")
    p.add_argument("--names", action="store_true", help="only the names, in registry order")
    p.add_argument("--plan", metavar="PROFILE", help="the runs PROFILE's protocol trains, one 'SEED MODEL' "
                   "line each (after a '#' line with the rule)")
    p.set_defaults(func=_models)

    p = sub.add_parser("train", help="train (or resume) a model; runs notebooks/00_train.ipynb")
    p.add_argument("--model", required=True)
    p.add_argument("--profile", required=True, help="one of params/*.yaml: " + ", ".join(profile_names()))
    p.add_argument("--data", help="data folder (default: $LUNGSEG_DATA; smoke uses synthetic data)")
    p.add_argument("--seed", type=int, help="seed of initialisation, shuffling and augmentation "
                   "(default: the config's, 0)")
    p.add_argument("--run-dir", help="default: runs/PROFILE/MODEL/seedSEED")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a parameter, e.g. --set epochs=5 (repeatable)")
    p.add_argument("--force", action="store_true", help="train again from scratch")
    p.add_argument("--no-evaluate", action="store_true", help="skip the test-set evaluation")
    p.set_defaults(func=_train)


def _add_use_commands(sub) -> None:
    """``lungseg evaluate | robustness | predict``."""
    p = sub.add_parser("evaluate", help="evaluate a trained run, or the default model (test split, "
                       "or another data folder)")
    p.add_argument("run_dir", nargs="?", help="a run or model folder (default: the default model)")
    p.add_argument("--run", help="the same as RUN_DIR: a run or model folder, or published weights")
    p.add_argument("--data", help="another data folder (cross-data-set evaluation)")
    p.add_argument("--split", default="test", choices=["train", "val", "test", "external", "all"])
    p.add_argument("--out", help="write results here instead of the run folder (a model folder, the "
                   f"default model's included, writes into {DEFAULT_EVALUATION}/)")
    p.add_argument("--no-robustness", action="store_true", help="skip the perturbation grid")
    p.add_argument("--fill-holes", action="store_true", help="fill holes inside the kept lungs after "
                   "post-processing (default: the run's post_fill_holes)")
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("robustness", help="score a trained run on perturbed images (brightness, "
                       "contrast, gamma, noise, blur, JPEG, pixelation; MedMNIST-C severities)")
    p.add_argument("run_dir")
    p.add_argument("--data", help="another data folder (with --split all)")
    p.add_argument("--split", default="test", choices=["train", "val", "test", "external", "all"])
    p.add_argument("--families", help="comma-separated families (default: all)")
    p.add_argument("--severities", help="comma-separated severities 0-5 (default: all)")
    p.add_argument("--out", help="folder for robustness.csv (default: the run folder)")
    p.set_defaults(func=_robustness)

    p = sub.add_parser(
        "predict", help="segment the lungs of chest X-rays (files, folders, glob patterns; PNG, JPEG, "
        "TIFF, 16-bit, DICOM), or of CT volumes slice by slice",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=PREDICT_HELP)
    p.add_argument("images", nargs="+", metavar="IMAGE", help="files, folders (their images, not their subfolders) or "
                   "glob patterns ('dir/**/*.png' reaches subfolders)")
    p.add_argument("--run", help="a run folder, a folder from `lungseg weights export`, or the name of "
                   "published weights (default: the default model)")
    p.add_argument("--out", required=True, help="the folder for masks, overlays and lungs.csv")
    p.add_argument("--no-post", action="store_true", help="skip the post-processing layer (keep every "
                   "component, not only the two largest)")
    p.add_argument("--batch-size", type=int, default=8, help="images per model call (default 8)")
    p.add_argument("--lung", choices=CONVENTIONS, default=None,
                   help="the lung to draw, for a model that draws both: whole (default: the lung behind "
                   "the heart and opaque lung included) or visible (the visible lung fields)")
    p.add_argument("--pixel-spacing", metavar="MM[,MM]", help="pixel size in mm (row,column) for areas "
                   "in cm2; replaces the spacing of DICOM files (PixelSpacing, else ImagerPixelSpacing)")
    p.set_defaults(func=_predict)
