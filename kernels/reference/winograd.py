"""Winograd's minimal filtering F(m x m, r x r) in plain NumPy: the readable oracle.

A stride-1 convolution with an r x r kernel is cut into output tiles of m x m,
each computed from an input tile of alpha x alpha (alpha = m + r - 1) as

    Y = A^T [ (G g G^T) (.) (B^T d B) ] A

with (.) the elementwise product. Summed over input channels, the elementwise
product becomes one GEMM per transform point (alpha^2 of them):

    M[xi, k, p] = sum_c U[xi, k, c] V[xi, c, p]     U = G w G^T,  V = B^T d B

which costs alpha^2 / m^2 multiplies per output where the direct (im2col)
convolution costs r^2: 16/4 = 4 against 9 for F(2x2, 3x3), 36/16 = 2.25
for F(4x4, 3x3), 36/4 = 9 against 25 for F(2x2, 5x5).

Every step is linear, so its gradient is its transpose (Lavin & Gray, 2016):

    gM = A gY A^T  (tile by tile)        gU = sum_p gM V^T    gw = G^T gU G
    gV = U^T gM                          gd = B gV B^T, added back where the tiles overlap

The data gradient so needs no col2im: it is the same GEMM over the transform
points and the transpose of the input transform; and gM is shared by both
gradients.

Two tile moves do all the work on images, for any matrix ``mat`` (alpha x t)
and tiles of t x t taken every m pixels:

- ``tiles_to_points``: points = mat . tile . mat^T for every tile
  (mat = B^T, t = alpha: the input transform; mat = A, t = m: the output
  gradient's transform);
- ``points_to_tiles``: tile = mat^T . points . mat, added into the image
  (mat = A: the output transform; mat = B^T: the input gradient's transform).

The matrices come from the Cook-Toom construction on the points in ``POINTS``
(Vandermonde matrices and the inverse of one; ``winograd_matrices``).

Layouts: the transforms work on images "batch last", (H, W, L) with L = N*C
innermost, so that every step of a transform is a long contiguous vector
operation. Points are (alpha^2, tiles, L), point xi = u * alpha + v, tile
ty * tiles_w + tx; viewed as (alpha^2, tiles * N, C) they are the right-hand
side of the GEMMs: M = V @ U^T with U = G w G^T of shape (alpha^2, K, C).

>>> at, g, bt = winograd_matrices(2, 3)
>>> bt
array([[ 1.,  0., -1.,  0.],
       [ 0.,  1.,  1.,  0.],
       [ 0., -1.,  1.,  0.],
       [ 0., -1.,  0.,  1.]])
"""

from fractions import Fraction
from functools import cache
from math import lcm

import numpy as np

# The interpolation points of each tile (besides the point at infinity), picked on
# the float32 error they give on network layers (max error over max |value|,
# against float64; benchmarks/winograd_error.py): F(4x4, 3x3) on 0, +-1, 1/2, -2
# loses 10-15 eps where the usual 0, +-1, +-2 loses 27-37; F(2x2, 5x5) on the same
# points 13-27 eps where 0, +-1, +-2 loses 31-71.
POINTS = {
    (2, 3): (0, 1, -1),
    (4, 3): (0, 1, -1, Fraction(1, 2), -2),
    (2, 5): (0, 1, -1, Fraction(1, 2), -2),
    (4, 5): (0, 1, -1, Fraction(1, 2), -2, 2, Fraction(-1, 2)),
}


def _vandermonde(points, columns):
    """Rows [a^0 .. a^(columns-1)] for each finite point, then the leading coefficient
    (the point at infinity) as the last row."""
    rows = [[Fraction(a) ** i for i in range(columns)] for a in points]
    rows.append([Fraction(int(i == columns - 1)) for i in range(columns)])
    return rows


