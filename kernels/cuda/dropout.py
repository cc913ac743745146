"""The dropout mask on the GPU: the launcher for the kernel in dropout.cu.

The same counter-based hash as ``minidl.kernels.reference.dropout``, so a seed
gives the same mask, bit for bit, on the CPU and the GPU.
"""

import numpy as np

from minidl.kernels.cuda import loader
from minidl.kernels.reference.dropout import keep_threshold


def dropout_mask(shape, p, seed, dtype):
    """Mask of ``shape``: 0 with probability ~p, else 1 / (1 - p). 0 <= p < 1."""
    op = "dropout_mask"
    cp = loader.cupy()
    dtype = np.dtype(dtype)
    kernel = loader.function("dropout.cu", "dropout_mask", dtype)
    if not 0 <= p < 1:
        raise ValueError(f"{op} (CUDA): p must be in [0, 1), got {p}")
    if not 0 <= seed < 2**64:
        raise ValueError(f"{op} (CUDA): seed must be in [0, 2**64), got {seed}")
    mask = cp.empty(tuple(int(s) for s in shape), dtype=dtype)
    scale = np.asarray(1.0 / (1.0 - p), dtype=dtype)[()]
    loader.launch(
        kernel, mask.size,
        (mask, np.int64(mask.size), np.uint64(seed), np.uint64(keep_threshold(p)), scale),
    )
    return mask
