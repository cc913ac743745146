"""Batch transforms: normalisation and the lecture's augmentations.

A transform is called as ``transform(images, rng)`` on a whole batch: float32
images (N, C, H, W) with values in [0, 1] (the DataLoader scales uint8 pixels
by 1/255, as torchvision's ToTensor does), and ``rng``, a
numpy.random.Generator the DataLoader makes for this one batch from
(seed, epoch, batch index). Each image draws its own random crop, flip and
jitter from ``rng``, so a batch's augmentation depends only on its seed: the
same on every run, and on a run resumed from a checkpoint. Transforms return
a new array and never change their input.

The augmentations follow AlexNet's (the lecture's "flipping, jittering,
cropping, color normalization"): random crops of a zero-padded image,
horizontal flips, and colour jitter of brightness, contrast and saturation.
Put them before Normalize, so padding and jitter act on [0, 1] pixels.

>>> import numpy as np
>>> t = Compose([RandomHorizontalFlip(p=1.0), Normalize(mean=[0.5], std=[0.5])])
>>> t(np.array([[[[0.0, 1.0]]]], np.float32), np.random.default_rng(0))
array([[[[ 1., -1.]]]], dtype=float32)
"""

import numpy as np


def _per_channel(values, name, op):
    values = np.asarray(values, dtype=np.float32).reshape(-1)
    if values.size == 0:
        raise ValueError(f"{op}: {name} needs at least one value")
    return values.reshape(1, -1, 1, 1)


def _check_batch(images, op):
    if not isinstance(images, np.ndarray) or images.ndim != 4:
        raise ValueError(f"{op}: expected a batch of images (N, C, H, W), got {getattr(images, 'shape', type(images))}")


class Compose:
    """Apply transforms in order, passing the batch's generator to each."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, images, rng):
        for transform in self.transforms:
            images = transform(images, rng)
        return images

    def __repr__(self):
        return "Compose([" + ", ".join(map(repr, self.transforms)) + "])"


class Normalize:
    """(x - mean[c]) / std[c] for each channel c.

    >>> Normalize([0.5], [0.25])(np.ones((1, 1, 1, 2), np.float32), None)
    array([[[[2., 2.]]]], dtype=float32)
    """

    def __init__(self, mean, std):
        self.mean = _per_channel(mean, "mean", "Normalize")
        std = _per_channel(std, "std", "Normalize")
        if self.mean.size != std.size:
            raise ValueError(f"Normalize: mean has {self.mean.size} values but std has {std.size}")
        if np.any(std <= 0):
            raise ValueError(f"Normalize: std must be > 0, got {std.ravel().tolist()}")
        self.scale = (1.0 / std).astype(np.float32)
        self.std = std

    def __call__(self, images, rng):
        _check_batch(images, "Normalize")
        if images.shape[1] != self.mean.shape[1] and self.mean.shape[1] != 1:
            raise ValueError(
                f"Normalize: mean/std have {self.mean.shape[1]} channels but the images {images.shape} "
                f"have {images.shape[1]}"
            )
        return ((images - self.mean) * self.scale).astype(images.dtype, copy=False)

    def __repr__(self):
        return f"Normalize(mean={self.mean.ravel().tolist()}, std={self.std.ravel().tolist()})"


class RandomCrop:
    """A random size x size window of each image, zero-padded by ``padding`` pixels on every side.

    >>> out = RandomCrop(2, padding=1)(np.ones((3, 1, 2, 2), np.float32), np.random.default_rng(0))
    >>> out.shape
    (3, 1, 2, 2)
    """

    def __init__(self, size, padding=0):
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        if len(self.size) != 2 or min(self.size) < 1:
            raise ValueError(f"RandomCrop: size must be a positive int or (height, width), got {size}")
        if padding < 0:
            raise ValueError(f"RandomCrop: padding must be >= 0, got {padding}")
        self.padding = int(padding)

    def __call__(self, images, rng):
        _check_batch(images, "RandomCrop")
        p = self.padding
        padded = np.pad(images, ((0, 0), (0, 0), (p, p), (p, p))) if p else images
        n, _, h, w = padded.shape
        ch, cw = self.size
        if ch > h or cw > w:
            raise ValueError(
                f"RandomCrop: a {ch}x{cw} crop does not fit images {images.shape} padded by {p}"
            )
        top = rng.integers(0, h - ch + 1, size=n)
        left = rng.integers(0, w - cw + 1, size=n)
        windows = np.lib.stride_tricks.sliding_window_view(padded, (ch, cw), axis=(2, 3))
        # windows: (N, C, h-ch+1, w-cw+1, ch, cw); pick one window per image.
        return np.ascontiguousarray(windows[np.arange(n), :, top, left])

    def __repr__(self):
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror each image left-right with probability p."""

    def __init__(self, p=0.5):
        if not 0 <= p <= 1:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p}")
        self.p = p

    def __call__(self, images, rng):
        _check_batch(images, "RandomHorizontalFlip")
        flip = rng.random(len(images)) < self.p
        out = images.copy()
        out[flip] = images[flip][..., ::-1]
        return out

    def __repr__(self):
        return f"RandomHorizontalFlip(p={self.p})"


