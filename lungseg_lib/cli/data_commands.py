"""``lungseg data ...``: check, split, synthesize, fetch and convert data sets, CT volumes to slices."""

from __future__ import annotations

import sys


def _pinned_lists() -> dict:
    """The shipped SHA-256 list (and its name pattern) of each data set this project fetches,
    by the data folder's name."""
    from ..data import download, download_covid

    return {"shenzhen_montgomery_512": (download.SM512_SUMS, download.NAME_RE),
            "covid_pneumonia_512": (download_covid.SUMS, download_covid.NAME_RE)}


def _data_check(args) -> int:
    from pathlib import Path

    from ..data.download import verify_sums
    from ..data.folders import check_folder, check_report
    from ..errors import DataError

    scan, stats = check_folder(args.path)
    print(check_report(scan, stats))
    pinned = _pinned_lists().get(Path(args.path).resolve().name)
    if pinned is None:
        return 1 if scan.problems else 0
    try:  # a folder named as a data set this project fetches: the same files, byte for byte?
        n = verify_sums(args.path, *pinned)
        print(f"every one of the {n} files matches the pinned list {pinned[0].name}")
    except DataError as exc:
        print(f"PROBLEM {exc} (not the published {Path(args.path).resolve().name})")
        return 1
    return 1 if scan.problems else 0


def _data_split(args) -> int:
    from ..data.folders import check_folder, make_split, read_names, write_split

    scan, _ = check_folder(args.path)
    if scan.problems:
        print("\n".join(f"PROBLEM {p}" for p in scan.problems), file=sys.stderr)
        print(f"{len(scan.problems)} problem(s): fix them (see `lungseg data check`) before splitting",
              file=sys.stderr)
        return 1
    if args.group:
        return _group_split(args, scan)
    if args.holdout_site or args.strata:
        raise ValueError("--holdout-site and --strata need --group (e.g. --group patient)")
    test_names = read_names(args.test_list) if args.test_list else None
    table = make_split(scan.pairs, seed=args.seed, test_names=test_names)
    write_split(table, args.out)
    print(f"{args.out}: " + ", ".join(f"{k} {v}" for k, v in table.split.value_counts().items()))
    return 0


def _group_split(args, scan) -> int:
    """``lungseg data split PATH --group COLUMN``: by group, stratified, a site held out."""
    from ..data.folders import write_split
    from ..data.splits import group_table, make_group_split, side_counts

    if args.test_list:
        raise ValueError("--test-list and --group: choose one (a group split makes its own test side)")
    strata = [c.strip() for c in (args.strata or "finding_group,view").split(",") if c.strip()]
    holdout = {"site": args.holdout_site} if args.holdout_site else None
    table = make_group_split(group_table(args.path, scan.pairs), group=args.group, strata=strata,
                             holdout=holdout, seed=args.seed)
    write_split(table, args.out)
    counts = side_counts(table, args.group)
    print(f"{args.out}: " + ", ".join(f"{side} {row.iloc[0]} images ({row.iloc[1]} {args.group}s)"
                                      for side, row in counts.iterrows()))
    return 0


def _data_synth(args) -> int:
    from ..data.synthetic import make_synthetic_dataset

    print(make_synthetic_dataset(args.out, n=args.n, size=args.size, seed=args.seed))
    return 0


def _data_fetch(args) -> int:
    from ..data.download import MONTGOMERY_URL, fetch_montgomery, fetch_shenzhen_montgomery_512

    if args.name == "montgomery":
        print(fetch_montgomery(args.out, url=args.url or MONTGOMERY_URL, size=args.size))
    elif args.size is not None:
        raise ValueError(f"--size: not for {args.name} (its files are made as published: the longer "
                         "side 512)")
    elif args.name == "covid-pneumonia-512":
        from ..data.download_covid import fetch_covid_pneumonia_512

        print(fetch_covid_pneumonia_512(args.out, url=args.url))
    else:
        print(fetch_shenzhen_montgomery_512(args.out, url=args.url))
    return 0