def _inverse(matrix):
    """Exact inverse by Gauss-Jordan elimination on Fractions."""
    n = len(matrix)
    rows = [list(row) + [Fraction(int(i == j)) for j in range(n)] for i, row in enumerate(matrix)]
    for col in range(n):
        pivot = next(r for r in range(col, n) if rows[r][col] != 0)
        rows[col], rows[pivot] = rows[pivot], rows[col]
        rows[col] = [v / rows[col][col] for v in rows[col]]
        for r in range(n):
            if r != col and rows[r][col] != 0:
                rows[r] = [a - rows[r][col] * b for a, b in zip(rows[r], rows[col])]
    return [row[n:] for row in rows]


@cache
def winograd_matrices(m, r):
    """(A^T, G, B^T) of F(m, r) as float64 arrays: m x alpha, alpha x r, alpha x alpha.

    With V_k the alpha x k Vandermonde matrix of the points (infinity last), the
    linear convolution of g (length r) and d (length m) is
    V_alpha^-1 [(V_r g) (.) (V_m d)]; its transpose, the correlation
    y_i = sum_k g_k x_(i+k), is V_m^T [(V_r g) (.) (V_alpha^-T x)]. So
    A^T = V_m^T, G = V_r, B^T = V_alpha^-T; each row of B^T is then scaled to
    small integers and G's row divided by the same factor.
    """
    points = POINTS[(m, r)]
    alpha = m + r - 1
    if len(points) != alpha - 1:
        raise ValueError(f"winograd_matrices: F({m}, {r}) needs {alpha - 1} points, got {points}")
    at = [list(col) for col in zip(*_vandermonde(points, m))]
    g = _vandermonde(points, r)
    inverse = _inverse(_vandermonde(points, alpha))
    bt = [list(col) for col in zip(*inverse)]
    for row in range(alpha):
        scale = Fraction(lcm(*(v.denominator for v in bt[row])))
        bt[row] = [v * scale for v in bt[row]]
        g[row] = [v / scale for v in g[row]]
    return tuple(np.array([[float(v) for v in row] for row in mat]) for mat in (at, g, bt))


