"""Winograd tile transforms as Numba loops, with the layouts of ``kernels/reference/winograd.py``.

The GEMMs over the transform points are BLAS's (``np.matmul`` on stacks);
these kernels do what is left: moving tiles in and out of the transform
domain. Images are batch last, (H, W, L) with L = images x channels, so
each pixel is a contiguous vector of L values and every step of a transform
is an ``axpy`` over such vectors, which LLVM vectorises; the separable
product mat . tile . mat^T is done in two passes (down, then across), and
zero entries of the matrix (half of them for F(2x2, 3x3)) are skipped.

Both kernels run on the calling thread with the GIL released (conv2d runs
its batch slices side by side on its own threads, ``minidl.threads``).
``points_to_tiles`` adds overlapping tiles in one fixed order, so its sums
are the same on every run. As in ``conv.py``, the loops index with unsigned
integers: Numba's check for negative indices keeps LLVM from vectorising.

>>> import numpy as np
>>> from minidl.kernels.reference.winograd import winograd_matrices
>>> at, g, bt = winograd_matrices(2, 3)
>>> x = np.arange(16.0).reshape(4, 4, 1)
>>> tiles_to_points(x, bt, 2, (1, 1), (0, 0))[:, 0, 0]
array([  0., -16.,   0.,   0.,  -4.,  30.,   2.,   4.,   0.,   8.,   0.,
         0.,   0.,  16.,   0.,   0.])
"""

import numpy as np
from numba import njit, uint64

from minidl.kernels.reference.winograd import (  # noqa: F401  (NumPy is the kernel for these)
    batch_first,
    batch_last,
    kernel_to_points,
    points_to_kernel,
    tile_grid,
    winograd_matrices,
)


@njit(cache=True, inline="always")
def _axpy(dst, src, coef):
    """dst += coef * src over two contiguous vectors."""
    for k in range(uint64(dst.shape[0])):
        dst[k] += coef * src[k]


@njit(cache=True, nogil=True)
def _tiles_to_points(padded, mat, m, th, tw, points):
    alpha, t = mat.shape
    length = padded.shape[2]
    down = np.empty((alpha, t, length), dtype=padded.dtype)
    for ty in range(th):
        for tx in range(tw):
            # down[u, j] = sum_i mat[u, i] * tile[i, j]
            for u in range(alpha):
                for j in range(t):
                    down[u, j, :] = 0
                    for i in range(t):
                        if mat[u, i] != 0:
                            _axpy(down[u, j], padded[ty * m + i, tx * m + j], mat[u, i])
            # points[u, v] = sum_j mat[v, j] * down[u, j]
            for u in range(alpha):
                for v in range(alpha):
                    out = points[u * alpha + v, ty * tw + tx]
                    out[:] = 0
                    for j in range(t):
                        if mat[v, j] != 0:
                            _axpy(out, down[u, j], mat[v, j])


@njit(cache=True, nogil=True)
def _points_to_tiles(points, mat, m, th, tw, padded):
    alpha, t = mat.shape
    length = padded.shape[2]
    across = np.empty((alpha, t, length), dtype=padded.dtype)
    padded[:] = 0
    for ty in range(th):
        for tx in range(tw):
            # across[u, j] = sum_v mat[v, j] * points[u, v]
            for u in range(alpha):
                for j in range(t):
                    across[u, j, :] = 0
                    for v in range(alpha):
                        if mat[v, j] != 0:
                            _axpy(across[u, j], points[u * alpha + v, ty * tw + tx], mat[v, j])
            # tile[i, j] += sum_u mat[u, i] * across[u, j]
            for i in range(t):
                for j in range(t):
                    dst = padded[ty * m + i, tx * m + j]
                    for u in range(alpha):
                        if mat[u, i] != 0:
                            _axpy(dst, across[u, j], mat[u, i])


def tiles_to_points(image, mat, m, grid, offset, out=None):
    """(H, W, L) -> (alpha^2, th*tw, L): mat . tile . mat^T for each t x t tile taken
    every m pixels of the image zero-padded by ``offset`` (top, left). ``image`` may
    be any view, and (H, W, N, C) for L = N*C (the padding copy reads it: NCHW images
    go in as ``x.transpose(2, 3, 0, 1)``); ``out``, if given, receives the points."""
    length = int(np.prod(image.shape[2:]))
    alpha, t = mat.shape
    (th, tw), (oy, ox) = grid, offset
    padded = np.zeros(((th - 1) * m + t, (tw - 1) * m + t) + image.shape[2:], dtype=image.dtype)
    visible = image[:padded.shape[0] - oy, :padded.shape[1] - ox]
    padded[oy:oy + visible.shape[0], ox:ox + visible.shape[1]] = visible
    padded = padded.reshape(padded.shape[0], padded.shape[1], length)
    if out is None:
        out = np.empty((alpha * alpha, th * tw, length), dtype=image.dtype)
    _tiles_to_points(padded, mat.astype(image.dtype), m, th, tw, out)
    return out


def points_to_tiles(points, mat, m, grid, offset, size):
    """The transpose of ``tiles_to_points``: the tiles mat^T . points . mat added into
    an (h, w, L) image, size = (h, w) (overlapping tiles add; what falls outside is
    dropped). Returns a view whose rows (L values) are contiguous."""
    alpha, t = mat.shape
    (th, tw), (oy, ox), (h, w) = grid, offset, size
    padded = np.empty((max((th - 1) * m + t, oy + h), max((tw - 1) * m + t, ox + w), points.shape[2]),
                      dtype=points.dtype)
    _points_to_tiles(np.ascontiguousarray(points), mat.astype(points.dtype), m, th, tw, padded)
    return padded[oy:oy + h, ox:ox + w]