# ITU-R 601 luma, the grey level torchvision's ColorJitter mixes towards.
_LUMA = np.array([0.299, 0.587, 0.114], np.float32).reshape(1, 3, 1, 1)


class ColorJitter:
    """Random brightness, contrast and saturation, in that order, each image its own factors.

    Each factor f is drawn uniformly from [max(0, 1 - s), 1 + s] for strength s
    (0 turns that jitter off), and the result is clipped to [0, 1]:

        brightness: x = f * x
        contrast:   x = f * x + (1 - f) * mean(grey(x))      (the image's mean grey level)
        saturation: x = f * x + (1 - f) * grey(x)             (per pixel; colour images only)

    grey(x) = 0.299 R + 0.587 G + 0.114 B (x itself for one channel), as in
    torchvision, which applies the three in a random order; here it is fixed.
    """

    def __init__(self, brightness=0.0, contrast=0.0, saturation=0.0):
        for name, value in (("brightness", brightness), ("contrast", contrast), ("saturation", saturation)):
            if value < 0:
                raise ValueError(f"ColorJitter: {name} must be >= 0, got {value}")
        self.brightness, self.contrast, self.saturation = brightness, contrast, saturation

    @staticmethod
    def _factors(strength, n, rng):
        return rng.uniform(max(0.0, 1 - strength), 1 + strength, size=(n, 1, 1, 1)).astype(np.float32)

    @staticmethod
    def _grey(images):
        if images.shape[1] == 1:
            return images
        if images.shape[1] != 3:
            raise ValueError(f"ColorJitter: contrast and saturation need 1 or 3 channels, got images {images.shape}")
        return (images * _LUMA).sum(axis=1, keepdims=True)

    def __call__(self, images, rng):
        _check_batch(images, "ColorJitter")
        n = len(images)
        out = images
        if self.brightness:
            out = out * self._factors(self.brightness, n, rng)
            out = np.clip(out, 0, 1, out=out)
        if self.contrast:
            f = self._factors(self.contrast, n, rng)
            mean = self._grey(out).mean(axis=(1, 2, 3), keepdims=True)
            out = np.clip(f * out + (1 - f) * mean, 0, 1)
        if self.saturation and images.shape[1] > 1:
            f = self._factors(self.saturation, n, rng)
            out = np.clip(f * out + (1 - f) * self._grey(out), 0, 1)
        return out.astype(images.dtype, copy=False) if out is not images else images.copy()

    def __repr__(self):
        return f"ColorJitter(brightness={self.brightness}, contrast={self.contrast}, saturation={self.saturation})"


