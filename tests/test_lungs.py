"""Right and left lung labels, areas and warnings (lungseg_lib.engine.lungs), and the committed range
of the training masks."""

from __future__ import annotations

import numpy as np
import pytest
from xray_helpers import chest_picture

from lungseg_lib.engine import lungs


def two_lungs(h=100, w=120, right=(20, 50), left=(70, 110)) -> np.ndarray:
    mask = np.zeros((h, w), bool)
    mask[20:80, right[0]:right[1]] = True
    mask[20:80, left[0]:left[1]] = True
    return mask


def test_radiological_convention_image_left_is_right_lung():
    labels = lungs.label_lungs(two_lungs())
    assert labels.dtype == np.uint8 and set(np.unique(labels)) == {0, 1, 2}
    assert (labels[:, :60][two_lungs()[:, :60]] == lungs.RIGHT).all()
    assert (labels[:, 60:][two_lungs()[:, 60:]] == lungs.LEFT).all()
    assert "right lung appears on the image's left" in lungs.CONVENTION


def test_small_parts_follow_their_side_and_joined_lungs_are_cut():
    mask = two_lungs()
    mask[5:8, 100:103] = True  # a speck on the image's right: left lung
    labels = lungs.label_lungs(mask)
    assert (labels[5:8, 100:103] == lungs.LEFT).all()
    joined = two_lungs()
    joined[45:50, 50:70] = True  # a bridge between the lungs
    labels = lungs.label_lungs(joined)
    assert (labels[20:80, 20:50] == lungs.RIGHT).all() and (labels[20:80, 72:110] == lungs.LEFT).all()


def test_one_lung_and_no_lung():
    one = two_lungs()
    one[:, 60:] = False
    assert set(np.unique(lungs.label_lungs(one))) == {0, 1}
    assert not lungs.label_lungs(np.zeros((10, 10), bool)).any()


def test_areas_in_pixels_and_cm2():
    labels = lungs.label_lungs(two_lungs())
    a = lungs.lung_areas(labels, pixel_spacing=(0.5, 0.4))
    assert (a.right_px, a.left_px, a.image_px, a.parts) == (60 * 30, 60 * 40, 12000, 2)
    assert a.right_cm2 == pytest.approx(1800 * 0.2 / 100) and a.left_cm2 == pytest.approx(2400 * 0.2 / 100)
    assert a.right_left_ratio == pytest.approx(0.75)
    assert lungs.lung_areas(labels).right_cm2 is None


RANGES = {"right_fraction": {"p1": 0.05, "p99": 0.25}, "left_fraction": {"p1": 0.05, "p99": 0.25},
          "ratio": {"p1": 0.7, "p99": 1.5}}


def test_warnings_in_plain_language():
    ok = lungs.lung_areas(lungs.label_lungs(two_lungs()))
    assert lungs.lung_warnings(ok, RANGES) == []
    assert "no lung found" in lungs.lung_warnings(lungs.lung_areas(np.zeros((9, 9), np.uint8)), RANGES)[0]
    one = lungs.lung_areas(lungs.label_lungs(two_lungs(left=(0, 0))))
    assert any("fewer than two lungs found (no left lung)" in w for w in lungs.lung_warnings(one, RANGES))
    small = lungs.lung_areas(lungs.label_lungs(two_lungs(right=(45, 50))))
    text = " ".join(lungs.lung_warnings(small, RANGES))
    assert "the right lung covers 2% of the image, smaller than in 99% of the training images" in text
    assert "right/left area ratio 0.12" in text
    noisy = two_lungs()
    noisy[2, 2] = noisy[2, 117] = True
    assert "4 separate parts" in " ".join(lungs.lung_warnings(lungs.lung_areas(lungs.label_lungs(noisy)),
                                                              RANGES, post=False))


def test_training_ranges_from_masks():
    masks = [chest_picture(seed=s)[1] for s in range(3)] + [np.zeros((96, 80), bool)]
    r = lungs.training_ranges(masks)
    assert r["n_masks"] == 4 and r["n_two_lungs"] == 3
    assert 0 < r["right_fraction"]["min"] <= r["right_fraction"]["p50"] <= r["right_fraction"]["max"] < 0.5
    assert r["ratio"]["p50"] == pytest.approx(1.0, abs=0.05)
    with pytest.raises(ValueError, match="no training mask with two lungs"):
        lungs.training_ranges([np.zeros((4, 4), bool)])


def test_committed_ranges_say_how_they_were_made():
    r = lungs.load_training_ranges()
    assert r["data"] == "shenzhen_montgomery_512" and r["split"] == "train" and r["n_masks"] == 492
    assert "label_lungs" in r["method"] and r["command"].startswith("python -m lungseg_lib.engine.lungs")
    for key in ("right_fraction", "left_fraction", "ratio"):
        assert r[key]["min"] <= r[key]["p1"] < r[key]["p50"] < r[key]["p99"] <= r[key]["max"]
    assert 0.1 < r["right_fraction"]["p50"] < 0.2 and 1.0 < r["ratio"]["p50"] < 1.3


def test_committed_ranges_match_the_training_masks(real_data_dir):
    """Recomputed from the real training masks (LUNGSEG_DATA), they equal the committed file."""
    from lungseg_lib.project import REPO_ROOT

    split = REPO_ROOT / "data" / "splits" / "shenzhen_montgomery_512.csv"
    again = lungs.compute_training_ranges(real_data_dir, split)
    committed = lungs.load_training_ranges()
    assert again["data_fingerprint"] == committed["data_fingerprint"]
    for key in ("right_fraction", "left_fraction", "ratio"):
        assert again[key] == pytest.approx(committed[key])


def test_each_convention_warns_against_its_own_training_masks():
    """The whole lung (pneumonia films' masks) is larger and its left lung larger than its right:
    a whole-lung result is judged against those masks, a visible-field one against its own."""
    whole, visible = lungs.ranges_for("whole"), lungs.ranges_for("visible")
    assert whole["data"] == "covid_pneumonia_512" and visible["data"] == "shenzhen_montgomery_512"
    assert whole["left_fraction"]["p50"] > visible["left_fraction"]["p50"]
    assert whole["ratio"]["p50"] < 1 < visible["ratio"]["p50"]
    assert lungs.ranges_for(None) == visible
    big = lungs.LungAreas(right_px=2500, left_px=2800, image_px=10000, right_left_ratio=2500 / 2800, parts=2)
    assert any("larger" in w or "outside" in w for w in lungs.lung_warnings(big, visible))
    assert not lungs.lung_warnings(big, whole)