def tile_grid(out_h, out_w, m):
    """Tiles of m x m that cover an out_h x out_w output."""
    return -(-out_h // m), -(-out_w // m)


def tiles_to_points(image, mat, m, grid, offset):
    """(H, W, L) -> (alpha^2, th*tw, L): mat . tile . mat^T for each t x t tile taken
    every m pixels of the image zero-padded by ``offset`` (top, left) and as far
    right and down as the tiles reach. L is the batch times the channels, innermost
    (an (H, W, N, C) image is taken as (H, W, N*C))."""
    length = int(np.prod(image.shape[2:]))
    alpha, t = mat.shape
    (th, tw), (oy, ox) = grid, offset
    padded = np.zeros(((th - 1) * m + t, (tw - 1) * m + t) + image.shape[2:], dtype=image.dtype)
    visible = image[:padded.shape[0] - oy, :padded.shape[1] - ox]
    padded[oy:oy + visible.shape[0], ox:ox + visible.shape[1]] = visible
    padded = padded.reshape(padded.shape[0], padded.shape[1], length)
    tiles = np.lib.stride_tricks.sliding_window_view(padded, (t, t), axis=(0, 1))[::m, ::m]
    points = np.einsum("ui,vj,yxlij->uvyxl", mat, mat, tiles)
    return np.ascontiguousarray(points.reshape(alpha * alpha, th * tw, length))


def points_to_tiles(points, mat, m, grid, offset, size):
    """The transpose of ``tiles_to_points``: each tile mat^T . points . mat is added into
    an (h, w, L) image, size = (h, w), at its place (overlapping tiles add; what falls
    outside is dropped)."""
    alpha, t = mat.shape
    (th, tw), (oy, ox), (h, w) = grid, offset, size
    length = points.shape[2]
    tiles = np.einsum("ui,vj,uvyxl->yxlij", mat, mat, points.reshape(alpha, alpha, th, tw, length))
    padded = np.zeros((max((th - 1) * m + t, oy + h), max((tw - 1) * m + t, ox + w), length), dtype=points.dtype)
    for i in range(t):
        for j in range(t):
            padded[i:i + th * m:m, j:j + tw * m:m] += tiles[..., i, j]
    return padded[oy:oy + h, ox:ox + w]


def kernel_to_points(w, g):
    """(K, C, r, r) -> U (alpha^2, K, C) = G w G^T per (k, c)."""
    alpha = g.shape[0]
    u = np.einsum("ui,vj,kcij->uvkc", g, g, w)
    return np.ascontiguousarray(u.reshape(alpha * alpha, *w.shape[:2]))


def points_to_kernel(gu, g):
    """The transpose of ``kernel_to_points``: gw = G^T gU G per (k, c)."""
    alpha = g.shape[0]
    return np.einsum("ui,vj,uvkc->kcij", g, g, gu.reshape(alpha, alpha, *gu.shape[1:]))


def batch_last(images):
    """(N, C, H, W) -> (H, W, N*C), the layout of the tile transforms."""
    n, c, h, w = images.shape
    return np.ascontiguousarray(images.transpose(2, 3, 0, 1)).reshape(h, w, n * c)


def batch_first(image, n):
    """(H, W, N*C) -> (N, C, H, W)."""
    h, w, length = image.shape
    return np.ascontiguousarray(image.reshape(h, w, n, length // n).transpose(2, 3, 0, 1))


def winograd_conv2d(x, w, padding, m):
    """Stride-1 convolution of x (N, C, H, W) with w (K, C, r, r) by F(m, r)."""
    n, c, h, width = x.shape
    k, _, r, _ = w.shape
    at, g, bt = (mat.astype(x.dtype) for mat in winograd_matrices(m, r))
    out_h, out_w = h + 2 * padding[0] - r + 1, width + 2 * padding[1] - r + 1
    grid = tile_grid(out_h, out_w, m)
    v = tiles_to_points(batch_last(x), bt, m, grid, padding).reshape(-1, grid[0] * grid[1] * n, c)
    u = kernel_to_points(w, g)
    y = (v @ u.transpose(0, 2, 1)).reshape(-1, grid[0] * grid[1], n * k)
    return batch_first(points_to_tiles(y, at.T, m, grid, (0, 0), (out_h, out_w)), n)


def winograd_conv2d_backward(x, w, gy, padding, m):
    """(gx, gw) of ``winograd_conv2d`` for the output gradient gy."""
    n, c, h, width = x.shape
    k, _, r, _ = w.shape
    at, g, bt = (mat.astype(x.dtype) for mat in winograd_matrices(m, r))
    grid = tile_grid(gy.shape[2], gy.shape[3], m)
    tiles = grid[0] * grid[1]
    gm = tiles_to_points(batch_last(gy), at.T, m, grid, (0, 0)).reshape(-1, tiles * n, k)
    v = tiles_to_points(batch_last(x), bt, m, grid, padding).reshape(-1, tiles * n, c)
    u = kernel_to_points(w, g)
    gv = (gm @ u).reshape(-1, tiles, n * c)
    gx = batch_first(points_to_tiles(gv, bt, m, grid, padding, (h, width)), n)
    gw = points_to_kernel((v.transpose(0, 2, 1) @ gm).transpose(0, 2, 1), g)
    return gx, gw


def nchw_to_points(images, mat, m, grid, offset):
    """``tiles_to_points`` of NCHW images, read batch last as (H, W, N*C)."""
    return tiles_to_points(batch_last(images), mat, m, grid, offset)


def points_to_nchw(points, mat, m, grid, offset, out):
    """``points_to_tiles`` written into ``out``, NCHW images (N, C, h, w)."""
    out[...] = batch_first(points_to_tiles(points, mat, m, grid, offset, out.shape[2:]), out.shape[0])
    return out
