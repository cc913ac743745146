"""Batch normalization as Numba kernels: two fused passes per channel, over a range of channels.

Names, arguments and results are those of ``minidl.kernels.reference.batch_norm``
(x viewed as (N, C, L); mean and var of shape (C,) in x's dtype, var biased;
``relu`` fuses max(y, 0); ``out`` and ``channels`` let slices of the channels
run on different threads, as ``minidl.functional.batch_norm`` does).

    forward:  pass 1 sums x and x^2 per channel; pass 2 writes
              y = (x - mean) * a + beta,  a = gamma / sqrt(var + eps)   (then max(y, 0))
    backward: pass 1 sums g and g * (x - mean) per channel, g = gy (where y > 0 with
              relu); pass 2 writes
              gx = gamma / sqrt(var + eps) / m * (m * g - sum(g) - xhat * sum(g * xhat))

Every pass over the elements runs in x's dtype, so float32 training streams
float32 vector lanes and never widens an element to float64. Accuracy comes
from the order of the sums instead: each row of L values of one image is
summed in x's dtype (in vector lanes: the ``reassoc`` flag), and the rows'
totals are added in float64. The squares are taken about a value of the
channel (its first element) rather than about 0: ``E[(x-s)^2] - E[x-s]^2``
does not lose the variance to cancellation when the mean is large against
the spread. The per-channel scalars (mean, 1/sqrt(var + eps), the gradient
coefficients) are worked out in float64 and rounded once to x's dtype.

With ``relu`` the backward recomputes y's sign from x with the same
expression, in the same dtype, from the same rounded mean and var as the
forward, so the mask is the forward's bit for bit and need not be kept.

>>> import numpy as np
>>> x = np.array([[[1.0, 3.0]], [[5.0, 7.0]]], dtype=np.float32)   # N=2, C=1, L=2
>>> y, mean, var = batch_norm_forward_train(x, np.ones(1, np.float32), np.zeros(1, np.float32), 0.0)
>>> mean, var
(array([4.], dtype=float32), array([5.], dtype=float32))
"""

import math

import numpy as np
from numba import njit



@njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def _row_sums(x, i, c, shift):
    """sum(x - shift) and sum((x - shift)^2) over row (i, c), in x's dtype."""
    total = squares = x.dtype.type(0)
    for j in range(x.shape[2]):
        d = x[i, c, j] - shift
        total += d
        squares += d * d
    return total, squares


@njit(cache=True, nogil=True, error_model="numpy", fastmath={"reassoc"})
def _row_gradient_sums(gy, x, i, c, mu, scale, beta, relu):
    """sum(g) and sum(g * (x - mu)) over row (i, c), in x's dtype; g is gy, or with
    relu gy where (x - mu) * scale + beta > 0 and 0 elsewhere."""
    zero = x.dtype.type(0)
    total = moment = zero
    if relu:  # the branch outside the loops, so that each loop vectorizes
        for j in range(x.shape[2]):
            g = gy[i, c, j] if _affine(x[i, c, j], mu, scale, beta) > zero else zero
            total += g
            moment += g * (x[i, c, j] - mu)
    else:
        for j in range(x.shape[2]):
            total += gy[i, c, j]
            moment += gy[i, c, j] * (x[i, c, j] - mu)
    return total, moment


@njit(cache=True, nogil=True, error_model="numpy")
def _affine(value, mu, scale, beta):
    """(value - mu) * scale + beta: the forward's y, one expression for every pass so
    that the backward's relu mask is the forward's. A function of its own, not inlined
    by Numba: LLVM's flags are per instruction, so these keep strict IEEE order even
    inside the reassociating row sums."""
    return (value - mu) * scale + beta


@njit(cache=True, nogil=True, error_model="numpy")
def _channel_scale(x, gamma, var, c, eps):
    """gamma / sqrt(var + eps) of channel c, in float64 rounded once to x's dtype."""
    return x.dtype.type(gamma[c] / math.sqrt(np.float64(var[c]) + eps))


