"""lungseg_lib.engine.evaluation without a model: scoring predictions, and the metrics that can
be averaged (an infinite HD95 is counted, not averaged)."""

import math

import numpy as np
import pytest
import pandas as pd

from lungseg_lib.core.metrics import image_metrics
from lungseg_lib.core.postprocess import keep_largest_components
from lungseg_lib.data.folders import Pair
from lungseg_lib.engine.evaluation import REPORTED, score_images, summaries


def test_an_empty_prediction_has_an_infinite_hd95_counted_in_the_summary(tmp_path):
    """One image without a predicted lung makes its HD95 infinite: the summary keeps HD95 over
    the finite images and counts the infinite one (it used to drop the metric altogether)."""
    from lungseg_lib.engine.inference import Prediction

    truth = np.zeros((3, 16, 16), bool)
    truth[:, 4:12, 4:12] = True
    raw = truth.copy()
    raw[1] = False  # the model finds no lung in the second image
    raw[2, 4:12, 4:8] = False  # and half of it in the third
    predictions = [Prediction(r.astype(np.float32), r, keep_largest_components(r, 2)) for r in raw]
    images = np.zeros((3, 16, 16, 1), np.float32)
    pairs = [Pair(f"IMG_{i}", tmp_path / "i.png", tmp_path / "m.png", "s", "0") for i in range(3)]
    table = score_images(pairs, images, truth, predictions, tmp_path / "pred")
    assert math.isinf(image_metrics(raw[1], truth[1])["hd95"])
    assert table["hd95"].tolist()[0] == 0.0 and math.isinf(table["hd95"].tolist()[1])
    assert sorted(p.name for p in (tmp_path / "pred").iterdir()) == ["IMG_0.png", "IMG_1.png", "IMG_2.png"]
    summary = summaries(table)
    assert set(summary) == set(REPORTED)
    assert summary["hd95"]["n"] == 2 and summary["hd95"]["n_infinite"] == 1 and summary["hd95"]["mean"] > 0
    assert "n_infinite" not in summary["dice"] and summary["dice"]["n"] == 3
    assert summary["dice"]["mean"] == pytest.approx((1 + 0 + 2 / 3) / 3)
    assert set(summaries(table, "_post")) == set(summary)


def test_summaries_of_finite_tables_report_every_metric():
    table = pd.DataFrame({k: [0.8, 0.9] for k in REPORTED} | {f"{k}_post": [0.85, 0.95] for k in REPORTED})
    assert set(summaries(table)) == set(REPORTED) == set(summaries(table, "_post"))
    nan = table.assign(hd95=[1.0, float("nan")])
    assert "hd95" not in summaries(nan) and "hd95" in summaries(nan, "_post")
