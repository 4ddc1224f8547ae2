"""Segmentation metrics on the lung class: per image (NumPy/SciPy) and for Keras training.

Convention: when both the prediction and the ground truth are empty, Dice and IoU are 1.0
(a perfect answer to an image without lung); when only one is empty they are 0.0.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def _counts(pred: np.ndarray, truth: np.ndarray) -> tuple[int, int, int]:
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    if pred.shape != truth.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from ground truth shape {truth.shape}")
    tp = int(np.count_nonzero(pred & truth))
    return tp, int(np.count_nonzero(pred & ~truth)), int(np.count_nonzero(~pred & truth))


def dice(pred: np.ndarray, truth: np.ndarray) -> float:
    """Dice coefficient 2|P∩T| / (|P| + |T|) of two binary masks (1.0 if both are empty)."""
    tp, fp, fn = _counts(pred, truth)
    return 1.0 if tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn)


def iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """Intersection over union |P∩T| / |P∪T| of two binary masks (1.0 if both are empty)."""
    tp, fp, fn = _counts(pred, truth)
    return 1.0 if tp + fp + fn == 0 else tp / (tp + fp + fn)


def precision(pred: np.ndarray, truth: np.ndarray) -> float:
    """Fraction of predicted lung pixels that are lung (1.0 if nothing is predicted)."""
    tp, fp, _ = _counts(pred, truth)
    return 1.0 if tp + fp == 0 else tp / (tp + fp)


def recall(pred: np.ndarray, truth: np.ndarray) -> float:
    """Fraction of lung pixels that are predicted (1.0 if there is no lung)."""
    tp, _, fn = _counts(pred, truth)
    return 1.0 if tp + fn == 0 else tp / (tp + fn)


def _surface_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distances (pixels) from the boundary pixels of ``a`` to the nearest boundary pixel of ``b``."""
    border_a = a & ~ndimage.binary_erosion(a, border_value=0)
    border_b = b & ~ndimage.binary_erosion(b, border_value=0)
    return ndimage.distance_transform_edt(~border_b)[border_a]


def surface_distances(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Return (95th-percentile Hausdorff distance, average symmetric surface distance), pixels.

    Both are 0 when both masks are empty and ``inf`` when exactly one is empty.
    """
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    if not pred.any() and not truth.any():
        return 0.0, 0.0
    if not pred.any() or not truth.any():
        return float("inf"), float("inf")
    d = np.concatenate([_surface_distances(pred, truth), _surface_distances(truth, pred)])
    return float(np.percentile(d, 95)), float(d.mean())


def image_metrics(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """All per-image metrics of one binary prediction against its ground truth."""
    hd95, assd = surface_distances(pred, truth)
    return {"dice": dice(pred, truth), "iou": iou(pred, truth), "precision": precision(pred, truth),
            "recall": recall(pred, truth), "hd95": hd95, "assd": assd}


def lung_probability(y_pred, head: str, channel: int = 0):
    """Map a model output to P(lung) of shape (..., H, W): works on NumPy arrays and tensors.
    ``channel``: the lung convention's channel of a sigmoid model with one per convention."""
    import keras.ops as ops

    if head == "softmax":
        return y_pred[..., 1]
    if head == "sigmoid":
        return y_pred[..., channel]
    if head == "logits":
        return ops.sigmoid(y_pred[..., 0])
    raise ValueError(f"unknown head {head!r}; expected softmax, sigmoid or logits")


def supervised_channel(y_true, y_pred):
    """(B, H, W, 1) P(lung) of the channel each image's data set supervises (``y_true[..., 1]``
    holds its index): a data set drawn in one convention never trains the other's channel."""
    import keras.ops as ops

    index = ops.cast(y_true[..., 1], "int32")
    chosen = ops.one_hot(index, ops.shape(y_pred)[-1], dtype=y_pred.dtype)
    return ops.sum(y_pred * chosen, axis=-1, keepdims=True)


def keras_metrics(head: str, lungs: int = 0) -> list:
    """Keras metrics (Dice and IoU of the lung class over a batch, threshold 0.5) for ``head``;
    ``lungs`` (>= 2): each image scored on the channel of its own convention."""
    import keras

    class _Overlap(keras.metrics.Metric):
        def __init__(self, kind: str, **kw):
            super().__init__(name=kind, **kw)
            self.kind = kind
            self.tp = self.add_weight(name="tp", initializer="zeros")
            self.fp = self.add_weight(name="fp", initializer="zeros")
            self.fn = self.add_weight(name="fn", initializer="zeros")

        def update_state(self, y_true, y_pred, sample_weight=None):
            ops = keras.ops
            y_pred = ops.cast(y_pred, "float32")
            if lungs:
                y_pred = supervised_channel(y_true, y_pred)
            pred = ops.cast(lung_probability(y_pred, head) > 0.5, "float32")
            truth = ops.cast(y_true[..., 0] > 0.5, "float32")
            self.tp.assign_add(ops.sum(pred * truth))
            self.fp.assign_add(ops.sum(pred * (1 - truth)))
            self.fn.assign_add(ops.sum((1 - pred) * truth))

        def result(self):
            ops = keras.ops
            num = 2 * self.tp if self.kind == "dice" else self.tp
            den = 2 * self.tp + self.fp + self.fn if self.kind == "dice" else self.tp + self.fp + self.fn
            return ops.where(den > 0, num / ops.maximum(den, 1e-9), 1.0)

    return [_Overlap("dice"), _Overlap("iou")]
