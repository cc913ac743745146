"""Winograd tile transforms as Numba loops, with the layouts of ``kernels/reference/winograd.py``.

The GEMMs over the transform points are BLAS's (``np.matmul`` on stacks);
these kernels do what is left: moving tiles in and out of the transform
domain. Images are batch last, (H, W, L) with L = images x channels, so
each pixel is a contiguous vector of L values and every step of a transform
is an ``axpy`` over such vectors, which LLVM vectorises; the separable
product mat . tile . mat^T is done in two passes (down, then across), and
zero entries of the matrix (half of them for F(2x2, 3x3)) are skipped.

These kernels are the CPU's only: they are not part of ``minidl.kernels.INTERFACE``
(no CUDA set has them), and conv2d reaches them through
``minidl.functional.conv_algorithms``, whose rule picks Winograd on the CPU alone.

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


# The vectors are cut into chunks of this many values, so that a tile's
# intermediate rows (alpha x t chunks) stay in the L1 cache while the two
# passes run over them: without it the transforms ran at a fifth of the speed.
CHUNK = 256


@njit(cache=True, inline="always")
def _axpy(dst, dst_start, src, src_start, coef, count):
    """dst[dst_start + k] += coef * src[src_start + k] for k < count."""
    d, s = uint64(dst_start), uint64(src_start)
    for k in range(uint64(count)):
        dst[d + k] += coef * src[s + k]


@njit(cache=True, inline="always")
def _zero(dst, start, count):
    d = uint64(start)
    for k in range(uint64(count)):
        dst[d + k] = 0


@njit(cache=True, inline="always")
def _combine(dst, dst_start, src, starts, coefs, count):
    """dst[dst_start + k] = sum_j coefs[j] * src[starts[j] + k] over the nonzero coefs:
    the first term written, the others added (no pass to zero dst first)."""
    written = False
    for j in range(len(coefs)):
        if coefs[j] != 0:
            if written:
                _axpy(dst, dst_start, src, starts[j], coefs[j], count)
            else:
                d, s, coef = uint64(dst_start), uint64(starts[j]), coefs[j]
                for k in range(uint64(count)):
                    dst[d + k] = coef * src[s + k]
                written = True
    if not written:
        _zero(dst, dst_start, count)


@njit(cache=True, nogil=True)
def _tiles_to_points(padded, mat, m, th, tw, points):
    alpha, t = mat.shape
    pw, length = padded.shape[1], padded.shape[2]
    src, dst = padded.reshape(-1), points.reshape(-1)
    down = np.empty(alpha * t * CHUNK, dtype=padded.dtype)
    starts = np.empty(t, dtype=np.int64)
    for first in range(0, length, CHUNK):
        count = min(CHUNK, length - first)
        for ty in range(th):
            for tx in range(tw):
                # down[u, j] = sum_i mat[u, i] * tile[i, j]
                for j in range(t):
                    for i in range(t):
                        starts[i] = ((ty * m + i) * pw + tx * m + j) * length + first
                    for u in range(alpha):
                        _combine(down, (u * t + j) * CHUNK, src, starts, mat[u], count)
                # points[u, v] = sum_j mat[v, j] * down[u, j]
                for u in range(alpha):
                    for j in range(t):
                        starts[j] = (u * t + j) * CHUNK
                    for v in range(alpha):
                        _combine(dst, ((u * alpha + v) * th * tw + ty * tw + tx) * length + first,
                                 down, starts, mat[v], count)


@njit(cache=True, nogil=True)
def _points_to_tiles(points, mat, m, th, tw, padded):
    alpha, t = mat.shape
    pw, length = padded.shape[1], padded.shape[2]
    src, dst = points.reshape(-1), padded.reshape(-1)
    across = np.empty(alpha * t * CHUNK, dtype=padded.dtype)
    starts = np.empty(alpha, dtype=np.int64)
    mat_t = np.ascontiguousarray(mat.T)
    dst[:] = 0
    for first in range(0, length, CHUNK):
        count = min(CHUNK, length - first)
        for ty in range(th):
            for tx in range(tw):
                # across[u, j] = sum_v mat[v, j] * points[u, v]
                for u in range(alpha):
                    for v in range(alpha):
                        starts[v] = ((u * alpha + v) * th * tw + ty * tw + tx) * length + first
                    for j in range(t):
                        _combine(across, (u * t + j) * CHUNK, src, starts, mat_t[j], count)
                # tile[i, j] += sum_u mat[u, i] * across[u, j]
                for i in range(t):
                    for j in range(t):
                        out = ((ty * m + i) * pw + tx * m + j) * length + first
                        for u in range(alpha):
                            if mat[u, i] != 0:
                                _axpy(dst, out, across, (u * t + j) * CHUNK, mat[u, i], count)


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


# Channels moved at once between NCHW and batch-last: a block of image rows is read
# (or written) row by row while the block's pixels stay in the L1 cache. NumPy's
# strided copy of the same transpose took 1.5 to 4 times as long on ResNet-20's
# layers (0.09-0.44 ms against 0.10-0.18 per slice), depending on the shape.
CHANNEL_BLOCK = 16


@njit(cache=True, nogil=True)
def _nchw_into_padded(images, padded, oy, ox, vh, vw):
    n, c = images.shape[:2]
    for b in range(n):
        for first in range(0, c, CHANNEL_BLOCK):
            last = min(c, first + CHANNEL_BLOCK)
            for y in range(vh):
                for ch in range(first, last):
                    for x in range(vw):
                        padded[oy + y, ox + x, b * c + ch] = images[b, ch, y, x]


@njit(cache=True, nogil=True)
def _padded_into_nchw(padded, oy, ox, out):
    n, c, h, w = out.shape
    for b in range(n):
        for first in range(0, c, CHANNEL_BLOCK):
            last = min(c, first + CHANNEL_BLOCK)
            for y in range(h):
                for ch in range(first, last):
                    for x in range(w):
                        out[b, ch, y, x] = padded[oy + y, ox + x, b * c + ch]


def nchw_to_points(images, mat, m, grid, offset):
    """``tiles_to_points`` of NCHW images (any strides), read batch last as (H, W, N*C)."""
    n, c, h, w = images.shape
    alpha, t = mat.shape
    (th, tw), (oy, ox) = grid, offset
    padded = np.zeros(((th - 1) * m + t, (tw - 1) * m + t, n * c), dtype=images.dtype)
    _nchw_into_padded(images, padded, oy, ox, min(h, padded.shape[0] - oy), min(w, padded.shape[1] - ox))
    points = np.empty((alpha * alpha, th * tw, n * c), dtype=images.dtype)
    _tiles_to_points(padded, mat.astype(images.dtype), m, th, tw, points)
    return points


def points_to_nchw(points, mat, m, grid, offset, out):
    """``points_to_tiles`` written into ``out``, NCHW images (N, C, h, w), C-contiguous."""
    n, c, h, w = out.shape
    alpha, t = mat.shape
    (th, tw), (oy, ox) = grid, offset
    padded = np.empty((max((th - 1) * m + t, oy + h), max((tw - 1) * m + t, ox + w), n * c), dtype=points.dtype)
    _points_to_tiles(np.ascontiguousarray(points), mat.astype(points.dtype), m, th, tw, padded)
    _padded_into_nchw(padded, oy, ox, out)
    return out
