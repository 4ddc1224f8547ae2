"""Load a trained run and predict lung masks: on arrays, on image files of any size, and on CT
volumes slice by slice (:func:`predict_volume`: a 2-D model's slice masks -> a 3-D lung mask)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np
import SimpleITK as sitk

from .. import files
from ..core.normalize import normalize
from ..core.postprocess import THRESHOLD, PostResult, keep_largest_components
from ..data.ct import PAPER_WINDOW, clip_hu, crop_or_pad, resample, to_png_array
from ..data.ct_io import check_hu, itk_message, read_volume
from ..data.imageio import to_unit_float
from ..errors import DataError
from ..files import replacing
from . import runfolder


class TrainedModel:
    """A run's model with what is needed to use it: head, input size, post-processing k.

    ``run_dir``: any model folder (see :mod:`lungseg_lib.engine.weights`): a run folder, an exported
    release folder, the default model's or a fetched one. ``fill_holes``: True or False to
    override the run's ``post_fill_holes`` (None: the run's)."""

    def __init__(self, run_dir: str | os.PathLike, fill_holes: bool | None = None):
        import keras

        from ..core.models import get_spec, register_custom_layers
        from .config import TrainConfig
        from .weights import weights_file

        register_custom_layers()

        self.run_dir = Path(run_dir)
        weights = weights_file(self.run_dir)  # model.keras, or the only *.keras (exported, fetched)
        self.config = TrainConfig.from_dict(files.read_json(self.run_dir / runfolder.CONFIG)["config"],
                                            f"{self.run_dir / runfolder.CONFIG}")
        self.head = get_spec(self.config.model).head
        self.size = self.config.image_size
        self.post_k = self.config.post_k
        self.fill_holes = self.config.post_fill_holes if fill_holes is None else bool(fill_holes)
        self.model = keras.models.load_model(weights, compile=False)

    def probability(self, images: np.ndarray, batch_size: int = 8) -> np.ndarray:
        """P(lung) maps (N, size, size) for images (N, size, size, 1) in [0, 1] (normalised first
        when the model was trained so: config ``normalize``)."""
        from ..core.metrics import lung_probability

        images = normalize(images, self.config.normalize)
        # predict_on_batch per batch: Keras' predict() adds tens of ms per call (its data
        # pipeline), which doubled the time of one image on 2 CPU cores; the outputs are the same.
        out = [self.model.predict_on_batch(images[i:i + batch_size])
               for i in range(0, len(images), batch_size)]
        return np.asarray(lung_probability(np.concatenate(out).astype(np.float32), self.head))

    def postprocess(self, mask: np.ndarray) -> PostResult:
        """The run's post-processing of one binary mask: its ``post_k`` largest components,
        with the holes inside them filled when :attr:`fill_holes` (config ``post_fill_holes``)."""
        return keep_largest_components(mask, self.post_k, self.fill_holes)


def overlay(image: np.ndarray, mask: np.ndarray, truth: np.ndarray | None = None,
            color=(0, 200, 255)) -> np.ndarray:
    """An 8-bit BGR picture of ``image`` with the mask's outline (and the truth's in green)."""
    gray = (to_unit_float(image) * 255).astype(np.uint8)
    out = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    thickness = max(1, round(max(image.shape) / 256))
    if truth is not None:
        contours, _ = cv2.findContours(truth.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(out, contours, -1, (0, 220, 0), thickness)
    tint = out.copy()
    tint[mask] = color
    out = cv2.addWeighted(out, 0.7, tint, 0.3, 0)
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, color, thickness)
    return out


def predict_ct_volume(run_dir, volume: str | os.PathLike, out: str | os.PathLike, post: bool = True,
                      *, window=(-125.0, 275.0), spacing=1.0, size: int = 256,
                      batch_size: int = 8) -> dict:
    """Segment a CT volume slice by slice with a trained 2-D run; write ``out/<stem>_mask.nii.gz``.

    ``run_dir`` is a run folder or a loaded :class:`TrainedModel`. Slices get the CT training
    preprocessing of :func:`predict_volume` (``window`` HU, ``spacing`` mm,
    ``size`` x ``size``); each is resized to the model's input size and back, thresholded at
    0.5 and, with ``post``, reduced to its ``post_k`` largest components. The mask volume has
    the input's geometry. Returns ``predict_volume``'s dict (``slices``, ``ms_per_slice``, ...).
    """
    from ..data.ct_io import volume_stem

    model = run_dir if isinstance(run_dir, TrainedModel) else TrainedModel(run_dir)

    def predict_slices(batch: np.ndarray) -> np.ndarray:
        n = model.size
        small = batch if n == size else np.stack(
            [cv2.resize(im, (n, n), interpolation=cv2.INTER_AREA) for im in batch[..., 0]])[..., None]
        prob = model.probability(small.astype(np.float32), batch_size=batch_size)
        masks = []
        for p in prob:
            m = (p if n == size else cv2.resize(p, (size, size), interpolation=cv2.INTER_LINEAR)) > THRESHOLD
            masks.append(model.postprocess(m).mask if post else m)
        return np.stack(masks).astype(np.uint8)

    out_path = Path(out) / f"{volume_stem(volume)}_mask.nii.gz"
    return predict_volume(predict_slices, volume, out_path, window=window, spacing=spacing,
                          size=size, batch_size=batch_size)


def predict_volume(predict_slices: Callable[[np.ndarray], np.ndarray], volume_path: str | os.PathLike,
                   out_path: str | os.PathLike, *, window: Sequence[float] = PAPER_WINDOW,
                   spacing: float | Sequence[float] = 1.0, size: int = 256,
                   batch_size: int = 8) -> dict:
    """Segment a CT volume with a 2-D model and write the lung mask with the input's geometry.

    The volume gets the training preprocessing (LPS, clip to ``window``, resample to
    ``spacing``, centre crop/pad to ``size``, windowed 8-bit levels / 255), and
    ``predict_slices(batch)`` (batch: float32 ``(n, size, size, 1)`` in [0, 1]) must return
    ``(n, size, size)`` masks (probabilities are thresholded at 0.5). The slice masks are
    un-cropped (outside the crop = no lung), stacked and resampled back (nearest) onto the
    input grid, and written atomically (NIfTI for ``.nii.gz``) as uint8 0/1. Returns
    ``{"slices", "ms_per_slice" (model time only), "seconds" (total), "out"}``.
    """
    start = time.perf_counter()
    volume_path, out_path = Path(volume_path), Path(out_path)
    original = read_volume(volume_path)
    check_hu(original, volume_path)
    image = resample(clip_hu(sitk.DICOMOrient(original, "LPS"), window), spacing)
    arr = sitk.GetArrayFromImage(image)
    nz, ny, nx = arr.shape
    result = np.zeros(arr.shape, np.uint8)
    model_s = 0.0
    for first in range(0, nz, batch_size):
        zs = range(first, min(first + batch_size, nz))
        batch = np.stack([to_png_array(crop_or_pad(arr[z], size, float(window[0])), window)
                          for z in zs]).astype(np.float32)[..., None] / 255.0
        t0 = time.perf_counter()
        pred = np.asarray(predict_slices(batch))
        model_s += time.perf_counter() - t0
        if pred.ndim == 4 and pred.shape[-1] == 1:
            pred = pred[..., 0]
        if pred.shape != (len(zs), size, size):
            raise ValueError(f"predict_slices returned shape {pred.shape}; "
                             f"expected {(len(zs), size, size)}")
        for z, p in zip(zs, pred):
            result[z] = crop_or_pad((p > THRESHOLD).astype(np.uint8), (ny, nx), 0)
    mask = sitk.GetImageFromArray(result)
    mask.CopyInformation(image)
    mask = sitk.Resample(mask, original, sitk.Transform(), sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
    try:
        with replacing(out_path) as tmp:
            sitk.WriteImage(mask, str(tmp), True)
    except RuntimeError as exc:
        raise DataError(f"{out_path}: cannot write mask ({itk_message(exc)})") from exc
    return {"slices": nz, "ms_per_slice": round(1000 * model_s / max(nz, 1), 3),
            "seconds": round(time.perf_counter() - start, 3), "out": str(out_path)}
