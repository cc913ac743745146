"""Batch normalization as Numba kernels: two fused passes, one parallel task per channel.

Names, arguments and results are those of ``minidl.kernels.reference.batch_norm``
(x viewed as (N, C, L); mean and var of shape (C,) in x's dtype, var biased).

    forward:  pass 1 sums x and x^2 per channel; pass 2 writes
              y = (x - mean) * gamma / sqrt(var + eps) + beta
    backward: pass 1 sums gy and gy * (x - mean) per channel; pass 2 writes
              gx = gamma / sqrt(var + eps) / m * (m * gy - sum(gy) - xhat * sum(gy * xhat))

The sums run in float64, so float32 training keeps accurate statistics over
large batches, and the squares are taken about a value of the channel (its
first element) rather than about 0: ``E[(x-s)^2] - E[x-s]^2`` does not lose
the variance to cancellation when the mean is large against the spread.

>>> import numpy as np
>>> x = np.array([[[1.0, 3.0]], [[5.0, 7.0]]], dtype=np.float32)   # N=2, C=1, L=2
>>> y, mean, var = batch_norm_forward_train(x, np.ones(1, np.float32), np.zeros(1, np.float32), 0.0)
>>> mean, var
(array([4.], dtype=float32), array([5.], dtype=float32))
"""

import math

import numpy as np
from numba import njit, prange


@njit(cache=True, error_model="numpy", fastmath={"reassoc"})
def _shifted_sums(x, channel, shift):
    """sum(x - shift) and sum((x - shift)^2) over one channel, in float64.

    Reassociation lets the loop run as vector lanes; the float64 sums keep
    that reordering far below float32 rounding.
    """
    n, _, length = x.shape
    total = 0.0
    squares = 0.0
    for i in range(n):
        for j in range(length):
            d = np.float64(x[i, channel, j]) - shift
            total += d
            squares += d * d
    return total, squares


@njit(cache=True, error_model="numpy", fastmath={"reassoc"})
def _gradient_sums(gy, x, channel, mean):
    """sum(gy) and sum(gy * (x - mean)) over one channel, in float64."""
    n, _, length = x.shape
    total = 0.0
    moment = 0.0
    for i in range(n):
        for j in range(length):
            g = np.float64(gy[i, channel, j])
            total += g
            moment += g * (np.float64(x[i, channel, j]) - mean)
    return total, moment


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _forward_train(x, gamma, beta, eps, y, mean, var):
    n, channels, length = x.shape
    m = n * length
    for c in prange(channels):
        shift = np.float64(x[0, c, 0])
        total, squares = _shifted_sums(x, c, shift)
        offset = total / m
        variance = max(squares / m - offset * offset, 0.0)
        mu = shift + offset
        scale = gamma[c] / math.sqrt(variance + eps)
        for i in range(n):
            for j in range(length):
                y[i, c, j] = (x[i, c, j] - mu) * scale + beta[c]
        mean[c] = mu
        var[c] = variance


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _backward(gy, x, gamma, mean, var, eps, gx, ggamma, gbeta):
    n, channels, length = x.shape
    m = n * length
    for c in prange(channels):
        mu = np.float64(mean[c])
        invstd = 1.0 / math.sqrt(var[c] + eps)
        total, moment = _gradient_sums(gy, x, c, mu)
        # gx = a * gy + b * (x - mean) + d: the formula above with xhat = (x - mean) * invstd.
        a = gamma[c] * invstd
        b = -a * moment * invstd * invstd / m
        d = -a * total / m
        for i in range(n):
            for j in range(length):
                gx[i, c, j] = a * gy[i, c, j] + b * (x[i, c, j] - mu) + d
        ggamma[c] = moment * invstd
        gbeta[c] = total


def batch_norm_forward_train(x, gamma, beta, eps):
    """(y, mean, var) for x of shape (N, C, L); mean and var have shape (C,)."""
    x = np.ascontiguousarray(x)
    y = np.empty_like(x)
    mean = np.empty(x.shape[1], dtype=x.dtype)
    var = np.empty(x.shape[1], dtype=x.dtype)
    _forward_train(x, gamma, beta, float(eps), y, mean, var)
    return y, mean, var


def batch_norm_backward(gy, x, gamma, mean, var, eps):
    """(gx, ggamma, gbeta) of the training forward."""
    gy, x = np.ascontiguousarray(gy), np.ascontiguousarray(x)
    gx = np.empty_like(x)
    ggamma = np.empty(x.shape[1], dtype=x.dtype)
    gbeta = np.empty(x.shape[1], dtype=x.dtype)
    _backward(gy, x, gamma, mean, var, float(eps), gx, ggamma, gbeta)
    return gx, ggamma, gbeta
