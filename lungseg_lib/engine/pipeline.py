"""tf.data input pipelines over images already decoded, resized and held in memory.

:func:`lungseg_lib.data.folders.load_arrays` decodes and resizes once (that is the cache); the
pipeline then shuffles, augments, batches and prefetches. Every random choice is a
stateless function of ``(seed, epoch, index)``, so a run resumed at epoch *e* sees exactly
the batches an uninterrupted run would have seen.

Augmentation (training only): small rotation, shift and scale (bilinear for the image,
nearest for the mask), brightness, contrast and gamma, optionally opacities painted inside
the lungs, and optionally corruptions of the image alone (blur, noise, a downsized copy, JPEG:
:func:`corrupt`); then, when the config asks for it, the input's normalisation (CLAHE). No left-right flip: the lungs are not mirror images of each other (heart,
diaphragm heights).
"""

from __future__ import annotations

import math
import numpy as np
import tensorflow as tf

from ..core.augment import AUGMENTS, CORRUPTIONS, OPACITY_DENSITY, OPACITY_GRID, OPACITY_LEVEL, Augment
from ..core.normalize import normalize as normalize_images


def augment_for(config) -> Augment | None:
    """The augmentation of a :class:`~lungseg_lib.engine.config.TrainConfig` (None when
    ``augment`` is off; its ``augment_strength`` is one of :data:`AUGMENTS`, checked there)."""
    return AUGMENTS[config.augment_strength] if config.augment else None


def _affine(seed, size: int, aug: Augment):
    """A projective-transform vector (8 numbers) mapping output to input coordinates."""
    u = tf.random.stateless_uniform([4], seed=seed, minval=-1.0, maxval=1.0)
    angle = u[0] * aug.rotation_deg * math.pi / 180
    scale = 1.0 + u[1] * aug.scale
    tx, ty = u[2] * aug.shift * size, u[3] * aug.shift * size
    c = (size - 1) / 2
    cos, sin = tf.cos(angle) / scale, tf.sin(angle) / scale
    # rotate/scale about the centre, then shift
    a0, a1, b0, b1 = cos, -sin, sin, cos
    a2 = c - a0 * c - a1 * c + tx
    b2 = c - b0 * c - b1 * c + ty
    return tf.stack([a0, a1, a2, b0, b1, b2, 0.0, 0.0])


