"""Batch normalization over x viewed as (N, C, L), statistics per channel C.

Training forward normalises with the batch mean and the *biased* variance;
eps is added once, where the variance is used, and never stored in it
(Chainer once shipped both mistakes: issues #332 and #4505). The running
statistics (with the unbiased variance) are the op's business, not the kernel's.

    y = gamma * (x - mean) / sqrt(var + eps) + beta
    gx = gamma / sqrt(var + eps) / m * (m * gy - sum(gy) - xhat * sum(gy * xhat)),  m = N * L

With ``relu`` the forward returns max(y, 0) (conv-BN-ReLU fused), and the
backward takes gy of that output: it flows where y > 0 only, y recomputed from
x, the statistics and ``beta`` (relu'(0) = 0, as ``F.relu``'s).

Every kernel set takes ``out`` and ``channels`` too, so that slices of the
channels can run on different threads: given ``out`` (the arrays the kernel
returns, allocated whole), the kernel computes only ``channels`` (a slice of C)
and writes them there.
"""

import numpy as np


def batch_norm_forward_train(x, gamma, beta, eps, relu=False, out=None, channels=slice(None)):
    """(y, mean, var) for x of shape (N, C, L); mean and var have shape (C,)."""
    x, gamma, beta = x[:, channels], gamma[channels], beta[channels]
    mean = x.mean(axis=(0, 2))
    var = ((x - mean[:, None]) ** 2).mean(axis=(0, 2))
    y = _normalized(x, gamma, beta, mean, var, eps)
    if relu:
        y = np.maximum(y, 0)
    return _into(out, channels, (y.astype(x.dtype, copy=False), mean, var))


def batch_norm_backward(gy, x, gamma, mean, var, eps, relu=False, beta=None, out=None, channels=slice(None)):
    """(gx, ggamma, gbeta) of the training forward (``beta`` needed with ``relu`` only)."""
    gy, x, gamma, mean, var = gy[:, channels], x[:, channels], gamma[channels], mean[channels], var[channels]
    if relu:
        gy = np.where(_normalized(x, gamma, beta[channels], mean, var, eps) > 0, gy, 0)
    m = x.shape[0] * x.shape[2]
    invstd = 1.0 / np.sqrt(var + eps)
    xhat = (x - mean[:, None]) * invstd[:, None]
    gbeta = gy.sum(axis=(0, 2))
    ggamma = (gy * xhat).sum(axis=(0, 2))
    gx = (gamma * invstd / m)[:, None] * (m * gy - gbeta[:, None] - xhat * ggamma[:, None])
    return _into(out, channels, (gx.astype(x.dtype, copy=False), ggamma, gbeta))


def _normalized(x, gamma, beta, mean, var, eps):
    """gamma * (x - mean) / sqrt(var + eps) + beta."""
    invstd = 1.0 / np.sqrt(var + eps)
    return (x - mean[:, None]) * (invstd * gamma)[:, None] + beta[:, None]


def _into(out, channels, results):
    """results (an (N, C, L) array, then (C,) vectors) as they are, or written into
    out's ``channels`` when out is given, and out returned."""
    if out is None:
        return results
    out[0][:, channels] = results[0]
    for whole, part in zip(out[1:], results[1:]):
        whole[channels] = part
    return out
