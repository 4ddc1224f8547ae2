"""Metrics against hand-computed cases and scikit-learn; losses; the post-processing layer."""

import numpy as np
import pytest
from sklearn.metrics import f1_score, jaccard_score

from lungseg_lib.core.metrics import dice, image_metrics, iou, keras_metrics, surface_distances
from lungseg_lib.core.postprocess import keep_largest_components


def test_hand_computed_overlap():
    t = np.zeros((4, 4), bool); t[:2, :2] = True          # 4 pixels
    p = np.zeros((4, 4), bool); p[:2, 1:3] = True          # 4 pixels, 2 shared
    assert dice(p, t) == pytest.approx(0.5)
    assert iou(p, t) == pytest.approx(2 / 6)
    m = image_metrics(p, t)
    assert m["precision"] == pytest.approx(0.5) and m["recall"] == pytest.approx(0.5)


def test_empty_conventions():
    z = np.zeros((5, 5), bool)
    o = z.copy(); o[2, 2] = True
    assert dice(z, z) == 1.0 and iou(z, z) == 1.0
    assert dice(o, z) == 0.0 and iou(z, o) == 0.0
    assert surface_distances(z, z) == (0.0, 0.0)
    assert surface_distances(o, z)[0] == float("inf")


def test_against_sklearn():
    rng = np.random.default_rng(0)
    for _ in range(5):
        p, t = rng.random((20, 30)) > 0.5, rng.random((20, 30)) > 0.4
        assert dice(p, t) == pytest.approx(f1_score(t.ravel(), p.ravel()))
        assert iou(p, t) == pytest.approx(jaccard_score(t.ravel(), p.ravel()))


def test_surface_distance_of_shifted_square():
    a = np.zeros((20, 20), bool); a[5:10, 5:10] = True
    b = np.roll(a, 3, axis=1)
    hd95, assd = surface_distances(a, b)
    assert hd95 == pytest.approx(3.0)
    assert 0 < assd <= 3.0
    assert surface_distances(a, a) == (0.0, 0.0)


@pytest.mark.parametrize("head", ["softmax", "sigmoid", "logits"])
def test_keras_metrics_match_numpy(head):
    rng = np.random.default_rng(1)
    t = (rng.random((2, 8, 8, 1)) > 0.5).astype("float32")
    prob = rng.random((2, 8, 8)).astype("float32")
    y_pred = {"softmax": np.stack([1 - prob, prob], -1), "sigmoid": prob[..., None],
              "logits": np.log(prob / (1 - prob))[..., None]}[head]
    d, j = keras_metrics(head)
    d.update_state(t, y_pred); j.update_state(t, y_pred)
    assert float(d.result()) == pytest.approx(dice(prob > 0.5, t[..., 0] > 0.5), abs=1e-5)
    assert float(j.result()) == pytest.approx(iou(prob > 0.5, t[..., 0] > 0.5), abs=1e-5)


def test_losses_are_low_for_right_and_high_for_wrong_answers():
    from lungseg_lib.core.losses import LOSSES, get_loss

    t = np.zeros((1, 8, 8, 1), "float32"); t[0, 2:6, 2:6] = 1
    heads = ("softmax", "sigmoid", "logits")
    ran = set()
    for name in LOSSES:
        for head in heads:
            try:
                loss = get_loss(name, head)
            except ValueError:  # a loss that needs another head: checked below that only those are
                continue
            ran.add((name, head))
            def out(p):
                p = np.clip(p, 0.01, 0.99).astype("float32")
                return {"softmax": np.concatenate([1 - p, p], -1), "sigmoid": p,
                        "logits": np.log(p / (1 - p))}[head]
            good, bad = float(loss(t, out(t))), float(loss(t, out(1 - t)))
            assert good < 0.2 < bad, (name, head, good, bad)
    # the cross-entropies each need their own head; Dice (and BCE + Dice) work with every head
    assert ran == {("softmax_ce", "softmax"), ("bce", "sigmoid"), ("bce_logits", "logits"),
                   *((name, head) for name in ("dice", "bce_dice") for head in heads)}, sorted(ran)
    with pytest.raises(ValueError, match="needs a softmax head"):
        get_loss("softmax_ce", "sigmoid")
    with pytest.raises(ValueError, match="valid:"):
        get_loss("nope", "softmax")


def test_postprocess_keeps_two_largest_and_boxes_the_rest():
    m = np.zeros((30, 30), bool)
    m[2:12, 2:10] = True      # 80 px
    m[2:12, 15:22] = True     # 70 px
    m[20:23, 20:23] = True    # 9 px: removed
    m[27, 0] = True           # 1 px: removed
    r = keep_largest_components(m)
    assert r.mask.sum() == 150
    assert sorted(r.removed_areas) == [1, 9]
    assert (20, 20, 3, 3) in r.removed_boxes and (0, 27, 1, 1) in r.removed_boxes


def test_postprocess_edge_cases():
    z = np.zeros((10, 10), bool)
    assert not keep_largest_components(z).mask.any()
    one = z.copy(); one[3:5, 3:5] = True
    assert (keep_largest_components(one).mask == one).all()
    # three equal components: ties broken by scan order (the first two labelled are kept)
    tie = z.copy(); tie[0, 0] = tie[0, 5] = tie[5, 0] = True
    r = keep_largest_components(tie)
    assert r.mask.sum() == 2 and r.removed_boxes == [(0, 5, 1, 1)]
    # diagonal neighbours are one component (8-connectivity)
    diag = z.copy(); diag[1, 1] = diag[2, 2] = diag[8, 8] = True
    assert keep_largest_components(diag, k=1).mask.sum() == 2
    ring = z.copy(); ring[2:7, 2:7] = True; ring[4, 4] = False
    assert keep_largest_components(ring, fill_holes=True).mask[4, 4]
    with pytest.raises(ValueError):
        keep_largest_components(z, k=0)
