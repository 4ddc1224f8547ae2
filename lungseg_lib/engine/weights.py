"""Model weights for users: the default model shipped in the package, release folders exported
from runs, and published weight files fetched into a cache with their SHA-256 checked.

A *model folder* is anything :class:`lungseg_lib.engine.inference.TrainedModel` can load: a
``config.json`` in the run format and a ``.keras`` file (``model.keras``, or the only
``*.keras`` file). Run folders, exported release folders, the default model
(``lungseg_lib/default_model/``) and fetched weights (``$LUNGSEG_CACHE/NAME/``) are all model
folders.

Publishing (see the README): ``lungseg weights export RUN --out DIR`` writes the release
folder; a maintainer uploads its files to a release of the repository (or a model hub at a
pinned revision) and adds the file's URL and SHA-256 to :data:`REGISTRY`. Nothing is uploaded
by the code or by CI.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from .. import files
from . import runfolder as runs
from ..files import sha256_file
from .runfolder import WeightsError, weights_file
from .model_card import model_card

DEFAULT_MODEL_DIR = Path(__file__).parents[1] / "default_model"
REGISTRY = Path(__file__).with_name("weights_registry.json")
CACHE_ENV = "LUNGSEG_CACHE"
SUMS = "SHA256SUMS"
CARD = "model_card.md"
MAX_DEFAULT_MB = 5.0  # the default model committed in the package stays below this
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class DefaultModelMissing(FileNotFoundError):
    """This version of the package does not ship the default model's weights yet."""


# --------------------------------------------------------------------------- model folders


def default_model_dir() -> Path:
    """The default model's folder inside the package; :class:`DefaultModelMissing` when its
    weights are not shipped (yet), saying how to use another model."""
    folder = DEFAULT_MODEL_DIR
    if not (folder / runs.MODEL).is_file() or not (folder / runs.CONFIG).is_file():
        raise DefaultModelMissing(
            f"the default model is not shipped with this version of lungseg yet (no "
            f"{folder / runs.MODEL}): pass --run (in Python: model=) with a trained run folder (`lungseg train "
            "--model unet3_compact --profile cpu` makes one), a folder written by `lungseg weights "
            "export`, or the name of published weights (`lungseg weights list`)")
    problems = check_sums(folder) if (folder / SUMS).is_file() else []
    if problems:
        raise WeightsError("the default model's files differ from its SHA256SUMS (a damaged install; "
                           "reinstall lungseg): " + "; ".join(problems))
    return folder


def model_folder(run: str | os.PathLike | None = None, *, fetch_missing: bool = True) -> Path:
    """The model folder for ``--run``: None -> the default model; an existing path -> itself (a
    ``.keras`` file -> its folder); else the name of published weights -> their cached folder
    (downloaded first when ``fetch_missing``). Errors name what was given and list the choices."""
    if run is None or str(run) == "":
        return default_model_dir()
    path = Path(run).expanduser()
    if path.is_file() and path.suffix == ".keras":
        return path.parent
    if path.exists():
        return path
    entries = {e["name"]: e for e in load_registry()}
    if str(run) in entries:
        cached = cache_dir() / str(run)
        if (cached / runs.CONFIG).is_file() and _cached_ok(cached, entries[str(run)]):
            return cached
        if fetch_missing:
            return fetch(str(run)).parent
    names = ", ".join(sorted(entries)) or "none published yet"
    raise FileNotFoundError(f"{run}: no such run folder or weights file, and not the name of published "
                            f"weights (published: {names})")


# --------------------------------------------------------------------------- export


def write_sums(folder: str | os.PathLike) -> Path:
    """Write ``SHA256SUMS`` (``sha256sum`` format) for every other file in ``folder``."""
    folder = Path(folder)
    lines = [f"{sha256_file(p)}  {p.name}" for p in sorted(folder.iterdir())
             if p.is_file() and p.name != SUMS and not p.name.startswith(".")]
    return files.atomic_write_text(folder / SUMS, "\n".join(lines) + "\n")


