"""Local response normalization on the GPU: launchers for the kernels in lrn.cu.

Same names, arguments and layouts as ``minidl.kernels.reference.lrn`` (the
AlexNet paper's formula; ``scale`` is S = k + alpha * window sum of x^2). One
thread per pixel walks the channels with a sliding window sum.
"""

import numpy as np

from minidl.kernels.cuda import loader


def _sizes(op, shape, size):
    n, c, h, w = shape
    batch, channels, half = loader.int32(op, batch=n, channels=c, half=size // 2)
    return (batch, channels, np.int64(h * w), half)


def lrn_forward(x, size, alpha, beta, k):
    """(y, scale) for x of shape (N, C, H, W)."""
    op = "lrn_forward"
    cp = loader.cupy()
    dtype = loader.float_dtype(op, x)
    if x.ndim != 4:
        raise ValueError(f"{op} (CUDA): x must be (N, C, H, W), got shape {x.shape}")
    x = cp.ascontiguousarray(x)
    y = cp.empty_like(x)
    scale = cp.empty_like(x)
    t = dtype.type
    n, _, h, w = x.shape
    kernel = loader.function("lrn.cu", "lrn_forward", dtype)
    loader.launch(kernel, n * h * w, (x, y, scale) + _sizes(op, x.shape, size) + (t(alpha), t(beta), t(k)))
    return y, scale


def lrn_backward(x, y, scale, gy, size, alpha, beta):
    op = "lrn_backward"
    cp = loader.cupy()
    dtype = loader.float_dtype(op, x, y, scale, gy)
    if not x.shape == y.shape == scale.shape == gy.shape or x.ndim != 4:
        raise ValueError(
            f"{op} (CUDA): x {x.shape}, y {y.shape}, scale {scale.shape} and gy {gy.shape} "
            "must share one (N, C, H, W) shape"
        )
    x, y, scale, gy = (cp.ascontiguousarray(a) for a in (x, y, scale, gy))
    gx = cp.empty_like(x)
    t = dtype.type
    n, _, h, w = x.shape
    kernel = loader.function("lrn.cu", "lrn_backward", dtype)
    loader.launch(
        kernel, n * h * w,
        (x, y, scale, gy, gx) + _sizes(op, x.shape, size) + (t(beta), t(2 * alpha * beta)),
    )
    return gx
