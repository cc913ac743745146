"""Batch normalization on the GPU: launchers for the kernels in batch_norm.cu.

Same names, arguments and layouts as ``minidl.kernels.reference.batch_norm``:
x is (N, C, L); mean and var are (C,) in x's dtype, var biased, eps added only
where it is used. Statistics and gradient sums accumulate in double (Welford
and Chan's merge for the variance), each channel split over S blocks whose
partial results one thread per channel merges in a fixed order, so the result
is deterministic. The fused ReLU (``relu``) and the channel slices
(``out``, ``channels``) are CuPy array operations around those kernels: the
forward clips y in place, the backward zeroes gy where the recomputed y is not
positive (the reference's expression) before the plain backward.
"""

import numpy as np

from minidl.kernels.cuda import loader
from minidl.kernels.reference.batch_norm import _into

# Threads per block of the reductions and elementwise kernels: BN_THREADS in
# batch_norm.cu, the size of the reductions' shared arrays.
THREADS = 256
# The per-channel reductions aim for this many blocks per multiprocessor.
BLOCKS_PER_SM = 4
MAX_SPLITS = 1024
MAX_GRID_Y = 65535

_multiprocessors = {}


def _multiprocessor_count(cp):
    device = cp.cuda.runtime.getDevice()
    if device not in _multiprocessors:
        _multiprocessors[device] = cp.cuda.Device(device).attributes["MultiProcessorCount"]
    return _multiprocessors[device]


def _block(length):
    """(bx, by) with bx * by = 256: bx covers L (a power of two up to 256), by the batch."""
    bx = 1
    while bx < min(length, THREADS):
        bx *= 2
    return bx, THREADS // bx


def _splits(cp, batch, channels, block_y):
    """Blocks per channel: enough to fill the GPU, never more than the batch rows."""
    wanted = -(-BLOCKS_PER_SM * _multiprocessor_count(cp) // channels)
    return max(1, min(wanted, -(-batch // block_y), MAX_SPLITS))


def _elementwise_grid(batch, channels, length, block):
    """Grid for the (row, l) kernels: x tiles L, y tiles the N*C rows (looping past 65535)."""
    bx, by = block
    return (-(-length // bx), min(-(-(batch * channels) // by), MAX_GRID_Y))


def _contiguous(cp, op, dtype, **arrays):
    for name, array in arrays.items():
        if array.dtype != dtype:
            raise TypeError(f"{op} (CUDA): {name} is {array.dtype} but x is {dtype}")
    return [cp.ascontiguousarray(a) for a in arrays.values()]


def _check_shapes(op, x, **vectors):
    if x.ndim != 3:
        raise ValueError(f"{op} (CUDA): x must be (N, C, L), got shape {x.shape}")
    if x.shape[0] * x.shape[2] == 0:
        raise ValueError(f"{op} (CUDA): no values per channel in x of shape {x.shape}")
    for name, v in vectors.items():
        if v.shape != (x.shape[1],):
            raise ValueError(f"{op} (CUDA): {name} must have shape ({x.shape[1]},), got {v.shape}")


def batch_norm_forward_train(x, gamma, beta, eps, relu=False, out=None, channels=slice(None)):
    """(y, mean, var) for x of shape (N, C, L); mean and var have shape (C,)."""
    y, mean, var = _forward_train(x[:, channels], gamma[channels], beta[channels], eps)
    if relu:
        loader.cupy().maximum(y, 0, out=y)
    return _into(out, channels, (y, mean, var))


def batch_norm_backward(gy, x, gamma, mean, var, eps, relu=False, beta=None, out=None, channels=slice(None)):
    """(gx, ggamma, gbeta) of the training forward (``beta`` needed with ``relu`` only)."""
    gy, x, gamma, mean, var = gy[:, channels], x[:, channels], gamma[channels], mean[channels], var[channels]
    if relu:
        cp = loader.cupy()
        invstd = 1.0 / cp.sqrt(var + eps)
        y = (x - mean[:, None]) * (invstd * gamma)[:, None] + beta[channels][:, None]
        gy = cp.where(y > 0, gy, 0).astype(x.dtype, copy=False)
    return _into(out, channels, _backward(gy, x, gamma, mean, var, eps))


def _forward_train(x, gamma, beta, eps):
    op = "batch_norm_forward_train"
    cp = loader.cupy()
    dtype = loader.float_dtype(op, x)
    _check_shapes(op, x, gamma=gamma, beta=beta)
    x, gamma, beta = _contiguous(cp, op, dtype, x=x, gamma=gamma, beta=beta)
    n, c, length = x.shape
    sizes = loader.int32(op, batch=n, channels=c, length=length)
    block = _block(length)
    splits = _splits(cp, n, c, block[1])
    partial = cp.empty((c, splits, 3), dtype=np.float64)
    mean = cp.empty(c, dtype=dtype)
    var = cp.empty(c, dtype=dtype)
    scale = cp.empty(c, dtype=dtype)
    y = cp.empty_like(x)

    loader.function("batch_norm.cu", "batch_norm_partial_stats", dtype)(
        (c, splits), block, (x, partial) + sizes
    )
    loader.launch(
        loader.function("batch_norm.cu", "batch_norm_finalize_stats", dtype), c,
        (partial, gamma, mean, var, scale, np.int32(c), np.int32(splits), np.float64(eps)),
    )
    loader.function("batch_norm.cu", "batch_norm_normalize", dtype)(
        _elementwise_grid(n, c, length, block), block, (x, mean, scale, beta, y) + sizes
    )
    return y, mean, var


def _backward(gy, x, gamma, mean, var, eps):
    op = "batch_norm_backward"
    cp = loader.cupy()
    dtype = loader.float_dtype(op, x)
    _check_shapes(op, x, gamma=gamma, mean=mean, var=var)
    if gy.shape != x.shape:
        raise ValueError(f"{op} (CUDA): gy {gy.shape} and x {x.shape} must have one shape")
    gy, x, gamma, mean, var = _contiguous(cp, op, dtype, gy=gy, x=x, gamma=gamma, mean=mean, var=var)
    n, c, length = x.shape
    sizes = loader.int32(op, batch=n, channels=c, length=length)
    block = _block(length)
    splits = _splits(cp, n, c, block[1])
    partial = cp.empty((c, splits, 2), dtype=np.float64)
    ggamma = cp.empty(c, dtype=dtype)
    gbeta = cp.empty(c, dtype=dtype)
    coeffs = cp.empty((3, c), dtype=dtype)
    gx = cp.empty_like(x)

    loader.function("batch_norm.cu", "batch_norm_partial_grads", dtype)(
        (c, splits), block, (gy, x, mean, partial) + sizes
    )
    loader.launch(
        loader.function("batch_norm.cu", "batch_norm_finalize_grads", dtype), c,
        (partial, gamma, var, ggamma, gbeta, coeffs, np.int32(c), np.int32(splits),
         np.float64(n * length), np.float64(eps)),
    )
    loader.function("batch_norm.cu", "batch_norm_backward_input", dtype)(
        _elementwise_grid(n, c, length, block), block, (gy, x, mean, coeffs, gx) + sizes
    )
    return gx, ggamma, gbeta
