"""Local response normalization across channels, as in the AlexNet paper.

    scale_c = k + alpha * sum_{|c'-c| <= size//2} x_{c'}^2
    y_c = x_c * scale_c ** -beta
    gx_c = gy_c * scale_c ** -beta
           - 2 * alpha * beta * x_c * sum_{|c'-c| <= size//2} gy_{c'} * y_{c'} / scale_{c'}

``scale`` means S above on every backend (Chainer's CPU and GPU once gave it
two meanings). PyTorch divides alpha by size and, for even sizes, uses an
asymmetric window; the paper and minidl do neither.
"""

import numpy as np


def _window_sum(values, size):
    """Sum over channels c' with |c' - c| <= size // 2, zero beyond the edges."""
    half = size // 2
    channels = values.shape[1]
    padded = np.zeros((values.shape[0], channels + 2 * half) + values.shape[2:], values.dtype)
    padded[:, half:half + channels] = values
    total = np.zeros_like(values)
    for offset in range(2 * half + 1):
        total += padded[:, offset:offset + channels]
    return total


def lrn_forward(x, size, alpha, beta, k):
    """(y, scale) for x of shape (N, C, H, W)."""
    scale = k + alpha * _window_sum(x * x, size)
    y = x * scale ** -beta
    return y.astype(x.dtype, copy=False), scale.astype(x.dtype, copy=False)


def lrn_backward(x, y, scale, gy, size, alpha, beta):
    gx = gy * scale ** -beta - 2 * alpha * beta * x * _window_sum(gy * y / scale, size)
    return gx.astype(x.dtype, copy=False)
