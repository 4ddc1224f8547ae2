"""Tests for lungseg_lib.data.splits (splits by patient, stratified, an external site held out)
and the committed split of the COVID-19 and other pneumonia films."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lungseg_lib.data import download_covid as dc
from lungseg_lib.data.folders import SPLIT_FRACTIONS, load_split, write_split
from lungseg_lib.data.splits import (HOLDOUT, finding_group, group_strata, make_group_split, quotas,
                                     side_counts)
from lungseg_lib.errors import DataError

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "data" / "splits" / "covid_pneumonia_512.csv"
SHARED = Path(os.environ.get("LUNGSEG_COVID_DATA") or REPO.parent / "shared" / "data" / "covid_pneumonia_512")
TARGET = dict(zip(("train", "val", "test"), SPLIT_FRACTIONS))


def synthetic_table(patients: int = 300, seed: int = 0) -> pd.DataFrame:
    """One row per image: patients with 1 to 5 images, a finding and views, a site; the site
    'Far' has every tenth patient, and patient 7 also has an image at 'Near'."""
    rng = np.random.default_rng(seed)
    findings = ["COVID-19", "COVID-19, ARDS", "Klebsiella", "No Finding", "SARS"]
    rows = []
    for p in range(patients):
        finding = findings[int(rng.choice(5, p=[0.5, 0.1, 0.2, 0.1, 0.1]))]
        for k in range(int(rng.integers(1, 6))):
            site = "Far" if p % 10 == 0 or (p == 7 and k == 0) else "Near"
            rows.append({"file": f"p{p:03d}_{k}.png", "patient": str(p), "site": site, "finding": finding,
                         "view": ["PA", "AP", "AP Supine"][int(rng.integers(0, 3))]})
    return pd.DataFrame(rows)


def sides_of(split: pd.DataFrame, patients: pd.Series) -> pd.Series:
    """The number of sides each patient (looked up by file in ``patients``) is on."""
    return split.assign(p=split["file"].map(patients)).groupby("p")["split"].nunique()


def check_balance(split: pd.DataFrame, group: str = "patient", tolerance: float = 0.1, min_size: int = 10):
    """Per stratum with at least ``min_size`` groups: each side's share of the groups within
    ``tolerance`` of the target; overall within 0.02."""
    groups = split[split["split"] != HOLDOUT].drop_duplicates(group)
    shares = pd.crosstab(groups["stratum"], groups["split"])
    for stratum, row in shares.iterrows():
        if row.sum() >= min_size:
            for side, target in TARGET.items():
                assert abs(row.get(side, 0) / row.sum() - target) <= tolerance, (stratum, dict(row))
    overall = groups["split"].value_counts(normalize=True)
    for side, target in TARGET.items():
        assert abs(overall[side] - target) <= 0.02, dict(overall)
    return shares


# ----------------------------------------------------------------------------- synthetic


def test_no_patient_is_on_two_sides_and_the_site_is_held_out():
    table = synthetic_table()
    for seed in range(5):
        split = make_group_split(table, holdout={"site": "Far"}, seed=seed)
        assert (sides_of(split, table.set_index("file")["patient"]) == 1).all()
        far = set(table.loc[table["site"] == "Far", "patient"])
        external = split[split["split"] == HOLDOUT]
        assert set(external["patient"]) == far  # patient 7: one image at Far, all of it external
        assert set(external["file"]) == set(table.loc[table["patient"].isin(far), "file"])
        assert (split.loc[split["patient"] == "7", "split"] == HOLDOUT).all()
        assert list(split["file"]) == sorted(table["file"])


def test_group_split_is_deterministic_and_stratified():
    table = synthetic_table()
    a, b = make_group_split(table, holdout={"site": ["Far"]}, seed=3), make_group_split(table, holdout={"site": "Far"}, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(make_group_split(table, holdout={"site": "Far"}, seed=4))
    shares = check_balance(a, min_size=20)
    assert set(shares.index) <= {f"{g} / {v}" for g in ("COVID-19", "other pneumonia", "no finding")
                                 for v in ("PA", "AP", "AP Supine")}
    assert list(a.columns) == ["file", "source", "label", "split", "patient", "stratum"]
    assert set(a["source"]) == {"Far", "Near"} and "COVID-19, ARDS" in set(a["label"])


def test_a_patient_gets_its_most_common_stratum():
    table = pd.DataFrame({"patient": ["1", "1", "1", "2", "2"], "g": ["x", "y", "y", "b", "a"],
                          "view": ["PA"] * 5})
    assert group_strata(table, "patient", ["g", "view"]) == {"1": "y / PA", "2": "a / PA"}  # ties: sorted first


def test_quotas_keep_each_stratum_and_the_whole_set():
    sizes = {"a": 1, "b": 2, "c": 3, "d": 7, "e": 50, "f": 13}
    q = quotas(sizes, SPLIT_FRACTIONS, seed=1)
    assert {k: int(v.sum()) for k, v in q.items()} == sizes
    assert list(sum(q.values())) == [53, 8, 15]  # 76 groups: 70/10/20 by largest remainders
    assert list(q["e"]) == [35, 5, 10]


def test_finding_groups():
    assert [finding_group(f) for f in ("COVID-19", "COVID-19, ARDS", "No Finding", "SARS", "ARDS",
                                       "Klebsiella", "Pneumonia")] == \
        ["COVID-19", "COVID-19", "no finding"] + ["other pneumonia"] * 4


def test_group_split_errors_name_the_problem():
    table = synthetic_table(20)
    with pytest.raises(DataError, match=r"lacks the column\(s\) ward"):
        make_group_split(table, strata=("ward",))
    with pytest.raises(DataError, match=r"holdout: no row has site = 'Mars'"):
        make_group_split(table, holdout={"site": "Mars"})
    with pytest.raises(DataError, match=r"holdout: the table has no column 'hospital'"):
        make_group_split(table, holdout={"hospital": "Far"})
    with pytest.raises(DataError, match=r"^p000_0\.png: no patient"):
        make_group_split(table.assign(patient=table["patient"].where(table.index > 0, "")))
    with pytest.raises(DataError, match=r"p000_0\.png: listed twice"):
        make_group_split(pd.concat([table, table.iloc[:1]]))
    with pytest.raises(ValueError, match="three that sum to 1"):
        make_group_split(table, fractions=(0.5, 0.5, 0.5))


def test_load_split_returns_the_external_side(synth_dir, tmp_path):
    from lungseg_lib.data.folders import find_pairs

    pairs = find_pairs(synth_dir).pairs
    table = pd.DataFrame({"file": [p.image.name for p in pairs], "patient": [str(i // 2) for i in range(len(pairs))],
                          "site": ["Far" if i < 8 else "Near" for i in range(len(pairs))],
                          "finding": "COVID-19", "view": "PA"})
    path = write_split(make_group_split(table, holdout={"site": "Far"}), tmp_path / "split.csv")
    split = load_split(path, synth_dir)
    assert sorted(split) == ["external", "test", "train", "val"]
    assert sorted(p.name for p in split["external"]) == sorted(p.name for p in pairs[:8])
    assert {k: len(v) for k, v in split.items() if k != "external"} == {"train": 22, "val": 4, "test": 6}  # 16 patients: 11/2/3


def test_cli_split_by_patient(tmp_path, capsys):
    from lungseg_lib import cli
    from lungseg_lib.data.synthetic import make_synthetic_dataset

    root = Path(make_synthetic_dataset(tmp_path / "synth", n=40, size=32, seed=0))
    manifest = pd.read_csv(root / "manifest.csv", dtype=str)
    manifest = manifest.assign(patient=[str(i // 3) for i in range(len(manifest))], view="AP",
                               site=["Far" if i < 6 else "Near" for i in range(len(manifest))],
                               finding="COVID-19")
    manifest.to_csv(root / "manifest.csv", index=False)
    out = tmp_path / "split.csv"
    assert cli.main(["data", "split", str(root), "--out", str(out), "--group", "patient",
                     "--holdout-site", "Far", "--seed", "2"]) == 0
    assert "external 6 images (2 patients)" in capsys.readouterr().out
    split = pd.read_csv(out, dtype=str)
    assert (sides_of(split, manifest.set_index("file")["patient"]) == 1).all()
    assert set(split.loc[split["split"] == HOLDOUT, "file"]) == set(manifest["file"][:6])
    assert cli.main(["data", "split", str(root), "--out", str(out), "--holdout-site", "Far"]) == 2
    assert "--holdout-site and --strata need --group" in capsys.readouterr().err
    assert cli.main(["data", "split", str(root), "--out", str(out), "--group", "ward"]) == 2
    assert "lacks the column(s) ward" in capsys.readouterr().err


# ----------------------------------------------------------------------------- the committed split


@pytest.fixture(scope="module")
def committed() -> pd.DataFrame:
    return pd.read_csv(COMMITTED, dtype=str, keep_default_na=False)


def test_committed_split_keeps_every_patient_on_one_side(committed):
    manifest = dc.read_manifest()
    assert sorted(committed["file"]) == sorted(manifest["file"])
    sides = sides_of(committed, manifest.set_index("file")["patient"])
    assert len(sides) == 234 and (sides == 1).all(), sides[sides > 1]


def test_committed_split_holds_out_exactly_the_hannover_images(committed):
    manifest = dc.read_manifest()
    hannover = set(manifest.loc[manifest["site"] == dc.EXTERNAL_SITE, "file"])
    assert len(hannover) == 84
    assert set(committed.loc[committed["split"] == HOLDOUT, "file"]) == hannover
    assert committed.loc[committed["split"] == HOLDOUT, "patient"].nunique() == 43


def test_committed_split_is_the_library_s_and_roughly_balanced(committed):
    again = make_group_split(dc.read_manifest(), holdout={"site": dc.EXTERNAL_SITE}, seed=0)
    pd.testing.assert_frame_equal(again, committed)
    counts = side_counts(committed)
    assert counts.to_dict("index") == {"train": {"images": 219, "patients": 134},
                                       "val": {"images": 30, "patients": 19},
                                       "test": {"images": 69, "patients": 38},
                                       "external": {"images": 84, "patients": 43}}
    shares = check_balance(committed, tolerance=0.1, min_size=20)
    assert shares.sum(axis=1).to_dict() == {"COVID-19 / AP": 60, "COVID-19 / AP Supine": 42, "COVID-19 / PA": 67,
                                            "no finding / PA": 3, "other pneumonia / AP Supine": 2,
                                            "other pneumonia / PA": 17}


def test_committed_split_loads_on_the_shared_copy(committed):
    if not (SHARED / "images").is_dir():
        pytest.skip(f"{SHARED} is not here")
    split = load_split(COMMITTED, SHARED)
    assert {k: len(v) for k, v in split.items()} == {"train": 219, "val": 30, "test": 69, "external": 84}