def _data_convert(args) -> int:
    from ..data.download import convert_kaggle

    print(convert_kaggle(args.src, args.out, size=args.size))
    return 0


def parse_numbers(text: str, what: str, n: tuple[int, ...] | None = None, cast=float) -> list:
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
    from ..data.ct import convert_ct_folder, parse_slices

    slices = parse_slices(args.slices)
    window = parse_numbers(args.window, "--window", (2,))
    spacing = parse_numbers(args.spacing, "--spacing", (1, 3))
    labels = parse_numbers(args.lung_labels, "--lung-labels", cast=int) if args.lung_labels else None
    summary = convert_ct_folder(
        args.src, args.out, mask=args.mask, slices=slices, window=window,
        spacing=spacing[0] if len(spacing) == 1 else spacing, size=args.size,
        lung_labels=labels, label_mod=args.label_mod, png_mode=args.png_mode)
    for problem in summary["problems"]:
        print(f"PROBLEM {problem}", file=sys.stderr)
    print(f"{summary['out']}: {summary['volumes']} volume(s), {summary['slices']} slice(s) written "
          f"(images/, masks/, manifest.csv); {len(summary['problems'])} problem(s)")
    return 1 if summary["problems"] else 0


def _add_split(dsub) -> None:
    """``lungseg data split``: stratified, a paper's own test set, or by group (patient)."""
    p = dsub.add_parser("split", help="write a stratified train/val/test split CSV")
    p.add_argument("path")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--test-list", help="a text file of image names (one per line, with or without "
                   "extension) that form the test split, e.g. a paper's own test set")
    p.add_argument("--group", metavar="COLUMN", help="split by this column of the folder's manifest.csv "
                   "(e.g. patient): all images of a group on one side, stratified by --strata")
    p.add_argument("--strata", metavar="COLUMNS", help="with --group: manifest columns to stratify by "
                   "(default finding_group,view; finding_group: COVID-19, other pneumonia, no finding)")
    p.add_argument("--holdout-site", action="append", metavar="SITE", help="with --group: the groups "
                   "imaged at this site (manifest column site) form the side 'external' (repeatable)")
    p.set_defaults(func=_data_split)


def _add_fetch(dsub) -> None:
    """``lungseg data fetch NAME``: the public data sets, every file checked."""
    p = dsub.add_parser("fetch", help="download a public data set: shenzhen-montgomery-512 (the "
                        "704 pairs the runs were trained on, every file checked), covid-pneumonia-512 "
                        "(402 pneumonia films with whole-lung masks, from the originals) or montgomery")
    p.add_argument("name", choices=["shenzhen-montgomery-512", "covid-pneumonia-512", "montgomery"])
    p.add_argument("--out", required=True)
    p.add_argument("--size", type=int, default=None, help="resize to SIZE x SIZE (default: keep; "
                   "montgomery only)")
    p.add_argument("--url", help="another URL of the same archive, or a local copy of it (archive "
                   "or extracted folder) for machines without internet access; covid-pneumonia-512: "
                   "a base URL (files at BASE/OWNER/NAME/COMMIT/PATH, default "
                   "https://raw.githubusercontent.com/), a template with {owner} {name} {commit} "
                   "{path}, or a local folder of OWNER+NAME/COMMIT/PATH or OWNER/NAME/COMMIT/PATH")
    p.set_defaults(func=_data_fetch)


def add_data_commands(sub) -> None:
    """``lungseg data check | split | synth | fetch | convert | from-ct``."""
    data = sub.add_parser("data", help="check, split, generate, download or convert data sets")
    dsub = data.add_subparsers(dest="data_command", required=True)
    p = dsub.add_parser("check", help="report pairs, sizes, mask statistics and every problem")
    p.add_argument("path")
    p.set_defaults(func=_data_check)
    _add_split(dsub)
    p = dsub.add_parser("synth", help="write a small synthetic data set (tests, smoke runs)")
    p.add_argument("--out", required=True)
    p.add_argument("--n", type=int, default=40)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_data_synth)
    _add_fetch(dsub)
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
