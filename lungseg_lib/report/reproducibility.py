"""What a rerun gives: the oneDNN check (``scripts/onednn_check.py``) and same-seed retrains.

Reads the committed records ``bench/reproducibility/onednn-<isa>.json`` (one small run trained under
several oneDNN settings, one file per machine, named by its widest instruction set) and
``bench/reproducibility/rerun.json`` (a study run retrained with the same seed on the same machine),
and turns them into the tables and numbers of the book's reproduction page.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from ..engine import runfolder
from ..environment import cpu_label

ONEDNN_FOLDER = "bench/reproducibility"
ONEDNN_PATTERN = "onednn-*.json"
RERUN_RECORD = "bench/reproducibility/rerun.json"


def read_record(path: str | os.PathLike) -> dict:
    """A JSON record; FileNotFoundError names the file and the script that writes it."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no record; write it with scripts/onednn_check.py "
                                "or scripts/rerun_check.py")
    return json.loads(path.read_text(encoding="utf-8"))


def read_onednn_records(folder: str | os.PathLike) -> list[dict]:
    """Every machine's oneDNN record in ``folder`` (``onednn-<isa>.json``), in file-name order."""
    paths = sorted(Path(folder).glob(ONEDNN_PATTERN))
    if not paths:
        raise FileNotFoundError(f"{folder}: no {ONEDNN_PATTERN}; write one with scripts/onednn_check.py")
    return [read_record(p) for p in paths]


def _machine(record: dict) -> str:
    return cpu_label(record["settings"]["default"])


def weights_sha256(model_file: str | os.PathLike) -> str:
    """SHA-256 of every weight array of a ``.keras`` file in a fixed order (not of the zip's
    bytes, which carry a timestamp)."""
    import h5py

    digest = hashlib.sha256()
    with zipfile.ZipFile(model_file) as z, tempfile.TemporaryDirectory() as tmp:
        z.extract("model.weights.h5", tmp)
        with h5py.File(Path(tmp) / "model.weights.h5") as h5:
            names = []
            h5.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
            for name in sorted(names):
                digest.update(name.encode())
                digest.update(np.ascontiguousarray(h5[name][()]).tobytes())
    return digest.hexdigest()


def onednn_table(records: list[dict]) -> pd.DataFrame:
    """One row per machine and setting: its environment, last training loss, weight hash, whether
    the weights equal those of the machine's default setting and which other machine's settings
    gave the same weights."""
    rows = []
    for record in records:
        settings = record["settings"]
        reference = settings["default"]["weights_sha256"]
        for name, s in settings.items():
            env = ", ".join(f"{k}={v}" for k, v in s["env"].items()) or "(none)"
            elsewhere = [f"{_machine(o)}: {n}" for o in records if o is not record
                         for n, v in o["settings"].items() if v["weights_sha256"] == s["weights_sha256"]]
            rows.append({"Machine": _machine(record), "Setting": name, "Environment": env,
                         "Last loss": f"{s['loss'][-1]:.10f}", "Weights (SHA-256)": s["weights_sha256"][:12],
                         "Same weights as default": "yes" if s["weights_sha256"] == reference else "no",
                         "Same weights on another machine": "; ".join(elsewhere) or "none"})
    return pd.DataFrame(rows)


def onednn_findings(record: dict) -> dict:
    """The check's answers as booleans: is a rerun identical, does capping oneDNN's instruction
    set change the weights, does switching TensorFlow's oneDNN ops off change them, and does the
    cap still act with them off."""
    s = {name: v["weights_sha256"] for name, v in record["settings"].items()}
    return {"rerun_identical": s["default"] == s["default (again)"],
            "isa_cap_changes_weights": s["isa SSE41"] != s["default"] or s["isa AVX"] != s["default"],
            "opts_off_changes_weights": s["onednn off"] != s["default"],
            "isa_cap_acts_with_opts_off": s["onednn off, isa SSE41"] != s["onednn off"],
            "cpu_isa": record["settings"]["default"]["cpu_isa"],
            "cpu_model": record["settings"]["default"]["cpu_model"]}