def _bilinear_taps(size_in, size_out):
    """Source indices and weights of bilinear resampling with pixel centres aligned
    (PyTorch's align_corners=False): output i samples input (i + 0.5) * in / out - 0.5."""
    source = np.maximum((np.arange(size_out) + 0.5) * (size_in / size_out) - 0.5, 0.0)
    low = np.minimum(np.floor(source).astype(np.intp), size_in - 1)
    high = np.minimum(low + 1, size_in - 1)
    weight = (source - low).astype(np.float32)
    return low, high, weight


class Resize:
    """Every image resampled to ``size`` (an int or (height, width)) by bilinear interpolation.

    Pixel centres are aligned as in PyTorch's ``interpolate(mode="bilinear",
    align_corners=False)`` without antialiasing; a batch already of that size is
    returned as a copy.

    >>> Resize((1, 4))(np.array([[[[0.0, 1.0]]]], np.float32), None)
    array([[[[0.  , 0.25, 0.75, 1.  ]]]], dtype=float32)
    """

    def __init__(self, size):
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        if len(self.size) != 2 or min(self.size) < 1:
            raise ValueError(f"Resize: size must be a positive int or (height, width), got {size}")

    def __call__(self, images, rng):
        _check_batch(images, "Resize")
        (h, w), (oh, ow) = images.shape[2:], self.size
        out = images
        if oh != h:
            low, high, t = _bilinear_taps(h, oh)
            t = t.reshape(1, 1, -1, 1)
            out = out[:, :, low] * (1 - t) + out[:, :, high] * t
        if ow != w:
            low, high, t = _bilinear_taps(w, ow)
            out = out[..., low] * (1 - t) + out[..., high] * t
        return out.astype(images.dtype, copy=False) if out is not images else images.copy()

    def __repr__(self):
        return f"Resize(size={self.size})"


class RandomErasing:
    """Random erasing (Zhong et al., 2017): with probability ``p`` each image has one
    rectangle set to ``value``; its area is a uniform fraction ``scale`` of the image
    and its aspect ratio h/w log-uniform in ``ratio``, placed uniformly where it fits
    (torchvision's defaults; a draw that does not fit leaves the image as it is).

    Put it after Normalize, so ``value`` 0 is the dataset's mean.

    >>> out = RandomErasing(p=1.0, scale=(0.25, 0.25), ratio=(1.0, 1.0))(
    ...     np.ones((1, 1, 4, 4), np.float32), np.random.default_rng(0))
    >>> int((out == 0).sum())
    4
    """

    def __init__(self, p=0.5, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=0.0):
        if not 0 <= p <= 1:
            raise ValueError(f"RandomErasing: p must be in [0, 1], got {p}")
        if not 0 < scale[0] <= scale[1] <= 1:
            raise ValueError(f"RandomErasing: scale must satisfy 0 < low <= high <= 1, got {scale}")
        if not 0 < ratio[0] <= ratio[1]:
            raise ValueError(f"RandomErasing: ratio must satisfy 0 < low <= high, got {ratio}")
        self.p, self.scale, self.ratio, self.value = p, tuple(scale), tuple(ratio), value

    def __call__(self, images, rng):
        _check_batch(images, "RandomErasing")
        n, _, h, w = images.shape
        out = images.copy()
        erase = rng.random(n) < self.p
        area = rng.uniform(*self.scale, size=n) * h * w
        aspect = np.exp(rng.uniform(np.log(self.ratio[0]), np.log(self.ratio[1]), size=n))
        eh = np.round(np.sqrt(area * aspect)).astype(np.intp)
        ew = np.round(np.sqrt(area / aspect)).astype(np.intp)
        top_draw, left_draw = rng.random(n), rng.random(n)
        for i in np.flatnonzero(erase & (eh >= 1) & (ew >= 1) & (eh <= h) & (ew <= w)):
            top = int(top_draw[i] * (h - eh[i] + 1))
            left = int(left_draw[i] * (w - ew[i] + 1))
            out[i, :, top:top + eh[i], left:left + ew[i]] = self.value
        return out

    def __repr__(self):
        return f"RandomErasing(p={self.p}, scale={self.scale}, ratio={self.ratio}, value={self.value})"
