"""Load a trained model and predict lung masks: the one prediction path
(:meth:`TrainedModel.predict`: to the model's square input, P(lung), back to the image's size,
threshold, post-processing), used by the API and ``lungseg predict``, evaluation, the
perturbation grid and CT volumes (:func:`predict_volume`: a 2-D model's slice masks -> a 3-D
lung mask); and the one overlay picture of a mask or of right/left lung labels."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import SimpleITK as sitk

from .. import files
from ..core.normalize import normalize
from ..core.postprocess import THRESHOLD, PostResult, keep_largest_components
from ..data.ct import PAPER_WINDOW, clip_hu, crop_or_pad, resample, to_png_array
from ..data.conventions import DEFAULT_CONVENTION, DESCRIPTIONS, check_convention, convention_of
from ..data.ct_io import check_hu, itk_message, read_volume
from ..data.imageio import from_square, to_square, to_unit
from ..errors import DataError
from ..files import replacing
from . import runfolder
from .lungs import LEFT, RIGHT

RIGHT_COLOR, LEFT_COLOR = (0, 140, 255), (255, 180, 0)  # BGR: orange (right lung), blue (left lung)
MASK_COLOR, TRUTH_COLOR = (0, 200, 255), (0, 220, 0)  # BGR: a mask without sides; the truth's outline


@dataclass
class Prediction:
    """One image's prediction at the image's own size: ``probability`` P(lung), ``raw`` (above
    :data:`~lungseg_lib.core.postprocess.THRESHOLD`) and ``post`` (the model's post-processing
    of ``raw``; None when it was not asked for)."""

    probability: np.ndarray
    raw: np.ndarray
    post: PostResult | None = None

    @property
    def mask(self) -> np.ndarray:
        """The final mask: post-processed when it was, else the raw one."""
        return self.raw if self.post is None else self.post.mask


class TrainedModel:
    """A run's model with what is needed to use it: head, input size, post-processing k.

    ``run_dir``: any model folder (see :mod:`lungseg_lib.engine.weights`): a run folder, an exported
    release folder, the default model's or a fetched one. ``fill_holes``: True or False to
    override the run's ``post_fill_holes`` (None: the run's). ``lung``: the convention a model
    with one channel per convention draws when not told otherwise (None: the whole lung; a
    model with one lung output draws its own, whatever ``lung`` says)."""

    def __init__(self, run_dir: str | os.PathLike, fill_holes: bool | None = None, lung: str | None = None):
        import keras

        from ..core.models import get_spec, register_custom_layers
        from .config import TrainConfig

        register_custom_layers()

        self.run_dir = Path(run_dir)
        weights = runfolder.weights_file(self.run_dir)  # model.keras, or the only *.keras (exported, fetched)
        record = files.read_json(self.run_dir / runfolder.CONFIG)
        self.config = TrainConfig.from_dict(record["config"], f"{self.run_dir / runfolder.CONFIG}")
        self.head = "sigmoid" if self.config.lungs else get_spec(self.config.model).head
        #: the lung conventions it draws: one channel each, or the one of its data set (if known)
        self.lungs = self.config.lungs or tuple(filter(None, [convention_of(Path(str(record.get("data_root", ""))).name)]))
        self.lung = check_convention(lung) if lung and self.config.lungs else None
        self.size = self.config.image_size
        self.post_k = self.config.post_k
        self.fill_holes = self.config.post_fill_holes if fill_holes is None else bool(fill_holes)
        self.model = keras.models.load_model(weights, compile=False)

    def channel(self, lung: str | None = None) -> int:
        """The output channel of the lung convention ``lung`` (None: the model's default, the
        whole lung when it draws both); ValueError naming what the model draws otherwise."""
        lung = lung or self.lung
        if lung is None:
            return self.lungs.index(DEFAULT_CONVENTION) if DEFAULT_CONVENTION in self.config.lungs else 0
        check_convention(lung)
        if lung not in self.lungs and (self.config.lungs or self.lungs):
            raise ValueError(f"this model draws {' and '.join(self.lungs)} lungs only ({DESCRIPTIONS[self.lungs[0]]}); "
                             f"it cannot draw the {lung} lung")
        return self.lungs.index(lung) if self.config.lungs else 0

    def probability(self, images: np.ndarray, batch_size: int = 8, lung: str | None = None) -> np.ndarray:
        """P(lung) maps (N, size, size) for images (N, size, size, 1) in [0, 1] (normalised first
        when the model was trained so: config ``normalize``), of the convention ``lung``."""
        from ..core.metrics import lung_probability

        channel = self.channel(lung)
        images = normalize(images, self.config.normalize)
        # predict_on_batch per batch: Keras' predict() adds tens of ms per call (its data
        # pipeline), which doubled the time of one image on 2 CPU cores; the outputs are the same.
        out = [self.model.predict_on_batch(images[i:i + batch_size])
               for i in range(0, len(images), batch_size)]
        return np.asarray(lung_probability(np.concatenate(out).astype(np.float32), self.head, channel))

    def postprocess(self, mask: np.ndarray) -> PostResult:
        """The run's post-processing of one binary mask: its ``post_k`` largest components,
        with the holes inside them filled when :attr:`fill_holes` (config ``post_fill_holes``)."""
        return keep_largest_components(mask, self.post_k, self.fill_holes)

    def predict(self, images, batch_size: int = 8, post: bool = True, lung: str | None = None) -> list[Prediction]:
        """Predict images of any size: a sequence of 2-D float arrays in [0, 1] (or an array
        ``(N, h, w[, 1])``). Each is brought to the model's square input by the rule it was
        trained with (config ``square``; :func:`~lungseg_lib.data.imageio.to_square`), its P(lung)
        map taken back to the image's size (:func:`~lungseg_lib.data.imageio.from_square`),
        thresholded and, with ``post``, post-processed. ``lung``: the convention to draw
        (:meth:`channel`)."""
        images = [np.asarray(im, np.float32)[..., 0] if np.ndim(im) == 3 else np.asarray(im, np.float32)
                  for im in images]
        if not images:
            return []
        how = self.config.square  # the rule the model was trained with
        batch = np.stack([to_square(im, self.size, how) for im in images])[..., None]
        out = []
        for im, p in zip(images, self.probability(batch, batch_size, lung)):
            prob = from_square(p, im.shape, how)
            raw = prob > THRESHOLD
            out.append(Prediction(prob, raw, self.postprocess(raw) if post else None))
        return out


def overlay(image: np.ndarray, mask: np.ndarray, truth: np.ndarray | None = None,
            legend: str | None = None) -> np.ndarray:
    """An 8-bit BGR picture of ``image`` with ``mask`` tinted and outlined: a bool mask in one
    colour, a label image (:data:`~lungseg_lib.engine.lungs.RIGHT`/``LEFT``) with the right lung
    in orange, the left in blue and the letters R and L; ``truth`` outlined in green;
    ``legend`` written in the top-left corner."""
    gray = image if image.dtype == np.uint8 else (to_unit(image) * 255).astype(np.uint8)
    out = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    thickness = max(1, round(max(image.shape) / 256))
    if truth is not None:
        contours, _ = cv2.findContours(truth.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(out, contours, -1, TRUTH_COLOR, thickness)
    parts = ([(mask, MASK_COLOR, "")] if mask.dtype == bool else
             [(mask == RIGHT, RIGHT_COLOR, "R"), (mask == LEFT, LEFT_COLOR, "L")])
    tint = out.copy()
    for part, color, _ in parts:
        tint[part] = color
    out = cv2.addWeighted(out, 0.7, tint, 0.3, 0)
    for part, color, letter in parts:
        if part.any():
            _outline(out, part, color, letter, thickness)
    if legend:
        scale = max(0.35, max(image.shape) / 1400)
        (_, th), _ = cv2.getTextSize(legend, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        cv2.putText(out, legend, (4, 4 + th), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3 * thickness, cv2.LINE_AA)
        cv2.putText(out, legend, (4, 4 + th), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return out


def _outline(out: np.ndarray, part: np.ndarray, color, letter: str, thickness: int) -> None:
    """Draw ``part``'s outline on ``out`` in place, with ``letter`` at its centre when given."""
    contours, _ = cv2.findContours(part.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(out, contours, -1, color, thickness)
    if letter:
        ys, xs = np.nonzero(part)
        scale = max(part.shape) / 400
        (tw, th), _ = cv2.getTextSize(letter, cv2.FONT_HERSHEY_SIMPLEX, scale, 2 * thickness)
        org = (int(xs.mean() - tw / 2), int(ys.mean() + th / 2))
        cv2.putText(out, letter, org, cv2.FONT_HERSHEY_SIMPLEX, scale, color, 2 * thickness, cv2.LINE_AA)


def predict_ct_volume(run_dir, volume: str | os.PathLike, out: str | os.PathLike, post: bool = True,
                      *, window=(-125.0, 275.0), spacing=1.0, size: int = 256,
                      batch_size: int = 8) -> dict:
    """Segment a CT volume slice by slice with a trained 2-D run; write ``out/<stem>_mask.nii.gz``.

    ``run_dir`` is a run folder or a loaded :class:`TrainedModel`. Slices get the CT training
    preprocessing of :func:`predict_volume` (``window`` HU, ``spacing`` mm,
    ``size`` x ``size``); each goes through :meth:`TrainedModel.predict` (the model's input size
    and back, the threshold) and, with ``post``, reduced to its ``post_k`` largest components. The mask volume has
    the input's geometry. Returns ``predict_volume``'s dict (``slices``, ``ms_per_slice``, ...).
    """
    from ..data.ct_io import volume_stem

    model = run_dir if isinstance(run_dir, TrainedModel) else TrainedModel(run_dir)

    def predict_slices(batch: np.ndarray) -> np.ndarray:
        return np.stack([p.mask for p in model.predict(batch, batch_size, post)]).astype(np.uint8)

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
    ``(n, size, size)`` masks (probabilities are thresholded at
    :data:`~lungseg_lib.core.postprocess.THRESHOLD`). The slice masks are
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