@njit(cache=True, nogil=True, error_model="numpy")
def _forward_train(x, gamma, beta, eps, relu, y, mean, var, start, stop):
    n, _, length = x.shape
    m = n * length
    zero = x.dtype.type(0)
    for c in range(start, stop):
        shift = x[0, c, 0]
        total = squares = 0.0
        for i in range(n):
            row_total, row_squares = _row_sums(x, i, c, shift)
            total += row_total
            squares += row_squares
        offset = total / m
        mean[c] = shift + offset
        var[c] = max(squares / m - offset * offset, 0.0)
        mu, scale, shift_out = mean[c], _channel_scale(x, gamma, var, c, eps), beta[c]
        if relu:
            for i in range(n):
                for j in range(length):
                    y[i, c, j] = max(_affine(x[i, c, j], mu, scale, shift_out), zero)
        else:
            for i in range(n):
                for j in range(length):
                    y[i, c, j] = _affine(x[i, c, j], mu, scale, shift_out)


@njit(cache=True, nogil=True, error_model="numpy")
def _backward(gy, x, gamma, beta, mean, var, eps, relu, gx, ggamma, gbeta, start, stop):
    n, _, length = x.shape
    m = n * length
    zero = x.dtype.type(0)
    for c in range(start, stop):
        mu, scale, shift_out = mean[c], _channel_scale(x, gamma, var, c, eps), beta[c]
        total = moment = 0.0
        for i in range(n):
            row_total, row_moment = _row_gradient_sums(gy, x, i, c, mu, scale, shift_out, relu)
            total += row_total
            moment += row_moment
        invstd = 1.0 / math.sqrt(np.float64(var[c]) + eps)
        # gx = a * g + b * (x - mean) + d: the formula above with xhat = (x - mean) * invstd.
        a = gamma[c] * invstd
        b = x.dtype.type(-a * moment * invstd * invstd / m)
        d = x.dtype.type(-a * total / m)
        a = x.dtype.type(a)
        if relu:
            for i in range(n):
                for j in range(length):
                    g = gy[i, c, j] if _affine(x[i, c, j], mu, scale, shift_out) > zero else zero
                    gx[i, c, j] = a * g + b * (x[i, c, j] - mu) + d
        else:
            for i in range(n):
                for j in range(length):
                    gx[i, c, j] = a * gy[i, c, j] + b * (x[i, c, j] - mu) + d
        ggamma[c] = moment * invstd
        gbeta[c] = total


def _range(channels, count):
    start, stop, step = channels.indices(count)
    if step != 1:
        raise ValueError(f"batch_norm (CPU): channels must be a slice of step 1, got {channels}")
    return start, stop


def batch_norm_forward_train(x, gamma, beta, eps, relu=False, out=None, channels=slice(None)):
    """(y, mean, var) for x of shape (N, C, L); mean and var have shape (C,)."""
    x = np.ascontiguousarray(x)
    if out is None:
        out = (np.empty_like(x), np.empty(x.shape[1], dtype=x.dtype), np.empty(x.shape[1], dtype=x.dtype))
    _forward_train(x, gamma, beta, float(eps), bool(relu), *out, *_range(channels, x.shape[1]))
    return out


def batch_norm_backward(gy, x, gamma, mean, var, eps, relu=False, beta=None, out=None, channels=slice(None)):
    """(gx, ggamma, gbeta) of the training forward (``beta`` needed with ``relu`` only)."""
    gy, x = np.ascontiguousarray(gy), np.ascontiguousarray(x)
    if beta is None:
        if relu:
            raise ValueError("batch_norm_backward (CPU): relu needs the forward's beta")
        beta = gamma  # not read without relu
    if out is None:
        out = (np.empty_like(x), np.empty(x.shape[1], dtype=x.dtype), np.empty(x.shape[1], dtype=x.dtype))
    _backward(gy, x, gamma, beta, mean, var, float(eps), bool(relu), *out, *_range(channels, x.shape[1]))
    return out
