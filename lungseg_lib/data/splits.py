"""Splits by group (patient), stratified, with a held-out external side.

:func:`make_group_split` keeps every image of a group (a patient) on one side, puts the groups
matching ``holdout`` (e.g. one hospital) on the side ``external`` (never trained on, never used
to choose a model), and splits the other groups into train / val / test by
:data:`~lungseg_lib.data.folders.SPLIT_FRACTIONS`, stratified: each group gets one stratum (its
most common combination of the ``strata`` columns), and the sides' shares are kept in every
stratum as far as whole groups allow. The table it writes has the columns of
:func:`lungseg_lib.data.folders.make_split` (``file, source, label, split``) plus the group
column and ``stratum``; :func:`lungseg_lib.data.folders.load_split` reads every side.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from .folders import SPLIT_FRACTIONS, Pair

HOLDOUT = "external"
SIDES = ("train", "val", "test")
FINDING_GROUPS = ("COVID-19", "other pneumonia", "no finding")


def finding_group(finding: str) -> str:
    """A manifest's ``finding`` in three groups: ``COVID-19`` (also "COVID-19, ARDS"), ``no
    finding``, and ``other pneumonia`` (bacterial, viral, fungal, lipoid, SARS, ARDS, ...)."""
    text = str(finding).strip()
    if text.upper().startswith("COVID-19"):
        return "COVID-19"
    return "no finding" if text.lower() in ("no finding", "") else "other pneumonia"


def _with_columns(table: pd.DataFrame, columns) -> pd.DataFrame:
    """``table`` with ``finding_group`` added when asked for and missing; DataError naming a
    column that is neither there nor derivable."""
    table = table.copy()
    if "finding_group" in columns and "finding_group" not in table.columns and "finding" in table.columns:
        table["finding_group"] = table["finding"].map(finding_group)
    if missing := [c for c in columns if c not in table.columns]:
        raise DataError(f"the table lacks the column(s) {', '.join(missing)} (has {', '.join(table.columns)})")
    return table


def group_strata(table: pd.DataFrame, group: str, strata) -> dict[str, str]:
    """Each group's stratum: its most common combination of the ``strata`` columns (ties: the
    first in sorted order), as ``"a / b"``."""
    combos: dict[str, Counter] = {}
    for row in table[[group, *strata]].itertuples(index=False):
        combos.setdefault(row[0], Counter())[" / ".join(map(str, row[1:]))] += 1
    return {g: min(c.items(), key=lambda kv: (-kv[1], kv[0]))[0] for g, c in combos.items()}


def _targets(total: int, fractions) -> np.ndarray:
    """``total`` split by ``fractions`` into whole numbers (largest remainders; ties: first)."""
    exact = total * np.asarray(fractions, float)
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts), kind="stable")[: total - counts.sum()]:
        counts[i] += 1
    return counts


def quotas(sizes: dict[str, int], fractions=SPLIT_FRACTIONS, seed: int = 0) -> dict[str, np.ndarray]:
    """Groups per side for each stratum (``sizes``: groups per stratum): the floors of the
    exact shares, then the remaining groups to the largest remainders (ties broken by
    ``seed``) so that the totals are the whole set's shares (:func:`_targets`)."""
    keys = sorted(sizes)
    n = np.array([sizes[k] for k in keys])
    exact = n[:, None] * np.asarray(fractions, float)[None, :]
    counts = np.floor(exact).astype(int)
    deficit = _targets(int(n.sum()), fractions) - counts.sum(0)
    left = n - counts.sum(1)
    noise = np.random.default_rng(seed).random(exact.shape) * 1e-6
    for i, j in sorted(np.ndindex(*exact.shape), key=lambda ij: -(exact - counts + noise)[ij]):
        if left[i] > 0 and deficit[j] > 0:
            counts[i, j], left[i], deficit[j] = counts[i, j] + 1, left[i] - 1, deficit[j] - 1
    for i in np.flatnonzero(left):  # one stratum with two groups left for the same side
        while left[i] > 0:
            j = int(np.argmax(deficit))
            counts[i, j], left[i], deficit[j] = counts[i, j] + 1, left[i] - 1, deficit[j] - 1
    return {k: counts[i] for i, k in enumerate(keys)}


