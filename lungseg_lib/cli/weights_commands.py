"""``lungseg weights export | fetch | list``: weight files for release and for users."""

from __future__ import annotations


def _weights_export(args) -> int:
    import json

    from ..engine.weights import export_run, registry_entry

    folder = export_run(args.run_dir, args.out, name=args.name, force=args.force)
    print(f"{folder}: release folder written (weights, model card, SHA256SUMS). After uploading its "
          ".keras file, add this entry to lungseg_lib/engine/weights_registry.json with the file's URL:")
    print(json.dumps(registry_entry(folder), indent=2))
    return 0


def _weights_fetch(args) -> int:
    from ..engine.weights import fetch

    print(fetch(args.name, cache=args.cache))
    return 0


def _weights_list(args) -> int:
    from ..engine.weights import cache_dir, load_registry

    entries = load_registry()
    if not entries:
        print("no weights are published yet (lungseg_lib/engine/weights_registry.json is empty)")
    for e in entries:
        cached = (cache_dir() / e["name"] / e["file"]).is_file()
        print(f"{e['name']}  {e['config'].get('model', '?')} {e['config'].get('image_size', '?')} px  "
              f"{'cached' if cached else e['url']}")
    return 0


def add_weights_command(sub) -> None:
    """``lungseg weights export | fetch | list``."""
    p = sub.add_parser("weights", help="export a run's weights for release; fetch or list published ones")
    wsub = p.add_subparsers(dest="weights_command", required=True)
    w = wsub.add_parser("export", help="write a release folder: NAME.keras, model card, SHA256SUMS")
    w.add_argument("run_dir", metavar="RUN")
    w.add_argument("--out", required=True)
    w.add_argument("--name", help="file name without .keras (default lungseg-MODEL-PROFILE-seedK; "
                   "`model` for the package's default model)")
    w.add_argument("--force", action="store_true", help="replace a non-empty --out folder")
    w.set_defaults(func=_weights_export)
    w = wsub.add_parser("fetch", help="download published weights into the cache ($LUNGSEG_CACHE, else "
                        "~/.cache/lungseg), checking their SHA-256")
    w.add_argument("name")
    w.add_argument("--cache", help="another folder to download into (use the files with --run "
                   "CACHE/NAME; --run NAME looks in $LUNGSEG_CACHE, else ~/.cache/lungseg)")
    w.set_defaults(func=_weights_fetch)
    w = wsub.add_parser("list", help="the published weights of the registry")
    w.set_defaults(func=_weights_list)
