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


def _lungs(size=32):
    """A smooth synthetic film: a vertical gradient with two brighter lungs (the mask)."""
    yy, xx = np.mgrid[:size, :size] / size
    lung = (((yy - .5) ** 2 + (xx - .3) ** 2 < .04) | ((yy - .5) ** 2 + (xx - .7) ** 2 < .04)).astype("float32")
    return (0.3 + 0.3 * yy + 0.3 * lung).astype("float32")[..., None], lung[..., None]


def _high_frequency(image):
    """Mean squared difference of neighbouring pixels."""
    return float(np.mean(np.diff(image[..., 0], axis=0) ** 2) + np.mean(np.diff(image[..., 0], axis=1) ** 2))


def test_corruptions_off_leave_every_named_strength_as_it_was():
    """The draws of the version before corruptions: sums of its outputs (image, mask) for three
    seeds; "robust" with its corruptions off is "strong_opacity" to the bit."""
    from dataclasses import replace

    from lungseg_lib.core.augment import AUGMENTS

    img, lung = _lungs()
    before = {"default": [(500.474, 257), (553.9478, 240), (523.4885, 231)],
              "strong_opacity": [(461.9721, 257), (561.0219, 240), (519.9115, 231)]}
    off = replace(AUGMENTS["robust"], blur=0, noise=0, downscale=0, jpeg=0)
    for name, sums in before.items():
        for seed, (image_sum, mask_sum) in zip([(0, 1), (3, 9), (12345, 678)], sums):
            a, m = augment_pair(img, lung, np.array(seed), AUGMENTS[name])
            assert abs(float(a.numpy().sum()) - image_sum) < 1e-3 and m.numpy().sum() == mask_sum
            b, n = augment_pair(img, lung, np.array(seed), off if name == "strong_opacity" else Augment(
                noise_sigma_max=0.5, blur_sigma_max=3, downscale_min=0.5, jpeg_quality_min=50))
            assert np.array_equal(a.numpy(), b.numpy()) and np.array_equal(m.numpy(), n.numpy())


def test_robust_corrupts_the_image_alone_within_range_and_from_the_seed():
    from lungseg_lib.core.augment import AUGMENTS

    img, lung = _lungs()
    changed = 0
    for s in range(10):
        a, m = augment_pair(img, lung, np.array([s, 2]), AUGMENTS["robust"])
        b, n = augment_pair(img, lung, np.array([s, 2]), AUGMENTS["strong_opacity"])
        again, _ = augment_pair(img, lung, np.array([s, 2]), AUGMENTS["robust"])
        assert np.array_equal(m.numpy(), n.numpy())  # the mask is left alone
        assert 0 <= a.numpy().min() and a.numpy().max() <= 1
        assert np.array_equal(a.numpy(), again.numpy())  # a pure function of the seed
        changed += not np.array_equal(a.numpy(), b.numpy())
    assert changed >= 4  # each image is free of all four with probability 0.75 ** 4


def test_each_corruption_does_what_it_says():
    """Each alone with probability 1: noise raises the high-frequency energy, blur lowers it,
    downscaling makes blocks, JPEG changes the image; always within [0, 1]."""
    from lungseg_lib.engine.pipeline import corrupt

    img, _ = _lungs(64)
    img = img + np.linspace(0, 0.1, 64, dtype="float32")[:, None]  # no two neighbours alike
    hf = _high_frequency(img)
    equal_neighbours = lambda x: float(np.mean(np.diff(x[..., 0], axis=1) == 0))
    counts = {"noise": 0, "blur": 0, "downscale": 0, "jpeg": 0}
    for s in range(8):
        out = {name: corrupt(img, np.array([s, 5]), Augment(**{name: 1.0})).numpy() for name in counts}
        assert all(0 <= x.min() and x.max() <= 1 for x in out.values())
        counts["noise"] += _high_frequency(out["noise"]) > 1.5 * hf
        assert _high_frequency(out["blur"]) <= hf + 1e-7
        counts["blur"] += _high_frequency(out["blur"]) < 0.9 * hf
        assert equal_neighbours(out["downscale"]) >= equal_neighbours(img)
        counts["downscale"] += equal_neighbours(out["downscale"]) > 0.05
        counts["jpeg"] += np.abs(out["jpeg"] - img).mean() > 1e-3
    assert all(n >= 5 for n in counts.values()), counts


def test_corruptions_at_the_grids_parameters_match_the_grid():
    """At a severity's own parameter, blur, pixelation and JPEG come close to the perturbation
    grid's (OpenCV); noise has the grid's standard deviation."""
    from lungseg_lib.engine.pipeline import add_noise, downscale, gaussian_blur, jpeg
    from lungseg_lib.engine.perturbations import perturb

    img, _ = _lungs(64)
    for severity, k in [(4, 9), (5, 11)]:  # the grid truncates its kernel at k; ours at 3 sigma
        ours = gaussian_blur(img, 0.15 * k + 0.35, 1.8).numpy()
        assert np.abs(ours - perturb(img, "gaussian_blur", severity)).max() < 0.01
    for severity, factor in [(1, 0.3), (2, 0.25), (4, 0.15)]:
        ours = downscale(img, factor).numpy()
        assert np.abs(ours - perturb(img, "pixelate", severity)).max() < 1e-5
    blocks = downscale(img, 0.25).numpy()[..., 0].reshape(16, 4, 16, 4)
    assert np.ptp(blocks, axis=(1, 3)).max() == 0  # 4 x 4 blocks
    for severity, quality in [(1, 50), (4, 10)]:
        ours, grid = jpeg(img, quality).numpy(), perturb(img, "jpeg", severity)
        assert np.abs(ours - grid).mean() < 0.5 * np.abs(grid - img).mean()
    grey = np.full((64, 64, 1), 0.5, "float32")
    assert abs((add_noise(grey, 0.12, np.array([1, 2])).numpy() - 0.5).std() - 0.12) < 0.01


def test_robust_runs_inside_train_dataset_and_resumes():
    from lungseg_lib.core.augment import AUGMENTS

    img, lung = _lungs()
    x, y = np.stack([img] * 6), np.stack([lung] * 6)
    full = [[t.numpy() for t in b] for b in train_dataset(x, y, 4, 3, 0, 3, AUGMENTS["robust"])]
    resumed = [[t.numpy() for t in b] for b in train_dataset(x, y, 4, 3, 2, 3, AUGMENTS["robust"])]
    plain = [[t.numpy() for t in b] for b in train_dataset(x, y, 4, 3, 0, 3, AUGMENTS["strong_opacity"])]
    assert len(full) == 6 and all(np.array_equal(a[0], b[0]) for a, b in zip(full[4:], resumed))
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(full, plain))  # masks untouched
    assert any(not np.array_equal(a[0], b[0]) for a, b in zip(full, plain))
    assert all(0 <= a[0].min() and a[0].max() <= 1 for a in full)


def test_robust_is_a_valid_strength_and_augment_checks_its_ranges():
    import pytest

    from lungseg_lib.engine.config import resolve_config
    from lungseg_lib.engine.pipeline import augment_for

    assert augment_for(resolve_config("unet", "smoke", {"augment_strength": "robust"})).corrupts
    for bad in ({"noise": 1.5}, {"jpeg_quality_min": 0}, {"downscale_min": 0.0}):
        with pytest.raises(ValueError):
            Augment(**bad)
