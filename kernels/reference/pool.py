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

Adaptive average pooling to (oh, ow) averages window (i, j) of rows
floor(i*H/oh) .. ceil((i+1)*H/oh) - 1 and the same for columns (PyTorch's
rule); windows overlap where the sizes do not divide.

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


def adaptive_windows(size, out):
    """(starts, stops) of the ``out`` windows over ``size`` cells (PyTorch's rule):
    window i covers floor(i*size/out) .. ceil((i+1)*size/out) - 1."""
    i = np.arange(out)
    return (i * size) // out, -(-((i + 1) * size) // out)


def adaptive_avg_pool2d_divisor(x_shape, output_size):
    """(oh, ow) window sizes, in cells."""
    (tops, bottoms), (lefts, rights) = (adaptive_windows(s, o) for s, o in zip(x_shape[2:], output_size))
    return np.outer(bottoms - tops, rights - lefts)


def adaptive_avg_pool2d_forward(x, output_size):
    """y[n, c, i, j]: the mean of window (i, j), its cells summed in row-major order."""
    n, c, h, w = x.shape
    (tops, bottoms), (lefts, rights) = adaptive_windows(h, output_size[0]), adaptive_windows(w, output_size[1])
    divisor = adaptive_avg_pool2d_divisor(x.shape, output_size).astype(x.dtype)
    y = np.empty((n, c) + tuple(output_size), dtype=x.dtype)
    for i, (top, bottom) in enumerate(zip(tops, bottoms)):
        for j, (left, right) in enumerate(zip(lefts, rights)):
            total = np.zeros((n, c), dtype=x.dtype)
            for row in range(top, bottom):
                for col in range(left, right):
                    total += x[:, :, row, col]
            y[:, :, i, j] = total / divisor[i, j]
    return y


def adaptive_avg_pool2d_backward(gy, x_shape):
    """Each window's gradient / its cells, added to its cells window by window (row-major)."""
    h, w = x_shape[2:]
    (tops, bottoms), (lefts, rights) = adaptive_windows(h, gy.shape[2]), adaptive_windows(w, gy.shape[3])
    share = gy / adaptive_avg_pool2d_divisor(x_shape, gy.shape[2:]).astype(gy.dtype)
    gx = np.zeros(x_shape, dtype=gy.dtype)
    for i, (top, bottom) in enumerate(zip(tops, bottoms)):
        for j, (left, right) in enumerate(zip(lefts, rights)):
            gx[:, :, top:bottom, left:right] += share[:, :, i, j, None, None]
    return gx