def check_sums(folder: str | os.PathLike) -> list[str]:
    """The problems of a folder against its ``SHA256SUMS`` (empty when every file matches)."""
    folder = Path(folder)
    problems = []
    for line in (folder / SUMS).read_text(encoding="utf-8").splitlines():
        digest, name = line.split(None, 1)
        name = name.lstrip("*")
        if not (folder / name).is_file():
            problems.append(f"{folder / name}: missing")
        elif sha256_file(folder / name) != digest:
            problems.append(f"{folder / name}: SHA-256 differs from {SUMS}")
    return problems


#: what is known about the data sets the runs are trained on: sources, citations, license.
def save_for_inference(weights: str | os.PathLike, dest: str | os.PathLike) -> Path:
    """Save the model in ``weights`` to ``dest`` without its optimizer's state, which only
    resuming a training needs (Adam's two slots per weight: the file is about a third as large)."""
    import keras

    from ..core.models import register_custom_layers

    register_custom_layers()  # SegNet's pooling layers
    keras.models.load_model(weights, compile=False).save(dest)
    return Path(dest)


def export_run(run_dir: str | os.PathLike, out: str | os.PathLike, name: str | None = None,
               force: bool = False) -> Path:
    """Write a release folder for an evaluated run: ``NAME.keras``, ``config.json``,
    ``metrics.json``, the split CSV when found, ``model_card.md`` and ``SHA256SUMS``.

    ``name`` defaults to ``lungseg-<model>-<profile>-seed<k>``. The folder is assembled under a
    temporary name and renamed into place; an existing non-empty ``out`` is refused unless
    ``force`` (then replaced whole)."""
    from ..project import REPO_ROOT

    run_dir, out = Path(run_dir), Path(out)
    weights = weights_file(run_dir)
    if not (run_dir / runs.METRICS).is_file():
        raise FileNotFoundError(f"{run_dir / runs.METRICS}: this run is not evaluated; run `lungseg "
                                f"evaluate {run_dir}` before exporting it (the model card reports its scores)")
    info = files.read_json(run_dir / runs.CONFIG)
    config = info["config"]
    name = name or f"lungseg-{config['model']}-{config.get('profile', 'run')}-seed{config.get('seed', 0)}"
    if not _NAME_RE.match(name):
        raise ValueError(f"--name {name!r}: use letters, digits, '.', '_' and '-' only")
    if out.exists() and any(out.iterdir()) and not force:
        raise FileExistsError(f"{out}: exists and is not empty; choose another --out, or --force to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.export-"))
    try:
        save_for_inference(weights, stage / f"{name}.keras")
        for extra in (runs.CONFIG, runs.METRICS, runs.TRAINING):
            if (run_dir / extra).is_file():
                shutil.copyfile(run_dir / extra, stage / extra)  # a plain file's permissions
        for record in [info, *(info.get("data_sets") or [])]:  # every data set's split
            split = Path(record["split_file"]) if record.get("split_file") else None
            for candidate in (split, REPO_ROOT / split, run_dir / split.name) if split else ():
                if candidate.is_file():
                    shutil.copyfile(candidate, stage / split.name)
                    break
        default = out.resolve() == DEFAULT_MODEL_DIR.resolve()
        files.atomic_write_text(stage / CARD, model_card(run_dir, stage / f"{name}.keras", name, default=default))
        write_sums(stage)
        files.replace_folder(stage, out)
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)
    return out


#: what a published file's registry entry keeps of its run's configuration: what using the
#: model needs (input size and normalisation, post-processing) and where it came from
USE_KEYS = ("model", "profile", "image_size", "normalize", "post_k", "post_fill_holes", "seed", "data")


def registry_entry(folder: str | os.PathLike, url: str = "URL-OF-THE-UPLOADED-FILE") -> dict:
    """The registry entry to add for an exported folder once its ``.keras`` file is uploaded."""
    folder = Path(folder)
    weights = weights_file(folder)
    config = files.read_json(folder / runs.CONFIG)["config"]
    return {"name": weights.stem, "file": weights.name, "url": url, "sha256": sha256_file(weights),
            "size_bytes": weights.stat().st_size, "config": {k: config[k] for k in USE_KEYS if k in config}}


# --------------------------------------------------------------------------- registry and fetch


