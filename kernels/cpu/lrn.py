"""Local response normalization: Numba kernels for the channel sums, NumPy for the power.

Names, arguments and results are those of ``minidl.kernels.reference.lrn``:

    scale_c = k + alpha * sum_{|c'-c| <= size//2} x_{c'}^2        (alpha NOT divided by size)
    y_c = x_c * scale_c ** -beta
    gx_c = gy_c * scale_c ** -beta
           - 2 * alpha * beta * x_c * sum_{|c'-c| <= size//2} gy_{c'} * y_{c'} / scale_{c'}

Each parallel task writes one (n, c) plane, adding up the planes of its
window with the loop over pixels innermost and on 1-D views, so it
vectorises. ``scale ** -beta`` is left to NumPy, whose power is vectorised
(a scalar pow per element in Numba costs more than all the sums). Every sum
and product is taken in x's dtype in the reference's order, so the results
equal the reference bit for bit.

>>> import numpy as np
>>> x = np.ones((1, 3, 1, 1))
>>> y, scale = lrn_forward(x, 3, 1.0, 1.0, 1.0)
>>> scale.ravel(), y.ravel()
(array([3., 4., 3.]), array([0.33333333, 0.25      , 0.33333333]))
"""

import numpy as np
from numba import njit, prange

@njit(cache=True, error_model="numpy")
def _window(c, half, channels):
    return max(0, c - half), min(channels, c + half + 1)


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _scale(x, half, alpha, k, scale):
    """scale = k + alpha * (window sum of x^2)."""
    n, channels, pixels = x.shape
    for plane in prange(n * channels):
        i, c = plane // channels, plane % channels
        lo, hi = _window(c, half, channels)
        out = scale[i, c]
        out[:] = 0
        for other in range(lo, hi):
            values = x[i, other]
            for q in range(pixels):
                out[q] += values[q] * values[q]
        for q in range(pixels):
            out[q] = k + alpha * out[q]


@njit(parallel=True, cache=True, nogil=True, error_model="numpy")
def _coupling(x, y, scale, gy, half, coefficient, out):
    """out = coefficient * x * (window sum of gy * y / scale), the neighbours' part of gx."""
    n, channels, pixels = x.shape
    ratio = np.empty_like(x)
    for plane in prange(n * channels):
        i, c = plane // channels, plane % channels
        r, g, v, s = ratio[i, c], gy[i, c], y[i, c], scale[i, c]
        for q in range(pixels):
            r[q] = g[q] * v[q] / s[q]
    for plane in prange(n * channels):
        i, c = plane // channels, plane % channels
        lo, hi = _window(c, half, channels)
        total = out[i, c]
        total[:] = 0
        for other in range(lo, hi):
            r = ratio[i, other]
            for q in range(pixels):
                total[q] += r[q]
        values = x[i, c]
        for q in range(pixels):
            total[q] = coefficient * values[q] * total[q]


def _flat(array):
    """(N, C, H, W) as a C-contiguous (N, C, H*W) view (a copy only if it must)."""
    n, c = array.shape[:2]
    return np.ascontiguousarray(array).reshape(n, c, array.shape[2] * array.shape[3])  # not -1: N may be 0


def lrn_forward(x, size, alpha, beta, k):
    """(y, scale) for x of shape (N, C, H, W)."""
    typed = x.dtype.type
    scale = np.empty(x.shape, dtype=x.dtype)
    _scale(_flat(x), size // 2, typed(alpha), typed(k), _flat(scale))
    y = np.power(scale, typed(-beta))
    y *= x
    return y, scale


def lrn_backward(x, y, scale, gy, size, alpha, beta):
    typed = x.dtype.type
    coupling = np.empty(x.shape, dtype=x.dtype)
    _coupling(_flat(x), _flat(y), _flat(scale), _flat(gy), size // 2, typed(2 * alpha * beta),
              _flat(coupling))
    gx = np.power(scale, typed(-beta))
    gx *= gy
    gx -= coupling
    return gx
