"""The dropout mask from a counter-based hash, so every backend draws the same mask.

Element i of the mask is kept when the top 24 bits of
``splitmix64(seed + (i + 1) * 0x9E3779B97F4A7C15)`` are >= round(p * 2**24);
kept elements hold 1 / (1 - p) (inverted dropout), dropped ones 0. Integer
arithmetic only: the NumPy, Numba and CUDA versions agree bit for bit, and a
seed from ``md.manual_seed``'s generator fixes the mask on any device.

>>> dropout_mask((6,), 0.5, 0, np.float32)
array([2., 0., 0., 2., 0., 0.], dtype=float32)
"""

import numpy as np

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
MIX1 = np.uint64(0xBF58476D1CE4E5B9)
MIX2 = np.uint64(0x94D049BB133111EB)


def keep_threshold(p):
    """An element survives when its 24 random bits are >= this."""
    return int(round(p * (1 << 24)))


def splitmix64(z):
    z = (z ^ (z >> np.uint64(30))) * MIX1
    z = (z ^ (z >> np.uint64(27))) * MIX2
    return z ^ (z >> np.uint64(31))


def dropout_mask(shape, p, seed, dtype):
    """Mask of ``shape``: 0 with probability ~p, else 1 / (1 - p). 0 <= p < 1."""
    count = int(np.prod(shape, dtype=np.int64))
    index = np.arange(1, count + 1, dtype=np.uint64)
    bits = splitmix64(np.uint64(seed) + index * GOLDEN) >> np.uint64(40)
    keep = bits >= np.uint64(keep_threshold(p))
    scale = np.asarray(1.0 / (1.0 - p), dtype=dtype)
    return (keep.astype(dtype) * scale).reshape(shape)