def cross_machine_findings(records: list[dict]) -> dict:
    """Across machines: the machines compared, and whether any setting on one machine gave the
    same weights as any setting on another (the default settings, and the same instruction-set
    cap, checked by name)."""
    hashes = [{n: v["weights_sha256"] for n, v in r["settings"].items()} for r in records]
    pairs = [(a, b) for i, a in enumerate(hashes) for b in hashes[i + 1:]]
    shared = lambda name: [a[name] == b[name] for a, b in pairs if name in a and name in b]  # noqa: E731
    return {"machines": [_machine(r) for r in records],
            "any_setting_identical": any(set(a.values()) & set(b.values()) for a, b in pairs),
            "defaults_identical": all(shared("default")) if pairs else None,
            "same_cap_identical": all(shared("isa AVX") + shared("isa SSE41")) if pairs else None}


def compare_runs(a: str | os.PathLike, b: str | os.PathLike, column: str = "dice_post") -> dict:
    """How far run ``b`` moved from run ``a`` (same model, seed and test images): the two mean
    scores, the largest per-image difference and whether the training histories are equal."""
    a, b = Path(a), Path(b)
    pa = pd.read_csv(a / runfolder.PER_IMAGE).set_index("name")[column]
    pb = pd.read_csv(b / runfolder.PER_IMAGE).set_index("name")[column].reindex(pa.index)
    if pb.isna().any():
        raise ValueError(f"{b / runfolder.PER_IMAGE}: not the same test images as {a / runfolder.PER_IMAGE}")
    ha, hb = (pd.read_csv(p / runfolder.HISTORY).drop(columns=["seconds"], errors="ignore") for p in (a, b))
    wa, wb = a / runfolder.MODEL, b / runfolder.MODEL
    return {"mean_a": float(pa.mean()), "mean_b": float(pb.mean()),
            "max_abs_image_diff": float((pa - pb).abs().max()),
            "history_identical": ha.equals(hb), "column": column,
            "weights_identical": (weights_sha256(wa) == weights_sha256(wb)
                                  if wa.exists() and wb.exists() else None)}


def onednn_sentence(findings: dict) -> str:
    """The oneDNN check's outcome in words, for the book."""
    parts = [f"On the {findings['cpu_model']} (widest instruction set {findings['cpu_isa']}), "
             + ("a rerun with the same seed gave bit-identical weights"
                if findings["rerun_identical"] else "a rerun with the same seed gave different weights")]
    parts.append("capping oneDNN's instruction set (ONEDNN_MAX_CPU_ISA) "
                 + ("changed the weights" if findings["isa_cap_changes_weights"] else "left the weights unchanged"))
    parts.append("switching TensorFlow's oneDNN operations off (TF_ENABLE_ONEDNN_OPTS=0) "
                 + ("changed them" if findings["opts_off_changes_weights"] else "left them unchanged")
                 + (", and the cap still acted with them off: the instruction set reaches the "
                    "arithmetic through oneDNN even then" if findings["isa_cap_acts_with_opts_off"]
                    else ", and with them off the cap had no effect"))
    return "; ".join(parts) + "."


def cross_machine_sentence(findings: dict) -> str:
    """The cross-machine comparison in words (or that only one machine was measured)."""
    machines = findings["machines"]
    if len(machines) < 2:
        return f"Only one machine was measured ({machines[0]}): whether a setting makes two CPUs agree is not known."
    same = findings["any_setting_identical"]
    return (f"Across the {len(machines)} machines measured ({'; '.join(machines)}), "
            + ("some setting gave the same weights on more than one machine (table)" if same else
               "no setting gave the same weights on two machines: not the defaults, not the same "
               "instruction-set cap (ONEDNN_MAX_CPU_ISA) on both, not oneDNN's operations switched off")
            + ". A bit-identical retrain on another CPU is therefore not to be expected from these "
            "settings; only the same machine was measured to reproduce a run exactly.")


def rerun_sentence(record: dict | None) -> str:
    """A same-seed retrain's outcome in words (or that it has not been measured)."""
    if record is None:
        return "not measured yet (no bench/reproducibility/rerun.json)"
    same = record["history_identical"] and record["max_abs_image_diff"] == 0
    where = "the same machine" if len(set(record["devices"])) == 1 else "another machine"
    weights = "its weights bit for bit, " if record.get("weights_identical") else ""
    return (f"the {record['model']} run of profile {record['profile']}, seed {record['seed']}, retrained on "
            f"{where}, {'reproduced ' + weights + 'its training history and every test score exactly' if same else 'moved'}: "
            f"mean test Dice after post-processing {record['mean_a']:.4f} then {record['mean_b']:.4f}, "
            f"largest change of one image's Dice {record['max_abs_image_diff']:.2g}")
