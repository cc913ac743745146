"""Batch normalization over x viewed as (N, C, L), statistics per channel C.

Training forward normalises with the batch mean and the *biased* variance;
eps is added once, where the variance is used, and never stored in it
(Chainer once shipped both mistakes: issues #332 and #4505). The running
statistics (with the unbiased variance) are the op's business, not the kernel's.

    y = gamma * (x - mean) / sqrt(var + eps) + beta
    gx = gamma / sqrt(var + eps) / m * (m * gy - sum(gy) - xhat * sum(gy * xhat)),  m = N * L
"""

import numpy as np


def batch_norm_forward_train(x, gamma, beta, eps):
    """(y, mean, var) for x of shape (N, C, L); mean and var have shape (C,)."""
    mean = x.mean(axis=(0, 2))
    var = ((x - mean[:, None]) ** 2).mean(axis=(0, 2))
    invstd = 1.0 / np.sqrt(var + eps)
    y = (x - mean[:, None]) * (invstd * gamma)[:, None] + beta[:, None]
    return y.astype(x.dtype, copy=False), mean, var


def batch_norm_backward(gy, x, gamma, mean, var, eps):
    """(gx, ggamma, gbeta) of the training forward."""
    m = x.shape[0] * x.shape[2]
    invstd = 1.0 / np.sqrt(var + eps)
    xhat = (x - mean[:, None]) * invstd[:, None]
    gbeta = gy.sum(axis=(0, 2))
    ggamma = (gy * xhat).sum(axis=(0, 2))
    gx = (gamma * invstd / m)[:, None] * (m * gy - gbeta[:, None] - xhat * ggamma[:, None])
    return gx.astype(x.dtype, copy=False), ggamma, gbeta