def load_registry(path: str | os.PathLike | None = None) -> list[dict]:
    """The published weights (``weights`` of the registry file, default :data:`REGISTRY`),
    each checked for its fields."""
    path = Path(path or REGISTRY)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise WeightsError(f"{path}: cannot read the weights registry ({exc})") from exc
    entries = doc.get("weights")
    if not isinstance(entries, list):
        raise WeightsError(f"{path}: no 'weights' list")
    seen = set()
    for e in entries:
        missing = [k for k in ("name", "file", "url", "sha256", "config") if k not in e]
        if missing:
            raise WeightsError(f"{path}: entry {e.get('name', '?')!r} lacks {', '.join(missing)}")
        if not re.fullmatch(r"[0-9a-f]{64}", str(e["sha256"])):
            raise WeightsError(f"{path}: entry {e['name']!r}: sha256 must be 64 lower-case hex digits")
        if not _NAME_RE.match(e["name"]) or not _NAME_RE.match(e["file"]) or not e["file"].endswith(".keras"):
            raise WeightsError(f"{path}: entry {e['name']!r}: name and file must be plain names, file *.keras")
        if e["name"] in seen:
            raise WeightsError(f"{path}: entry {e['name']!r} is listed twice")
        seen.add(e["name"])
    return entries


def cache_dir() -> Path:
    """Where fetched weights are kept: ``$LUNGSEG_CACHE``, else ``~/.cache/lungseg``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "lungseg").expanduser()


def _cached_ok(folder: Path, entry: dict) -> bool:
    path = folder / entry["file"]
    return path.is_file() and sha256_file(path) == entry["sha256"]


def fetch(name: str, *, registry: str | os.PathLike | None = None, cache: str | os.PathLike | None = None) -> Path:
    """Download the published weight file ``name`` (once) into ``cache/NAME/`` with Keras'
    ``get_file`` and its SHA-256 check; return the file's path.

    A file whose SHA-256 differs from the registry's is refused and deleted (nothing is left in
    the cache), and so is an interrupted download; no network gives one error saying so. Next
    to the file, ``config.json`` (from the registry entry) makes the folder a model folder."""
    import keras

    entries = {e["name"]: e for e in load_registry(registry)}
    if name not in entries:
        valid = ", ".join(sorted(entries)) or "none: no weights are published yet (see the README)"
        raise WeightsError(f"{name}: not in the weights registry {Path(registry or REGISTRY).name}; "
                           f"valid: {valid}")
    entry = entries[name]
    folder = Path(cache) if cache is not None else cache_dir()
    target = folder / name / entry["file"]
    if _cached_ok(target.parent, entry) and (target.parent / runs.CONFIG).is_file():
        return target
    if target.exists():  # a damaged or outdated copy: never kept
        target.unlink()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(dir=target.parent, prefix=".fetch-"))
    except OSError as exc:
        raise WeightsError(f"{target.parent}: cannot write the weights cache ({exc}); set {CACHE_ENV} "
                           "to a writable folder") from exc
    try:
        try:
            got = keras.utils.get_file(fname=entry["file"], origin=entry["url"], file_hash=entry["sha256"],
                                       hash_algorithm="sha256", cache_dir=str(stage), cache_subdir="")
        except ValueError as exc:
            if "hash" not in str(exc):
                raise
            raise WeightsError(
                f"{entry['url']}: the downloaded file's SHA-256 differs from the registry's "
                f"{entry['sha256']} for {name}: refused and deleted (a corrupted or altered download). "
                "Try again; if it persists, report it") from None
        except Exception as exc:  # Keras raises a plain Exception("URL fetch failure on ...")
            if "URL fetch failure" not in str(exc):
                raise
            raise WeightsError(f"{name}: cannot download {entry['url']} ({str(exc).split(' -- ')[-1]}); "
                               "check the network connection") from None
        got = Path(got)
        if sha256_file(got) != entry["sha256"]:  # get_file checked; never trust a silent fallback
            raise WeightsError(f"{entry['url']}: SHA-256 mismatch for {name}: refused")
        os.replace(got, target)
        config = {"config": dict(entry["config"]), "source": {"name": name, "url": entry["url"],
                                                              "sha256": entry["sha256"]}}
        files.write_json(target.parent / runs.CONFIG, config)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        if not target.exists():
            (target.parent / runs.CONFIG).unlink(missing_ok=True)
            try:
                target.parent.rmdir()  # leave nothing behind after a failed download
            except OSError:
                pass
    return target