def _held_out(table: pd.DataFrame, group: str, holdout: dict | None) -> set[str]:
    """The groups with at least one row matching ``holdout`` (column -> value or values)."""
    if not holdout:
        return set()
    hit = np.zeros(len(table), bool)
    for column, values in holdout.items():
        values = {values} if isinstance(values, str) else set(values)
        if column not in table.columns:
            raise DataError(f"holdout: the table has no column {column!r}")
        if not (found := table[column].isin(values)).any():
            raise DataError(f"holdout: no row has {column} = {sorted(values)[0]!r}")
        hit |= found.to_numpy()
    return set(table.loc[hit, group])


def _output(table: pd.DataFrame, group: str, side: dict[str, str], stratum: dict[str, str]) -> pd.DataFrame:
    """The split table: file, source, label, split, the group, stratum; sorted by file."""
    def column(*names):
        found = next((n for n in names if n in table.columns), None)
        return table[found].replace("", "unknown") if found else "unknown"
    out = pd.DataFrame({"file": table["file"], "source": column("source", "site"),
                        "label": column("label", "tb_label", "finding"),
                        "split": table[group].map(side), group: table[group],
                        "stratum": table[group].map(lambda g: stratum.get(g, HOLDOUT))})
    return out.sort_values("file").reset_index(drop=True)


def make_group_split(table: pd.DataFrame, *, group: str = "patient", strata=("finding_group", "view"),
                     holdout: dict | None = None, fractions=SPLIT_FRACTIONS, seed: int = 0) -> pd.DataFrame:
    """Split the rows of ``table`` (one per image: ``file``, ``group``, the ``strata`` columns)
    by group into train / val / test, stratified, with the groups matching ``holdout`` (e.g.
    ``{"site": "Hannover Medical School, Hannover, Germany"}``) on the side ``external``.
    ``finding_group`` is derived from ``finding`` (:func:`finding_group`). Deterministic for
    a seed; no group is on two sides. See the module's doc for the table returned."""
    if abs(sum(fractions) - 1) > 1e-6 or len(fractions) != 3:
        raise ValueError(f"split fractions must be three that sum to 1, got {fractions}")
    table = _with_columns(table.astype(str), ["file", group, *strata])
    if len(blank := table[table[group].str.strip() == ""]):
        raise DataError(f"{blank['file'].iloc[0]}: no {group}")
    if (dup := table["file"][table["file"].duplicated()]).any():
        raise DataError(f"{dup.iloc[0]}: listed twice")
    held = _held_out(table, group, holdout)
    side = {g: HOLDOUT for g in held}
    stratum = group_strata(table[~table[group].isin(held)], group, strata)
    by_stratum: dict[str, list[str]] = {}
    for g in sorted(stratum):
        by_stratum.setdefault(stratum[g], []).append(g)
    rng = np.random.default_rng(seed)
    for key, counts in quotas({k: len(v) for k, v in by_stratum.items()}, fractions, seed).items():
        members = [by_stratum[key][i] for i in rng.permutation(len(by_stratum[key]))]
        sides = ["test"] * counts[2] + ["val"] * counts[1] + ["train"] * counts[0]
        side.update(zip(members, sides))
    return _output(table, group, side, stratum)


def group_table(root: str | os.PathLike, pairs: list[Pair]) -> pd.DataFrame:
    """The rows of ``root/manifest.csv`` of the usable ``pairs``, by file; a DataError names a
    pair without a manifest row and a row without its pair."""
    path = Path(root) / "manifest.csv"
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: a group split reads the manifest ({exc})") from exc
    if "file" not in table.columns:
        raise DataError(f"{path}: no 'file' column")
    stems = {Path(f).stem: i for i, f in enumerate(table["file"])}
    if unlisted := sorted(p.image.name for p in pairs if p.name not in stems):
        raise DataError(f"{path}: {len(unlisted)} pair(s) have no row, first {unlisted[0]}")
    names = {p.name: p.image.name for p in pairs}
    if stray := sorted(f for f in table["file"] if Path(f).stem not in names):
        raise DataError(f"{path}: {len(stray)} row(s) name no usable pair, first {stray[0]}")
    return table.assign(file=[names[Path(f).stem] for f in table["file"]])


def side_counts(split: pd.DataFrame, group: str = "patient") -> pd.DataFrame:
    """Images and groups on each side of a split table (rows: train, val, test, external)."""
    order = [s for s in (*SIDES, HOLDOUT) if s in set(split["split"])]
    return pd.DataFrame({"images": split.groupby("split").size(),
                         f"{group}s": split.groupby("split")[group].nunique()}).loc[order]
