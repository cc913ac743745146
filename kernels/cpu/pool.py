"""Max and average pooling as Numba kernels, one parallel task per (n, c) plane.

Names, arguments and results are those of ``minidl.kernels.reference.pool``.
A window is clipped to the input instead of reading a padded copy: padding
cells are -inf for max pooling and 0 for the sum of average pooling, so
skipping them changes nothing, and no padded array is ever built. Backward
passes scatter into their own plane only, so the planes run in parallel
without races.

Max pooling scans each window in row-major order with a strictly-greater
test, so ties go to the first maximum, and the argmax is the tap ``i*kw + j``
relative to the window. A NaN wins over every number (the first NaN of a
window is its maximum), as in the reference and PyTorch.

Adaptive average pooling sums each window's cells in the reference's order
and its backward adds the windows in the reference's order, so both equal the
reference bit for bit.

Average pooling divides by the window's cells inside the zero-padded input
(PyTorch's ``count_include_pad=True``, with the ceil_mode overhang left out).
It sums each window's taps in the reference's order and divides by the same
divisor, so the forward equals the reference bit for bit. Both backward
passes add up an input cell's gradients in another order than the reference
where windows overlap.

>>> import numpy as np
>>> x = np.array([[[[1.0, 1.0], [0.0, 1.0]]]])
>>> y, argmax = max_pool2d_forward(x, (2, 2), (2, 2), (0, 0), (1, 1))
>>> y.item(), argmax.item()
(1.0, 0)
>>> max_pool2d_backward(np.array([[[[5.0]]]]), argmax, x.shape, (2, 2), (2, 2), (0, 0))[0, 0]
array([[5., 0.],
       [0., 0.]])
"""

import numpy as np
from numba import njit, prange

from minidl.kernels.reference.pool import adaptive_avg_pool2d_divisor, adaptive_windows, avg_pool2d_divisor


@njit(cache=True, error_model="numpy")
def _clip(start, kernel, size):
    """The taps [first, stop) of a window starting at ``start`` that fall inside 0..size-1."""
    return max(0, -start), min(kernel, size - start)


@njit(cache=True, error_model="numpy")
def _first_nan_tap(plane, top, left, i0, i1, j0, j1, kw):
    for i in range(i0, i1):
        for j in range(j0, j1):
            if np.isnan(plane[top + i, left + j]):
                return i * kw + j
    return -1


