"""Max and average pooling in plain NumPy: a loop over the kh*kw window taps.

``output_size`` is passed in (the op decides it from ceil_mode); a window may
then run past the bottom/right padding, and those cells count as absent.

Max pooling returns, beside the output, the argmax relative to the window
(tap ``i*kw + j``); a strictly-greater test keeps the first maximum on ties.
A NaN in a window wins over every number, as in PyTorch, so max pooling
never hides a NaN: the output is NaN and the argmax names the first NaN.
Average pooling divides by the window's cells inside the zero-padded input
(padding counted, the ceil_mode overhang beyond it not), as PyTorch does with
``count_include_pad=True``.

>>> import numpy as np
>>> x = np.array([[[[1.0, 1.0], [0.0, 1.0]]]])
>>> y, argmax = max_pool2d_forward(x, (2, 2), (2, 2), (0, 0), (1, 1))
>>> y.item(), argmax.item()
(1.0, 0)
"""

import numpy as np


def _taps(kernel_size, stride, output_size):
    """(i, j, row slice, column slice) for every window tap, in row-major order."""
    (kh, kw), (sh, sw), (oh, ow) = kernel_size, stride, output_size
    for i in range(kh):
        for j in range(kw):
            yield i, j, slice(i, i + sh * (oh - 1) + 1, sh), slice(j, j + sw * (ow - 1) + 1, sw)


def _padded(x, kernel_size, stride, padding, output_size, fill):
    """x inside a frame of ``fill`` wide enough for every window, overhang included."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (oh, ow) = kernel_size, stride, padding, output_size
    full_h = max(h + 2 * ph, (oh - 1) * sh + kh)
    full_w = max(w + 2 * pw, (ow - 1) * sw + kw)
    padded = np.full((n, c, full_h, full_w), fill, dtype=x.dtype)
    padded[:, :, ph:ph + h, pw:pw + w] = x
    return padded


def max_pool2d_forward(x, kernel_size, stride, padding, output_size):
    """(y, argmax): y[n, c, oy, ox] is the window's maximum, argmax its tap (int32)."""
    padded = _padded(x, kernel_size, stride, padding, output_size, -np.inf)
    n, c = x.shape[:2]
    y = np.full((n, c) + tuple(output_size), -np.inf, dtype=x.dtype)
    argmax = np.zeros((n, c) + tuple(output_size), dtype=np.int32)
    for i, j, rows, cols in _taps(kernel_size, stride, output_size):
        value = padded[:, :, rows, cols]
        better = (value > y) | (np.isnan(value) & ~np.isnan(y))
        y[better] = value[better]
        argmax[better] = i * kernel_size[1] + j
    return y, argmax


def max_pool2d_backward(gy, argmax, x_shape, kernel_size, stride, padding):
    """Each output gradient goes to the input cell its window's argmax names."""
    output_size = gy.shape[2:]
    n, c, h, w = x_shape
    ph, pw = padding
    gx = _padded(np.zeros(x_shape, gy.dtype), kernel_size, stride, padding, output_size, 0)
    for i, j, rows, cols in _taps(kernel_size, stride, output_size):
        gx[:, :, rows, cols] += np.where(argmax == i * kernel_size[1] + j, gy, 0)
    return np.ascontiguousarray(gx[:, :, ph:ph + h, pw:pw + w])


def avg_pool2d_divisor(x_shape, kernel_size, stride, padding, output_size):
    """(oh, ow) window sizes: cells inside the zero-padded input, the overhang left out."""
    h, w = x_shape[2:]
    (kh, kw), (sh, sw), (ph, pw), (oh, ow) = kernel_size, stride, padding, output_size
    top = np.arange(oh) * sh - ph
    left = np.arange(ow) * sw - pw
    rows = np.minimum(top + kh, h + ph) - top
    cols = np.minimum(left + kw, w + pw) - left
    return np.outer(rows, cols)


def avg_pool2d_forward(x, kernel_size, stride, padding, output_size):
    padded = _padded(x, kernel_size, stride, padding, output_size, 0)
    total = np.zeros(x.shape[:2] + tuple(output_size), dtype=x.dtype)
    for _, _, rows, cols in _taps(kernel_size, stride, output_size):
        total += padded[:, :, rows, cols]
    divisor = avg_pool2d_divisor(x.shape, kernel_size, stride, padding, output_size)
    return total / divisor.astype(x.dtype)


def avg_pool2d_backward(gy, x_shape, kernel_size, stride, padding):
    output_size = gy.shape[2:]
    n, c, h, w = x_shape
    ph, pw = padding
    divisor = avg_pool2d_divisor(x_shape, kernel_size, stride, padding, output_size)
    share = gy / divisor.astype(gy.dtype)
    gx = _padded(np.zeros(x_shape, gy.dtype), kernel_size, stride, padding, output_size, 0)
    for _, _, rows, cols in _taps(kernel_size, stride, output_size):
        gx[:, :, rows, cols] += share
    return np.ascontiguousarray(gx[:, :, ph:ph + h, pw:pw + w])
