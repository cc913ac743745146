"""ReLU's backward: the output gradient where the output is positive, 0 elsewhere.

    gx = gy if y > 0 else 0      (y = max(x, 0): relu'(0) = 0, and a NaN y passes nothing)

The forward, max(x, 0), is one NumPy/CuPy call and needs no kernel.

>>> relu_backward(np.array([1.0, 2.0, 3.0]), np.array([0.0, 0.5, 0.0]))
array([0., 2., 0.])
"""

import numpy as np


def relu_backward(gy, y, out=None):
    """gx for y = relu(x); written into ``out`` when given (gy's shape and dtype)."""
    gx = np.where(y > 0, gy, 0).astype(gy.dtype, copy=False)
    if out is None:
        return gx
    out[...] = gx
    return out