@njit(cache=True, inline="always", error_model="numpy")
def _scan_window(x, p, top, left, i0, i1, j0, j1, kw, lowest):
    """(maximum, its tap, whether a NaN was seen) over the window's taps inside the input.

    A branch-free select in registers: 1.5 times as fast as an if, whose outcome
    the CPU cannot predict. NaNs are only noted here; the rare window that has
    one is scanned again for the first.
    """
    best = lowest
    tap = 0
    seen_nan = False
    for i in range(i0, i1):
        for j in range(j0, j1):
            value = x[p, top + i, left + j]
            greater = value > best
            best = value if greater else best
            tap = i * kw + j if greater else tap
            seen_nan |= value != value
    return best, tap, seen_nan


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _max_pool2d_forward(x, kh, kw, sh, sw, ph, pw, y, argmax):
    planes, h, w = x.shape
    # -inf in x's dtype: with a float64 best, every comparison would be a float64 one.
    lowest = np.full(1, -np.inf, dtype=x.dtype)[0]
    oh, ow = y.shape[1:]
    for p in prange(planes):
        for oy in range(oh):
            top = oy * sh - ph
            i0, i1 = _clip(top, kh, h)
            for ox in range(ow):
                left = ox * sw - pw
                j0, j1 = _clip(left, kw, w)
                # Inside the input the window's loops have constant bounds, which LLVM
                # compiles to faster code than the clipped ones.
                if i1 - i0 == kh and j1 - j0 == kw:
                    best, tap, seen_nan = _scan_window(x, p, top, left, 0, kh, 0, kw, kw, lowest)
                else:
                    best, tap, seen_nan = _scan_window(x, p, top, left, i0, i1, j0, j1, kw, lowest)
                if seen_nan:
                    tap = _first_nan_tap(x[p], top, left, i0, i1, j0, j1, kw)
                    best = x[p, top + tap // kw, left + tap % kw]  # that NaN, in x's dtype
                y[p, oy, ox] = best
                argmax[p, oy, ox] = tap


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _max_pool2d_backward(gy, argmax, tap_rows, tap_cols, sh, sw, ph, pw, gx):
    planes, h, w = gx.shape
    oh, ow = gy.shape[1:]
    for p in prange(planes):
        for oy in range(oh):
            for ox in range(ow):
                tap = argmax[p, oy, ox]
                row = oy * sh - ph + tap_rows[tap]
                col = ox * sw - pw + tap_cols[tap]
                # A window whose input cells are all -inf keeps tap 0, maybe in the padding.
                if 0 <= row < h and 0 <= col < w:
                    gx[p, row, col] += gy[p, oy, ox]


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _avg_pool2d_forward(x, kh, kw, sh, sw, ph, pw, first, stop, divisor, y):
    planes, h, w = x.shape
    oh, ow = y.shape[1:]
    for p in prange(planes):
        for oy in range(oh):
            top = oy * sh - ph
            i0, i1 = _clip(top, kh, h)
            for ox in range(ow):
                y[p, oy, ox] = 0
            # Taps outside, outputs inside: each output sums its taps in row-major order.
            for i in range(i0, i1):
                for j in range(kw):
                    for ox in range(first[j], stop[j]):
                        y[p, oy, ox] += x[p, top + i, ox * sw - pw + j]
            for ox in range(ow):
                y[p, oy, ox] /= divisor[oy, ox]


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _avg_pool2d_backward(gy, kh, kw, sh, sw, ph, pw, first, stop, divisor, gx):
    planes, h, w = gx.shape
    oh, ow = gy.shape[1:]
    for p in prange(planes):
        share = np.empty(ow, dtype=gx.dtype)
        for oy in range(oh):
            top = oy * sh - ph
            i0, i1 = _clip(top, kh, h)
            for ox in range(ow):
                share[ox] = gy[p, oy, ox] / divisor[oy, ox]
            for i in range(i0, i1):
                for j in range(kw):
                    for ox in range(first[j], stop[j]):
                        gx[p, top + i, ox * sw - pw + j] += share[ox]


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _adaptive_avg_pool2d_forward(x, tops, bottoms, lefts, rights, divisor, y):
    planes = x.shape[0]
    oh, ow = y.shape[1:]
    for p in prange(planes):
        for i in range(oh):
            for j in range(ow):
                y[p, i, j] = 0  # summed in y: a local would be float64 for float32 input
                for row in range(tops[i], bottoms[i]):
                    for col in range(lefts[j], rights[j]):
                        y[p, i, j] += x[p, row, col]
                y[p, i, j] /= divisor[i, j]


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _adaptive_avg_pool2d_backward(gy, tops, bottoms, lefts, rights, divisor, gx):
    planes = gx.shape[0]
    oh, ow = gy.shape[1:]
    for p in prange(planes):
        for i in range(oh):
            for j in range(ow):
                share = gy[p, i, j] / divisor[i, j]
                for row in range(tops[i], bottoms[i]):
                    for col in range(lefts[j], rights[j]):
                        gx[p, row, col] += share


def _planes(array):
    """(N, C, H, W) as a C-contiguous (N*C, H, W) view (a copy only if it must)."""
    n, c, h, w = array.shape
    return np.ascontiguousarray(array).reshape(n * c, h, w)


def _column_ranges(width, kernel, stride, padding, out):
    """For each tap column j, the outputs [first[j], stop[j]) whose tap j lies inside the input."""
    j = np.arange(kernel)
    first = np.maximum(0, -((j - padding) // stride))
    stop = np.minimum(out, -((j - padding - width) // stride))
    return first, np.maximum(first, stop)


def _divisor(x_shape, kernel_size, stride, padding, output_size, dtype):
    return avg_pool2d_divisor(x_shape, kernel_size, stride, padding, output_size).astype(dtype)


def max_pool2d_forward(x, kernel_size, stride, padding, output_size):
    """(y, argmax): y[n, c, oy, ox] is the window's maximum, argmax its tap (int32)."""
    n, c = x.shape[:2]
    y = np.empty((n, c) + tuple(output_size), dtype=x.dtype)
    argmax = np.empty((n, c) + tuple(output_size), dtype=np.int32)
    _max_pool2d_forward(_planes(x), *kernel_size, *stride, *padding, _planes(y), _planes(argmax))
    return y, argmax


def max_pool2d_backward(gy, argmax, x_shape, kernel_size, stride, padding):
    """Each output gradient goes to the input cell its window's argmax names."""
    # Row and column of each tap, looked up: an integer division per output costs more
    # than all the rest of the loop.
    tap_rows, tap_cols = np.divmod(np.arange(kernel_size[0] * kernel_size[1]), kernel_size[1])
    gx = np.zeros(x_shape, dtype=gy.dtype)
    _max_pool2d_backward(
        _planes(gy), _planes(argmax), tap_rows, tap_cols, *stride, *padding, _planes(gx)
    )
    return gx


def avg_pool2d_forward(x, kernel_size, stride, padding, output_size):
    n, c, _, w = x.shape
    y = np.empty((n, c) + tuple(output_size), dtype=x.dtype)
    first, stop = _column_ranges(w, kernel_size[1], stride[1], padding[1], output_size[1])
    divisor = _divisor(x.shape, kernel_size, stride, padding, output_size, x.dtype)
    _avg_pool2d_forward(
        _planes(x), *kernel_size, *stride, *padding, first, stop, divisor, _planes(y)
    )
    return y


def avg_pool2d_backward(gy, x_shape, kernel_size, stride, padding):
    output_size = gy.shape[2:]
    first, stop = _column_ranges(x_shape[3], kernel_size[1], stride[1], padding[1], output_size[1])
    divisor = _divisor(x_shape, kernel_size, stride, padding, output_size, gy.dtype)
    gx = np.zeros(x_shape, dtype=gy.dtype)
    _avg_pool2d_backward(
        _planes(gy), *kernel_size, *stride, *padding, first, stop, divisor, _planes(gx)
    )
    return gx


def _adaptive_geometry(x_shape, output_size, dtype):
    (tops, bottoms), (lefts, rights) = (adaptive_windows(s, o) for s, o in zip(x_shape[2:], output_size))
    return tops, bottoms, lefts, rights, adaptive_avg_pool2d_divisor(x_shape, output_size).astype(dtype)


def adaptive_avg_pool2d_forward(x, output_size):
    """y[n, c, i, j]: the mean of window (i, j), its cells summed in the reference's order."""
    y = np.empty(x.shape[:2] + tuple(output_size), dtype=x.dtype)
    _adaptive_avg_pool2d_forward(_planes(x), *_adaptive_geometry(x.shape, output_size, x.dtype), _planes(y))
    return y


def adaptive_avg_pool2d_backward(gy, x_shape):
    """Window by window, as the reference adds them: equal to it bit for bit."""
    gx = np.zeros(x_shape, dtype=gy.dtype)
    _adaptive_avg_pool2d_backward(_planes(gy), *_adaptive_geometry(x_shape, gy.shape[2:], gy.dtype), _planes(gx))
    return gx
