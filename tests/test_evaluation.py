"""lungseg_lib.engine.evaluation without a model: scoring predictions, and the metrics that can
be averaged (a non-finite HD95 is not)."""

import math

import numpy as np
import pandas as pd

from lungseg_lib.core.metrics import image_metrics
from lungseg_lib.core.postprocess import keep_largest_components
from lungseg_lib.data.folders import Pair
from lungseg_lib.engine.evaluation import REPORTED, score_images, summaries


def test_an_empty_prediction_has_an_infinite_hd95_and_drops_it_from_the_summary(tmp_path):
    truth = np.zeros((2, 16, 16), bool)
    truth[:, 4:12, 4:12] = True
    prob = truth.astype(np.float32)
    prob[1] = 0.0  # the model finds no lung in the second image
    images = np.zeros((2, 16, 16, 1), np.float32)
    pairs = [Pair(f"IMG_{i}", tmp_path / "i.png", tmp_path / "m.png", "s", "0") for i in range(2)]
    table, _ = score_images(pairs, images, truth, prob, lambda m: keep_largest_components(m, 2), tmp_path / "pred")
    assert math.isinf(image_metrics(prob[1] > 0.5, truth[1])["hd95"])
    assert table["hd95"].tolist()[0] == 0.0 and math.isinf(table["hd95"].tolist()[1])
    assert sorted(p.name for p in (tmp_path / "pred").iterdir()) == ["IMG_0.png", "IMG_1.png"]
    raw = summaries(table)
    assert "hd95" not in raw and "assd" not in raw  # a mean over an infinite value says nothing
    assert set(raw) == {"dice", "iou", "precision", "recall"}
    assert raw["dice"]["mean"] == 0.5 and raw["dice"]["n"] == 2
    assert set(summaries(table, "_post")) == set(raw)


def test_summaries_of_finite_tables_report_every_metric():
    table = pd.DataFrame({k: [0.8, 0.9] for k in REPORTED} | {f"{k}_post": [0.85, 0.95] for k in REPORTED})
    assert set(summaries(table)) == set(REPORTED) == set(summaries(table, "_post"))
    nan = table.assign(hd95=[1.0, float("nan")])
    assert "hd95" not in summaries(nan) and "hd95" in summaries(nan, "_post")
