"""Batch transforms: exact values on hand-picked inputs, and the invariants of the random ones."""

import numpy as np
import pytest

from minidl.data import transforms as T


def batch(n=6, c=3, h=5, w=4, seed=0):
    return np.random.default_rng(seed).random((n, c, h, w)).astype(np.float32)


def test_normalize_per_channel():
    images = np.stack([np.full((2, 2), 0.5), np.full((2, 2), 1.0)])[None].astype(np.float32)
    out = T.Normalize(mean=[0.5, 0.0], std=[0.25, 2.0])(images, None)
    np.testing.assert_array_equal(out[0, 0], 0.0)
    np.testing.assert_array_equal(out[0, 1], 0.5)
    assert out.dtype == np.float32


def test_normalize_checks_channels_and_std():
    with pytest.raises(ValueError, match="mean/std have 3 channels but the images .* have 2"):
        T.Normalize([0.1, 0.2, 0.3], [1, 1, 1])(batch(c=2), None)
    with pytest.raises(ValueError, match="std must be > 0"):
        T.Normalize([0.0], [0.0])


def test_random_crop_without_padding_at_full_size_is_identity():
    images = batch()
    np.testing.assert_array_equal(T.RandomCrop((5, 4))(images, np.random.default_rng(0)), images)


def test_random_crop_is_a_window_of_the_zero_padded_image():
    images = batch(n=20, c=2, h=6, w=6, seed=1)
    out = T.RandomCrop(6, padding=2)(images, np.random.default_rng(3))
    padded = np.pad(images, ((0, 0), (0, 0), (2, 2), (2, 2)))
    offsets = set()
    for i in range(len(images)):
        matches = [(dy, dx) for dy in range(5) for dx in range(5)
                   if np.array_equal(padded[i, :, dy:dy + 6, dx:dx + 6], out[i])]
        assert matches, f"image {i} is not a window of its padded original"
        offsets.add(matches[0])
    assert len(offsets) > 5  # images draw their own offsets


def test_random_crop_too_big():
    with pytest.raises(ValueError, match="a 9x9 crop does not fit images"):
        T.RandomCrop(9, padding=1)(batch(h=5, w=5), np.random.default_rng(0))


def test_flip_probability_one_and_zero():
    images = batch()
    np.testing.assert_array_equal(T.RandomHorizontalFlip(1.0)(images, np.random.default_rng(0)), images[..., ::-1])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(0.0)(images, np.random.default_rng(0)), images)


def test_flip_flips_about_half_and_each_image_whole():
    images = batch(n=200, c=1, h=2, w=3)
    out = T.RandomHorizontalFlip()(images, np.random.default_rng(0))
    flipped = [np.array_equal(o, i[..., ::-1]) for o, i in zip(out, images)]
    kept = [np.array_equal(o, i) for o, i in zip(out, images)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 70 < sum(flipped) < 130


def test_color_jitter_brightness_scales_by_a_factor_in_range():
    images = np.full((50, 3, 2, 2), 0.5, np.float32)
    out = T.ColorJitter(brightness=0.4)(images, np.random.default_rng(0))
    factors = out[:, 0, 0, 0] / 0.5
    assert (factors >= 0.6 - 1e-6).all() and (factors <= 1.4 + 1e-6).all() and factors.std() > 0.1
    np.testing.assert_allclose(out, factors[:, None, None, None] * 0.5 * np.ones_like(out), rtol=1e-6)


def test_color_jitter_contrast_keeps_the_mean_grey_and_saturation_keeps_grey_pixels():
    images = batch(n=10, seed=2) * 0.5 + 0.25  # in [0.25, 0.75]: no clipping at strength 0.3
    out = T.ColorJitter(contrast=0.3)(images, np.random.default_rng(1))
    luma = np.array([0.299, 0.587, 0.114], np.float32)[None, :, None, None]
    np.testing.assert_allclose((out * luma).sum(1).mean((1, 2)), (images * luma).sum(1).mean((1, 2)), rtol=1e-5)
    grey = np.repeat(images[:, :1], 3, axis=1)
    np.testing.assert_allclose(T.ColorJitter(saturation=0.9)(grey, np.random.default_rng(0)), grey, rtol=1e-5)


def test_color_jitter_stays_in_unit_range_and_works_on_one_channel():
    out = T.ColorJitter(0.9, 0.9, 0.9)(batch(n=30, c=1), np.random.default_rng(0))
    assert out.shape == (30, 1, 5, 4) and out.min() >= 0 and out.max() <= 1


@pytest.mark.parametrize("transform", [
    T.RandomCrop(4, padding=2), T.RandomHorizontalFlip(), T.ColorJitter(0.5, 0.5, 0.5),
    T.Normalize([0.5] * 3, [0.3] * 3),
])
def test_same_generator_same_result_and_input_untouched(transform):
    images = batch(h=4, w=4)
    copy = images.copy()
    a = transform(images, np.random.default_rng(5))
    b = transform(images, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(images, copy)
    assert a.dtype == np.float32


def test_compose_applies_in_order():
    images = np.array([[[[0.0, 1.0]]]], np.float32)
    flip_then_normalize = T.Compose([T.RandomHorizontalFlip(1.0), T.Normalize([1.0], [1.0])])
    np.testing.assert_array_equal(flip_then_normalize(images, np.random.default_rng(0)), [[[[0.0, -1.0]]]])
