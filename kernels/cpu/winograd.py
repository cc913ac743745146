"""Winograd tile transforms as Numba loops, with the layouts of ``kernels/reference/winograd.py``.

The GEMMs over the transform points are BLAS's (``np.matmul`` on stacks);
these kernels do what is left: moving tiles in and out of the transform
domain. Images are batch last, (H, W, L) with L = images x channels, so
each pixel is a contiguous vector of L values and every step of a transform
is a weighted sum of such vectors, which LLVM vectorises; the separable
product mat . tile . mat^T is done in two passes (down, then across), each
output row summed in registers from its 2 to 8 input rows (``_dot``).

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
    tile_grid,
    winograd_matrices,
)


# The vectors are cut into chunks of this many values, so that a tile's
# intermediate rows (alpha x t chunks) stay in the L1 cache while the two
# passes run over them: without it the transforms ran at a fifth of the speed.
CHUNK = 256


# One output row of a transform pass: dst[d + k] (+)= sum_i c[i] * src[s[i] + k] for
# k < count, over 2, 4, 6 or 8 terms (the transforms' t and alpha), summed in
# registers and written once; an axpy per term (read dst, read src, write dst)
# cost a tenth more on ResNet-20's 16-channel layers. The terms are added left
# to right after dst's value, the order of those axpys, and a zero coefficient
# adds a zero: the results are the axpys' to the bit (so training runs, LeNet-5's
# 2-epoch accuracy among them, do not move).

@njit(cache=True, inline="always")
def _dot2(dst, d, src, s, c, count, add):
    d, s0, s1 = uint64(d), uint64(s[0]), uint64(s[1])
    c0, c1 = c[0], c[1]
    for k in range(uint64(count)):
        if add:
            dst[d + k] = dst[d + k] + c0 * src[s0 + k] + c1 * src[s1 + k]
        else:
            dst[d + k] = c0 * src[s0 + k] + c1 * src[s1 + k]


@njit(cache=True, inline="always")
def _dot4(dst, d, src, s, c, count, add):
    d, s0, s1, s2, s3 = uint64(d), uint64(s[0]), uint64(s[1]), uint64(s[2]), uint64(s[3])
    c0, c1, c2, c3 = c[0], c[1], c[2], c[3]
    for k in range(uint64(count)):
        if add:
            dst[d + k] = dst[d + k] + c0 * src[s0 + k] + c1 * src[s1 + k] + c2 * src[s2 + k] + c3 * src[s3 + k]
        else:
            dst[d + k] = c0 * src[s0 + k] + c1 * src[s1 + k] + c2 * src[s2 + k] + c3 * src[s3 + k]


@njit(cache=True, inline="always")
def _dot6(dst, d, src, s, c, count, add):
    d, s0, s1, s2 = uint64(d), uint64(s[0]), uint64(s[1]), uint64(s[2])
    s3, s4, s5 = uint64(s[3]), uint64(s[4]), uint64(s[5])
    c0, c1, c2, c3, c4, c5 = c[0], c[1], c[2], c[3], c[4], c[5]
    for k in range(uint64(count)):
        if add:
            dst[d + k] = (dst[d + k] + c0 * src[s0 + k] + c1 * src[s1 + k] + c2 * src[s2 + k]
                          + c3 * src[s3 + k] + c4 * src[s4 + k] + c5 * src[s5 + k])
        else:
            dst[d + k] = (c0 * src[s0 + k] + c1 * src[s1 + k] + c2 * src[s2 + k]
                          + c3 * src[s3 + k] + c4 * src[s4 + k] + c5 * src[s5 + k])


@njit(cache=True, inline="always")
def _dot8(dst, d, src, s, c, count, add):
    d, s0, s1, s2, s3 = uint64(d), uint64(s[0]), uint64(s[1]), uint64(s[2]), uint64(s[3])
    s4, s5, s6, s7 = uint64(s[4]), uint64(s[5]), uint64(s[6]), uint64(s[7])
    c0, c1, c2, c3, c4, c5, c6, c7 = c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]
    for k in range(uint64(count)):
        if add:
            dst[d + k] = (dst[d + k] + c0 * src[s0 + k] + c1 * src[s1 + k] + c2 * src[s2 + k] + c3 * src[s3 + k]
                          + c4 * src[s4 + k] + c5 * src[s5 + k] + c6 * src[s6 + k] + c7 * src[s7 + k])
        else:
            dst[d + k] = (c0 * src[s0 + k] + c1 * src[s1 + k] + c2 * src[s2 + k] + c3 * src[s3 + k]
                          + c4 * src[s4 + k] + c5 * src[s5 + k] + c6 * src[s6 + k] + c7 * src[s7 + k])


@njit(cache=True, inline="always")
def _dot(dst, d, src, s, c, count, add):
    """The output row, by the number of terms (len(c): 2, 4, 6 or 8; the callers check)."""
    n = len(c)
    if n == 2:
        _dot2(dst, d, src, s, c, count, add)
    elif n == 4:
        _dot4(dst, d, src, s, c, count, add)
    elif n == 6:
        _dot6(dst, d, src, s, c, count, add)
    else:
        _dot8(dst, d, src, s, c, count, add)


TERMS = (2, 4, 6, 8)


def _check_terms(mat):
    if mat.shape[0] not in TERMS or mat.shape[1] not in TERMS:
        raise ValueError(f"winograd: a transform matrix must be n x m with n and m in {TERMS}, got {mat.shape}")


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
                        _dot(down, (u * t + j) * CHUNK, src, starts, mat[u], count, False)
                # points[u, v] = sum_j mat[v, j] * down[u, j]
                for u in range(alpha):
                    for j in range(t):
                        starts[j] = (u * t + j) * CHUNK
                    for v in range(alpha):
                        _dot(dst, ((u * alpha + v) * th * tw + ty * tw + tx) * length + first,
                             down, starts, mat[v], count, False)


@njit(cache=True, nogil=True)
def _points_to_tiles(points, mat, m, th, tw, padded):
    alpha, t = mat.shape
    pw, length = padded.shape[1], padded.shape[2]
    src, dst = points.reshape(-1), padded.reshape(-1)
    across = np.empty(alpha * t * CHUNK, dtype=padded.dtype)
    starts = np.empty(alpha, dtype=np.int64)
    mat_t = np.ascontiguousarray(mat.T)
    # Tiles of t = m pixels every m pixels that cover the whole image (the forward's
    # output transform) write each pixel once: no zeroing, no read of dst.
    overlap = not (t == m and padded.shape[0] == th * m and padded.shape[1] == tw * m)
    if overlap:
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
                        _dot(across, (u * t + j) * CHUNK, src, starts, mat_t[j], count, False)
                # tile[i, j] += sum_u mat[u, i] * across[u, j]  (tiles overlap when alpha > m)
                for j in range(t):
                    for u in range(alpha):
                        starts[u] = (u * t + j) * CHUNK
                    for i in range(t):
                        _dot(dst, ((ty * m + i) * pw + tx * m + j) * length + first,
                             across, starts, mat_t[i], count, overlap)


def tiles_to_points(image, mat, m, grid, offset, out=None):
    """(H, W, L) -> (alpha^2, th*tw, L): mat . tile . mat^T for each t x t tile taken
    every m pixels of the image zero-padded by ``offset`` (top, left). ``image`` may
    be any view, and (H, W, N, C) for L = N*C (the padding copy reads it: NCHW images
    go in as ``x.transpose(2, 3, 0, 1)``); ``out``, if given, receives the points."""
    _check_terms(mat)
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
    _check_terms(mat)
    alpha, t = mat.shape
    (th, tw), (oy, ox), (h, w) = grid, offset, size
    padded = np.empty((max((th - 1) * m + t, oy + h), max((tw - 1) * m + t, ox + w), points.shape[2]),
                      dtype=points.dtype)
    _points_to_tiles(np.ascontiguousarray(points), mat.astype(points.dtype), m, th, tw, padded)
    return padded[oy:oy + h, ox:ox + w]


def kernel_to_points(w, g):
    """(K, C, r, r) -> U (alpha^2, K, C) = G w G^T per (k, c), as two GEMMs: across
    (w . G^T for all K*C*r kernel rows at once), then down (G . that). The
    reference's three-operand einsum took 1.6 ms on a 64-channel 3x3 kernel, these
    0.2: ResNet-20 makes it once per conv per step, on the calling thread alone."""
    k, c, r, _ = w.shape
    alpha = g.shape[0]
    g = g.astype(w.dtype)
    across = np.ascontiguousarray(w).reshape(-1, r) @ g.T  # [(k, c, i), v]
    across = across.reshape(k * c, r, alpha).transpose(1, 0, 2).reshape(r, -1)  # [i, (k, c, v)]
    points = (g @ across).reshape(alpha, k * c, alpha)  # [u, (k, c), v]
    return np.ascontiguousarray(points.transpose(0, 2, 1)).reshape(alpha * alpha, k, c)


def points_to_kernel(gu, g):
    """The transpose of ``kernel_to_points``: gw (K, C, r, r) = G^T gU G per (k, c), from
    gU (alpha^2, K, C), as two GEMMs (the reference's einsum: 3.9 ms on a 64-channel
    3x3 kernel, these 0.1)."""
    _, k, c = gu.shape
    alpha, r = g.shape
    g = g.astype(gu.dtype)
    down = g.T @ np.ascontiguousarray(gu).reshape(alpha, -1)  # [i, (v, k, c)]
    down = down.reshape(r, alpha, k * c).transpose(0, 2, 1)  # [i, (k, c), v]
    kernel = down @ g  # [i, (k, c), j]
    return np.ascontiguousarray(kernel.transpose(1, 0, 2)).reshape(k, c, r, r)


# Channels moved at once between NCHW and batch-last: a block of image rows is read
# (or written) row by row while the block's pixels stay in the L1 cache. NumPy's
# strided copy of the same transpose took 1.5 to 4 times as long on ResNet-20's
# layers (0.09-0.44 ms against 0.10-0.18 per slice), depending on the shape. With
# unsigned loop indices (no negative-index checks) the kernels below took 0.035-0.05
# ms a slice instead of 0.08-0.10.
CHANNEL_BLOCK = 16


@njit(cache=True, nogil=True)
def _nchw_into_padded(images, padded, oy, ox, vh, vw):
    n, c = images.shape[:2]
    c, oy, ox, block = uint64(c), uint64(oy), uint64(ox), uint64(CHANNEL_BLOCK)
    for b in range(uint64(n)):
        for first in range(uint64(0), c, block):
            last = min(c, first + block)
            for y in range(uint64(vh)):
                for ch in range(first, last):
                    for x in range(uint64(vw)):
                        padded[oy + y, ox + x, b * c + ch] = images[b, ch, y, x]


@njit(cache=True, nogil=True)
def _padded_into_nchw(padded, oy, ox, out):
    n, c, h, w = out.shape
    c, oy, ox, block = uint64(c), uint64(oy), uint64(ox), uint64(CHANNEL_BLOCK)
    for b in range(uint64(n)):
        for first in range(uint64(0), c, block):
            last = min(c, first + block)
            for y in range(uint64(h)):
                for ch in range(first, last):
                    for x in range(uint64(w)):
                        out[b, ch, y, x] = padded[oy + y, ox + x, b * c + ch]


def nchw_to_points(images, mat, m, grid, offset):
    """``tiles_to_points`` of NCHW images (any strides), read batch last as (H, W, N*C)."""
    _check_terms(mat)
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
    _check_terms(mat)
    n, c, h, w = out.shape
    alpha, t = mat.shape
    (th, tw), (oy, ox) = grid, offset
    padded = np.empty((max((th - 1) * m + t, oy + h), max((tw - 1) * m + t, ox + w), n * c), dtype=points.dtype)
    _points_to_tiles(np.ascontiguousarray(points), mat.astype(points.dtype), m, th, tw, padded)
    _padded_into_nchw(padded, oy, ox, out)
    return out
