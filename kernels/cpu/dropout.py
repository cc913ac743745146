"""The dropout mask as a Numba kernel, bit for bit the reference's counter-based hash.

Element i is kept when the top 24 bits of
``splitmix64(seed + (i + 1) * 0x9E3779B97F4A7C15)`` are >= round(p * 2**24);
kept elements hold 1 / (1 - p), dropped ones 0 (see
``minidl.kernels.reference.dropout``). Every element is hashed on its own, so
the loop runs in parallel and the mask does not depend on the thread count.

>>> dropout_mask((6,), 0.5, 0, np.float32)
array([2., 0., 0., 2., 0., 0.], dtype=float32)
"""

import numpy as np
from numba import njit, prange

from minidl.kernels.reference.dropout import GOLDEN, MIX1, MIX2, keep_threshold

# Shift counts typed uint64: Numba would turn uint64 >> int64 into float arithmetic.
_TOP_24_BITS, _S27, _S30, _S31 = np.uint64(40), np.uint64(27), np.uint64(30), np.uint64(31)


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _mask(seed, threshold, keep, out):
    for i in prange(out.size):
        z = seed + np.uint64(i + 1) * GOLDEN
        z = (z ^ (z >> _S30)) * MIX1
        z = (z ^ (z >> _S27)) * MIX2
        z = z ^ (z >> _S31)
        out[i] = keep if (z >> _TOP_24_BITS) >= threshold else 0


def dropout_mask(shape, p, seed, dtype):
    """Mask of ``shape``: 0 with probability ~p, else 1 / (1 - p). 0 <= p < 1."""
    out = np.empty(shape, dtype=dtype)
    keep = np.asarray(1.0 / (1.0 - p), dtype=dtype)[()]
    _mask(np.uint64(seed), np.uint64(keep_threshold(p)), keep, out.reshape(-1))
    return out
