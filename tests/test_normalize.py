"""The input's normalisation (CLAHE): what it does to an image, and that training and
prediction both apply it when a config asks for it."""

import numpy as np
import pytest

from lungseg_lib.core.normalize import clahe, normalize
from lungseg_lib.engine.pipeline import train_dataset


def _xray(size=64):
    """A smooth synthetic film: two darker 'lungs' on a brighter body, some texture."""
    yy, xx = np.mgrid[:size, :size] / size
    body = 0.55 + 0.2 * np.cos(3 * xx) * np.sin(2 * yy)
    lungs = ((xx - 0.3) ** 2 / 0.02 + (yy - 0.5) ** 2 / 0.08 < 1) | ((xx - 0.7) ** 2 / 0.02 + (yy - 0.5) ** 2 / 0.08 < 1)
    rng = np.random.default_rng(0)
    return np.clip(body - 0.3 * lungs + 0.03 * rng.standard_normal((size, size)), 0, 1).astype(np.float32)


def test_clahe_brings_a_darkened_and_a_flattened_film_closer_to_the_original():
    x = _xray()
    for shifted in (0.5 * x, 0.5 + 0.4 * (x - 0.5)):  # darker; lower contrast
        before = np.abs(shifted - x).mean()
        after = np.abs(clahe(shifted) - clahe(x)).mean()
        assert after < 0.9 * before, (before, after)  # closer, not equal: the clip limit caps it


def test_normalize_keeps_shapes_and_range_and_none_is_the_identity():
    x = _xray()
    batch = np.stack([x, 0.5 * x])[..., None]
    out = normalize(batch, "clahe")
    assert out.shape == batch.shape and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0
    assert np.array_equal(out[1], clahe(batch[1]))
    assert normalize(x[..., None], "clahe").shape == (64, 64, 1)
    assert normalize(batch, None) is batch
    with pytest.raises(ValueError, match="valid: none, clahe"):
        normalize(batch, "zscore")


def test_training_batches_are_normalised_after_augmentation():
    x = np.stack([_xray(), 0.6 * _xray()])[..., None]
    y = (x > 0.5).astype(np.float32)
    plain = [b[0].numpy() for b in train_dataset(x, y, 2, seed=3, start_epoch=0, epochs=2)]
    normed = [b[0].numpy() for b in train_dataset(x, y, 2, seed=3, start_epoch=0, epochs=2, normalize="clahe")]
    for a, b in zip(plain, normed):
        assert np.allclose(normalize(a, "clahe"), b, atol=1e-6)