def paint_opacity(image, mask, seed):
    """Paint smooth opacities (towards white) inside the lung ``mask``, fading just outside its
    outline; the mask stays as it is: lung that pneumonia or fluid has made opaque is still lung.
    A pure function of ``seed``."""
    size = image.shape[0]
    seeds = tf.random.experimental.stateless_split(seed, 2)
    field = tf.random.stateless_uniform([1, OPACITY_GRID, OPACITY_GRID, 1], seed=seeds[0])
    field = tf.image.resize(field, [size, size], method="bicubic")[0]
    u = tf.random.stateless_uniform([2], seed=seeds[1])
    level = OPACITY_LEVEL[0] + u[0] * (OPACITY_LEVEL[1] - OPACITY_LEVEL[0])
    density = OPACITY_DENSITY[0] + u[1] * (OPACITY_DENSITY[1] - OPACITY_DENSITY[0])
    lung = tf.cast(mask > 0.5, image.dtype)
    # full inside the lung, fading over a few pixels outside it: no sharp edge on the lung's
    # outline, which an opaque lung in a real film does not show either
    width = max(3, size // 32 + 1)  # grow by, then blur over, about 1/64 and 1/32 of the image
    soft = tf.nn.max_pool2d(lung[None], ksize=width // 2 * 2 + 1, strides=1, padding="SAME")
    for _ in range(2):  # two box blurs: close to a Gaussian
        soft = tf.nn.avg_pool2d(soft, ksize=width, strides=1, padding="SAME")
    lung = tf.maximum(lung, soft[0])
    blob = tf.clip_by_value((field - level) / 0.1, 0.0, 1.0) * lung
    return image + density * blob * (1.0 - image)


def augment_pair(image, mask, seed, aug: Augment = Augment()):
    """Apply one random augmentation, a pure function of the 2-element ``seed``."""
    size = image.shape[0]
    seeds = tf.random.experimental.stateless_split(seed, 3)
    transform = _affine(seeds[0], size, aug)[None]
    warp = lambda x, how: tf.raw_ops.ImageProjectiveTransformV3(
        images=x[None], transforms=transform, output_shape=[size, size], interpolation=how,
        fill_mode="NEAREST", fill_value=0.0)[0]
    image, mask = warp(image, "BILINEAR"), warp(mask, "NEAREST")
    u = tf.random.stateless_uniform([3], seed=seeds[1], minval=-1.0, maxval=1.0)
    mean = tf.reduce_mean(image)
    image = (image - mean) * (1 + u[1] * aug.contrast) + mean + u[0] * aug.brightness
    image = tf.clip_by_value(image, 0.0, 1.0) ** tf.exp(u[2] * aug.gamma)
    if aug.opacity > 0:  # seeds[2] was unused before opacities: the other draws stay as they were
        opacity_seeds = tf.random.experimental.stateless_split(seeds[2], 2)
        draw = tf.random.stateless_uniform([], seed=opacity_seeds[0])
        image = tf.cond(draw < aug.opacity, lambda: paint_opacity(image, mask, opacity_seeds[1]), lambda: image)
    if aug.corrupts:  # the third branch of seeds[2], whose first two (a split's first rows do not
        # depend on how many follow) the opacities take: every other draw stays as it was
        image = corrupt(image, tf.random.experimental.stateless_split(seeds[2], 3)[2], aug)
    return image, mask


def corrupt(image, seed, aug: Augment):
    """``image`` in [0, 1] with each corruption of ``aug`` applied with its probability, in the
    order of :data:`~lungseg_lib.core.augment.CORRUPTIONS`, each its strength drawn uniformly
    up to its maximum; clipped to [0, 1]. A pure function of ``seed``, each corruption drawing
    from its own branch of it."""
    apply = {"blur": lambda x, u, s: gaussian_blur(x, u * aug.blur_sigma_max, aug.blur_sigma_max),
             "noise": lambda x, u, s: add_noise(x, u * aug.noise_sigma_max, s),
             "downscale": lambda x, u, s: downscale(x, 1.0 - u * (1.0 - aug.downscale_min)),
             "jpeg": lambda x, u, s: jpeg(x, 100.0 - u * (100.0 - aug.jpeg_quality_min))}
    seeds = tf.random.experimental.stateless_split(seed, len(CORRUPTIONS))
    for k, name in enumerate(CORRUPTIONS):
        probability = getattr(aug, name)
        if probability > 0:
            own = tf.random.experimental.stateless_split(seeds[k], 2)
            u = tf.random.stateless_uniform([2], seed=own[0])  # whether, and how strong
            out = tf.cond(u[0] < probability, lambda: apply[name](image, u[1], own[1]), lambda: image)
            out.set_shape(image.shape)
            image = out
    return tf.clip_by_value(image, 0.0, 1.0)


def gaussian_blur(image, sigma, sigma_max: float):
    """``image`` (H, W, C) blurred by a Gaussian of ``sigma`` px (a tensor), separably; the
    kernel reaches 3 ``sigma_max`` (a Python number: a fixed size) and the border is mirrored
    (edge included), as the perturbation grid's blur does."""
    radius = max(1, math.ceil(3 * sigma_max))
    x = tf.range(-radius, radius + 1, dtype=tf.float32)
    taps = tf.exp(-0.5 * tf.square(x / tf.maximum(tf.cast(sigma, tf.float32), 1e-3)))
    taps /= tf.reduce_sum(taps)
    channels = image.shape[-1]
    column = tf.tile(tf.reshape(taps, [-1, 1, 1, 1]), [1, 1, channels, 1])
    padded = tf.pad(image[None], [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode="SYMMETRIC")
    out = tf.nn.depthwise_conv2d(padded, column, [1, 1, 1, 1], "VALID")
    out = tf.nn.depthwise_conv2d(out, tf.transpose(column, [1, 0, 2, 3]), [1, 1, 1, 1], "VALID")
    return out[0]


def add_noise(image, sigma, seed):
    """``image`` plus Gaussian noise of standard deviation ``sigma``, clipped to [0, 1]."""
    noise = tf.random.stateless_normal(tf.shape(image), seed=seed, dtype=image.dtype)
    return tf.clip_by_value(image + sigma * noise, 0.0, 1.0)


def downscale(image, factor):
    """``image`` resized down by ``factor`` (area) and back up (nearest, each output pixel from
    the small pixel its corner falls in): the grid's pixelation (OpenCV's area and nearest)."""
    size = tf.shape(image)[:2]
    small = tf.maximum(1, tf.cast(tf.cast(size, tf.float32) * factor, tf.int32))
    small = tf.image.resize(image, small, method="area")
    out = tf.raw_ops.ResizeNearestNeighbor(images=small[None], size=size, align_corners=False,
                                           half_pixel_centers=False)[0]
    return tf.cast(out, image.dtype)


def jpeg(image, quality):
    """``image`` in [0, 1] through a JPEG encoding of ``quality`` (rounded; 8-bit) and back."""
    quality = tf.cast(tf.round(quality), tf.int32)
    out = tf.image.adjust_jpeg_quality(tf.clip_by_value(image, 0.0, 1.0), quality)
    out.set_shape(image.shape)
    return out


def train_dataset(images: np.ndarray, masks: np.ndarray, batch_size: int, seed: int,
                  start_epoch: int, epochs: int, augment: Augment | None = Augment(),
                  normalize: str | None = None, steps: int | None = None) -> tf.data.Dataset:
    """Batches for epochs ``start_epoch .. epochs-1``; ``normalize`` (:mod:`lungseg_lib.core.normalize`)
    applies to each image after augmentation. ``masks`` (N, H, W, 1), or (N, H, W, 2) with the
    supervised lung channel's index as the second channel (left as it is by augmentation).

    The batches are one stream of passes over the data, each pass reshuffled and re-augmented
    (seeded by the pass's number); an epoch is ``steps`` batches of it (default: one pass,
    :func:`steps_per_epoch`), so an epoch shorter than a pass goes on where the last one stopped.
    Use with ``model.fit(..., initial_epoch=start_epoch, epochs=epochs, steps_per_epoch=steps)``.
    """
    n = len(images)
    images_t, masks_t = tf.constant(images), tf.constant(masks)
    per_pass = steps_per_epoch(n, batch_size)
    steps = steps or per_pass
    first, last = start_epoch * steps, epochs * steps  # batches of the stream, counted from 0

    def one_pass(epoch):
        order = tf.random.experimental.stateless_shuffle(tf.range(n, dtype=tf.int64), seed=[seed, epoch])
        ds = tf.data.Dataset.from_tensor_slices(order)

        def load(i):
            image, target = tf.gather(images_t, i), tf.gather(masks_t, i)
            mask, channel = target[..., :1], target[..., 1:]  # channel: the supervised convention's, if any
            if augment is not None:
                image, mask = augment_pair(image, mask, tf.stack([seed + 1000003 * epoch, i]), augment)
            mask = tf.concat([mask, channel], axis=-1)
            if normalize is not None:
                shape = image.shape
                image = tf.numpy_function(lambda x: normalize_images(x, normalize), [image], tf.float32, stateful=False)
                image.set_shape(shape)
            return image, mask

        return ds.map(load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).batch(batch_size)

    passes = tf.data.Dataset.range(first // per_pass, math.ceil(last / per_pass))
    return passes.flat_map(one_pass).skip(first % per_pass).take(last - first).prefetch(tf.data.AUTOTUNE)


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Number of batches per epoch (the last one may be smaller)."""
    return math.ceil(n / batch_size)


def eval_dataset(images: np.ndarray, masks: np.ndarray, batch_size: int) -> tf.data.Dataset:
    """Unshuffled, unaugmented batches for validation and evaluation."""
    return tf.data.Dataset.from_tensor_slices((images, masks)).batch(batch_size).prefetch(tf.data.AUTOTUNE)
