"""ReLU's backward on the GPU: the reference's expression in CuPy (one elementwise
kernel of CuPy's own), the same names and results as
``minidl.kernels.reference.activation``."""

from minidl.kernels.cuda import loader


def relu_backward(gy, y, out=None):
    """gx for y = relu(x); written into ``out`` when given (gy's shape and dtype)."""
    gx = loader.cupy().where(y > 0, gy, 0).astype(gy.dtype, copy=False)
    if out is None:
        return gx
    out[...] = gx
    return out
