"""The tf.data pipeline: shapes, reproducibility from a seed, resume-consistency, augmentation."""

import numpy as np

from lungseg_lib.core.augment import Augment
from lungseg_lib.engine.pipeline import augment_pair, eval_dataset, steps_per_epoch, train_dataset


def _arrays(n=10, size=32):
    rng = np.random.default_rng(0)
    x = rng.random((n, size, size, 1)).astype("float32")
    return x, (x > 0.5).astype("float32")


def test_batches_and_steps():
    x, y = _arrays()
    batches = list(train_dataset(x, y, 4, seed=0, start_epoch=0, epochs=2))
    assert len(batches) == 2 * steps_per_epoch(10, 4) == 6
    assert batches[0][0].shape == (4, 32, 32, 1) and batches[2][0].shape == (2, 32, 32, 1)
    assert len(list(eval_dataset(x, y, 4))) == 3


def test_same_seed_same_batches_and_resume_matches():
    x, y = _arrays()
    full = [b[0].numpy() for b in train_dataset(x, y, 4, 7, 0, 3)]
    again = [b[0].numpy() for b in train_dataset(x, y, 4, 7, 0, 3)]
    resumed = [b[0].numpy() for b in train_dataset(x, y, 4, 7, 2, 3)]
    other = [b[0].numpy() for b in train_dataset(x, y, 4, 8, 0, 3)]
    assert all(np.array_equal(a, b) for a, b in zip(full, again))
    assert all(np.array_equal(a, b) for a, b in zip(full[6:], resumed))
    assert not np.array_equal(full[0], other[0])
    assert not np.array_equal(full[0], full[3])  # epochs differ


def test_augmentation_keeps_mask_binary_and_aligned():
    size = 64
    yy, xx = np.mgrid[:size, :size]
    disk = (((yy - 32) ** 2 + (xx - 28) ** 2) < 12 ** 2).astype("float32")[..., None]
    img = 0.2 + 0.6 * disk
    for s in range(5):
        a, m = augment_pair(img, disk, np.array([s, 1]), Augment(rotation_deg=10, shift=0.1))
        a, m = a.numpy(), m.numpy()
        assert set(np.unique(m)) <= {0.0, 1.0}
        assert abs(m.sum() - disk.sum()) / disk.sum() < 0.25
        # the bright region of the augmented image is where the mask is
        assert a[m > 0].mean() > a[m == 0].mean() + 0.3
    a, m = augment_pair(img, disk, np.array([0, 0]), Augment(0, 0, 0, 0, 0, 0))
    assert np.allclose(a.numpy(), img, atol=1e-5) and np.array_equal(m.numpy(), disk)


def test_opacities_are_painted_in_and_just_around_the_lungs_and_leave_the_mask():
    from scipy import ndimage

    from lungseg_lib.engine.pipeline import paint_opacity

    size = 64
    yy, xx = np.mgrid[:size, :size]
    disk = (((yy - 32) ** 2 + (xx - 28) ** 2) < 14 ** 2).astype("float32")[..., None]
    img = (0.2 + 0.1 * disk).astype("float32")
    changed = 0
    for s in range(8):
        out = paint_opacity(img, disk, np.array([s, 3])).numpy()
        far = ndimage.distance_transform_edt(disk[..., 0] == 0)[..., None] > size / 8
        assert np.array_equal(out[far], img[far])  # nothing away from the lung
        assert (out >= img - 1e-7).all() and out.max() <= 1.0  # only towards white
        changed += (out[disk > 0] > img[disk > 0] + 0.05).any()
        again = paint_opacity(img, disk, np.array([s, 3])).numpy()
        assert np.array_equal(out, again)  # a pure function of the seed
    assert changed >= 4


def test_opacity_switch_leaves_the_other_draws_as_they_were():
    size = 32
    img = np.random.default_rng(0).random((size, size, 1)).astype("float32")
    mask = np.zeros_like(img)  # no lung: painting changes nothing
    a, _ = augment_pair(img, mask, np.array([5, 7]), Augment())
    b, _ = augment_pair(img, mask, np.array([5, 7]), Augment(opacity=1.0))
    assert np.array_equal(a.numpy(), b.numpy())


def test_short_epochs_walk_on_through_the_passes_and_resume_where_they_stopped():
    """``steps`` batches per epoch (Keras' steps_per_epoch) continue the stream of passes: 5
    epochs of 2 batches are the first 10 batches of the full-pass stream, and a run resumed at
    epoch 3 sees the same batches from there."""
    x, y = _arrays()
    passes = [b[0].numpy() for b in train_dataset(x, y, 4, 7, 0, 4)]  # 4 passes of 3 batches
    short = [b[0].numpy() for b in train_dataset(x, y, 4, 7, 0, 5, steps=2)]
    resumed = [b[0].numpy() for b in train_dataset(x, y, 4, 7, 3, 5, steps=2)]
    assert len(short) == 10 and len(resumed) == 4
    assert all(np.array_equal(a, b) for a, b in zip(passes[:10], short))
    assert all(np.array_equal(a, b) for a, b in zip(short[6:], resumed))
