"""Deformable im2col and its adjoints as Numba loops, with the layout and the
formulas of ``kernels/reference/deform_conv.py``.

The work is cut into units, one per (image, offset group): the sampling
points of a unit are shared by all its channels, so a unit first fills small
tables with each tap's four corner indices (clipped into the image) and the
coefficients of the four corner values in the sample, in its two derivatives
and in the modulated column (zero for a corner outside the image); every
channel of the group then reads them. Those tables stay in the cache (K *
oh*ow entries: 576 for a 3x3 kernel on 8x8).

Each unit writes only its own outputs: its channels' rows of the columns, its
group's channels of the input gradient, its own offsets' and mask's gradients.
So the scatter of the input gradient needs no atomics and no locks, and each
pixel's sum is made in one fixed order (channel, tap, output pixel) whatever
the threads do: the CPU results are deterministic. (On the GPU the same
scatter uses atomics, see ``kernels/cuda/deform_conv.cu``.)

Small jobs run on the calling thread with the GIL released (``deform_conv2d``
runs its batch slices on threads of its own, ``minidl.threads``); large ones
share their units out among Numba's threads.

>>> import numpy as np
>>> x = np.arange(9, dtype=np.float64).reshape(1, 1, 3, 3)
>>> offset = np.zeros((1, 2, 3, 3)); offset[:, 0] = 0.5      # half a row down
>>> deform_im2col(x, offset, None, (1, 1), (1, 1), (0, 0), (1, 1)).reshape(3, 3)
array([[1.5, 2.5, 3.5],
       [4.5, 5.5, 6.5],
       [3. , 3.5, 4. ]])
"""

import math

import numpy as np
from numba import njit, prange, uint64

from minidl.kernels.cpu.conv import BLOCKS, PARALLEL_BYTES, conv_output_size


@njit(cache=True, nogil=True)
def _tables(offset, mask, modulated, b, g, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, index, coef):
    """Fill the unit (b, g)'s tables, one entry q = k*oh*ow + p per tap and output pixel.

    ``index[a, q]`` is corner a's flat index in the plane (a = 00, 01, 10, 11; clipped
    into the image), and ``coef[r, a, q]`` is what multiplies corner a's value in:
    r = 0 the sample S (bilinear weight), r = 1 dS/dpy, r = 2 dS/dpx, each zero for a
    corner outside the image; r = 3 the forward column, mask * r0."""
    taps, pixels = kh * kw, oh * ow
    for k in range(taps):
        i, j = k // kw, k % kw
        dy_row = (b * offset.shape[1] + (g * taps + k) * 2) * pixels
        m_row = (b * mask.shape[1] + g * taps + k) * pixels
        for p in range(pixels):
            oy, ox = p // ow, p % ow
            q = k * pixels + p
            py = (oy * sh - ph + i * dh) + offset.flat[dy_row + p]
            px = (ox * sw - pw + j * dw) + offset.flat[dy_row + pixels + p]
            y0, x0 = math.floor(py), math.floor(px)
            fy, fx = py - y0, px - x0
            scale = mask.flat[m_row + p] if modulated else 1.0
            a = 0
            for dy_corner, wy, sy in ((0, 1.0 - fy, -1.0), (1, fy, 1.0)):
                for dx_corner, wx, sx in ((0, 1.0 - fx, -1.0), (1, fx, 1.0)):
                    y, x = y0 + dy_corner, x0 + dx_corner
                    if 0 <= y < h and 0 <= x < w:
                        index[a, q] = y * w + x
                        coef[0, a, q] = wy * wx
                        coef[1, a, q] = sy * wx
                        coef[2, a, q] = wy * sx
                        coef[3, a, q] = scale * wy * wx
                    else:
                        index[a, q] = 0
                        coef[0, a, q] = coef[1, a, q] = coef[2, a, q] = coef[3, a, q] = 0.0
                    a += 1


@njit(cache=True, nogil=True)
def _scratch(x, taps, pixels):
    """Tables for one unit: corner indices (unsigned: Numba checks every signed index for
    Python's negative wraparound, which slows the gathers) and coefficients in x's dtype."""
    q = taps * pixels
    return np.empty((4, q), dtype=np.uint64), np.empty((4, 4, q), dtype=x.dtype)


@njit(cache=True, nogil=True)
def _im2col_units(x, offset, mask, modulated, cols, first, last, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow):
    """Fill the columns of units first .. last-1 (unit = image * G + group)."""
    _, c, h, w = x.shape
    taps, pixels = kh * kw, oh * ow
    groups = offset.shape[1] // (2 * taps)
    per_group, columns = c // groups, cols.shape[1]
    index, coef = _scratch(x, taps, pixels)
    i0, i1, i2, i3 = index[0], index[1], index[2], index[3]
    w0, w1, w2, w3 = coef[3, 0], coef[3, 1], coef[3, 2], coef[3, 3]
    src, dst = x.reshape(-1), cols.reshape(-1)
    for unit in range(first, last):
        b, g = unit // groups, unit % groups
        _tables(offset, mask, modulated, b, g, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, index, coef)
        for ch in range(g * per_group, (g + 1) * per_group):
            plane = uint64((b * c + ch) * h * w)
            for k in range(taps):
                row = uint64((ch * taps + k) * columns + b * pixels)
                start = uint64(k * pixels)
                for p in range(uint64(pixels)):
                    q = start + p
                    dst[row + p] = (w0[q] * src[plane + i0[q]] + w1[q] * src[plane + i1[q]]
                                    + w2[q] * src[plane + i2[q]] + w3[q] * src[plane + i3[q]])


@njit(cache=True, nogil=True)
def _col2im_units(cols, gx, offset, mask, modulated, first, last, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow):
    """Scatter the column gradient of units first .. last-1 into gx (zeroed by the caller)."""
    _, c, h, w = gx.shape
    taps, pixels = kh * kw, oh * ow
    groups = offset.shape[1] // (2 * taps)
    per_group, columns = c // groups, cols.shape[1]
    index, coef = _scratch(gx, taps, pixels)
    i0, i1, i2, i3 = index[0], index[1], index[2], index[3]
    w0, w1, w2, w3 = coef[3, 0], coef[3, 1], coef[3, 2], coef[3, 3]
    src, dst = cols.reshape(-1), gx.reshape(-1)
    for unit in range(first, last):
        b, g = unit // groups, unit % groups
        _tables(offset, mask, modulated, b, g, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, index, coef)
        for ch in range(g * per_group, (g + 1) * per_group):
            plane = uint64((b * c + ch) * h * w)
            for k in range(taps):
                row = uint64((ch * taps + k) * columns + b * pixels)
                start = uint64(k * pixels)
                for p in range(uint64(pixels)):
                    q = start + p
                    gc = src[row + p]
                    dst[plane + i0[q]] += w0[q] * gc
                    dst[plane + i1[q]] += w1[q] * gc
                    dst[plane + i2[q]] += w2[q] * gc
                    dst[plane + i3[q]] += w3[q] * gc


@njit(cache=True, nogil=True)
def _coord_units(cols, x, offset, mask, modulated, g_offset, g_mask, first, last,
                 kh, kw, sh, sw, ph, pw, dh, dw, oh, ow):
    """The offset and mask gradients of units first .. last-1 (zeroed by the caller):
    per channel, the sample and its two derivatives, times the column gradient; the
    mask is applied to the offset gradient once, after the sum over the channels."""
    _, c, h, w = x.shape
    taps, pixels = kh * kw, oh * ow
    groups = offset.shape[1] // (2 * taps)
    per_group, columns = c // groups, cols.shape[1]
    index, coef = _scratch(x, taps, pixels)
    i0, i1, i2, i3 = index[0], index[1], index[2], index[3]
    src, image, go, gm = cols.reshape(-1), x.reshape(-1), g_offset.reshape(-1), g_mask.reshape(-1)
    for unit in range(first, last):
        b, g = unit // groups, unit % groups
        _tables(offset, mask, modulated, b, g, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow, index, coef)
        for ch in range(g * per_group, (g + 1) * per_group):
            plane = uint64((b * c + ch) * h * w)
            for k in range(taps):
                row = uint64((ch * taps + k) * columns + b * pixels)
                start = uint64(k * pixels)
                dy_row = uint64((b * g_offset.shape[1] + (g * taps + k) * 2) * pixels)
                m_row = uint64((b * g_mask.shape[1] + g * taps + k) * pixels)
                for p in range(uint64(pixels)):
                    q = start + p
                    gc = src[row + p]
                    v0, v1 = image[plane + i0[q]], image[plane + i1[q]]
                    v2, v3 = image[plane + i2[q]], image[plane + i3[q]]
                    go[dy_row + p] += gc * (coef[1, 0, q] * v0 + coef[1, 1, q] * v1
                                            + coef[1, 2, q] * v2 + coef[1, 3, q] * v3)
                    go[dy_row + pixels + p] += gc * (coef[2, 0, q] * v0 + coef[2, 1, q] * v1
                                                     + coef[2, 2, q] * v2 + coef[2, 3, q] * v3)
                    if modulated:
                        gm[m_row + p] += gc * (coef[0, 0, q] * v0 + coef[0, 1, q] * v1
                                               + coef[0, 2, q] * v2 + coef[0, 3, q] * v3)
        if modulated:
            for k in range(taps):
                dy_row = (b * g_offset.shape[1] + (g * taps + k) * 2) * pixels
                m_row = (b * mask.shape[1] + g * taps + k) * pixels
                for p in range(pixels):
                    scale = mask.flat[m_row + p]
                    go[dy_row + p] *= scale
                    go[dy_row + pixels + p] *= scale


@njit(parallel=True, cache=True)
def _im2col_parallel(x, offset, mask, modulated, cols, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow):
    units = x.shape[0] * (offset.shape[1] // (2 * kh * kw))
    blocks = min(units, BLOCKS)
    for block in prange(blocks):
        _im2col_units(x, offset, mask, modulated, cols, block * units // blocks,
                      (block + 1) * units // blocks, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)


@njit(parallel=True, cache=True)
def _col2im_parallel(cols, gx, offset, mask, modulated, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow):
    units = gx.shape[0] * (offset.shape[1] // (2 * kh * kw))
    blocks = min(units, BLOCKS)
    for block in prange(blocks):
        _col2im_units(cols, gx, offset, mask, modulated, block * units // blocks,
                      (block + 1) * units // blocks, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)


@njit(parallel=True, cache=True)
def _coord_parallel(cols, x, offset, mask, modulated, g_offset, g_mask, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow):
    units = x.shape[0] * (offset.shape[1] // (2 * kh * kw))
    blocks = min(units, BLOCKS)
    for block in prange(blocks):
        _coord_units(cols, x, offset, mask, modulated, g_offset, g_mask, block * units // blocks,
                     (block + 1) * units // blocks, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)


def _prepared(x_shape, offset, mask, kernel_size, stride, padding, dilation, dtype):
    """(contiguous offset, contiguous mask or a stand-in, modulated, geometry)."""
    n, c, h, w = x_shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    oh = conv_output_size(h, kh, sh, ph, dh)
    ow = conv_output_size(w, kw, sw, pw, dw)
    offset = np.ascontiguousarray(offset, dtype=dtype)
    modulated = mask is not None
    # Without a mask the kernels never read it; a one-element array keeps one signature.
    mask = np.ascontiguousarray(mask, dtype=dtype) if modulated else np.ones((1, 1, 1, 1), dtype=dtype)
    return offset, mask, modulated, (kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)


def deform_im2col(x, offset, mask, kernel_size, stride, padding, dilation):
    """(N, C, H, W) -> (C*kh*kw, N*oh*ow): the sampled, modulated columns."""
    x = np.ascontiguousarray(x)
    offset, mask, modulated, geometry = _prepared(x.shape, offset, mask, kernel_size, stride,
                                                  padding, dilation, x.dtype)
    n, c = x.shape[:2]
    kh, kw, *_, oh, ow = geometry
    cols = np.empty((c * kh * kw, n * oh * ow), dtype=x.dtype)
    if cols.nbytes < PARALLEL_BYTES:
        units = n * (offset.shape[1] // (2 * kh * kw))
        _im2col_units(x, offset, mask, modulated, cols, 0, units, *geometry)
    else:
        _im2col_parallel(x, offset, mask, modulated, cols, *geometry)
    return cols


def deform_col2im(cols, x_shape, offset, mask, kernel_size, stride, padding, dilation):
    """The input gradient: every column entry scattered to its four corners."""
    n, c, h, w = (int(s) for s in x_shape)
    cols = np.ascontiguousarray(cols)
    offset, mask, modulated, geometry = _prepared((n, c, h, w), offset, mask, kernel_size, stride,
                                                  padding, dilation, cols.dtype)
    kh, kw, *_ = geometry
    gx = np.zeros((n, c, h, w), dtype=cols.dtype)
    if cols.nbytes < PARALLEL_BYTES:
        _col2im_units(cols, gx, offset, mask, modulated, 0, n * (offset.shape[1] // (2 * kh * kw)), *geometry)
    else:
        _col2im_parallel(cols, gx, offset, mask, modulated, *geometry)
    return gx


def deform_col2im_coord(cols, x, offset, mask, kernel_size, stride, padding, dilation):
    """(offset gradient, mask gradient or None) for the column gradient ``cols``."""
    x, cols = np.ascontiguousarray(x), np.ascontiguousarray(cols)
    had_mask = mask is not None
    offset, mask, modulated, geometry = _prepared(x.shape, offset, mask, kernel_size, stride,
                                                  padding, dilation, x.dtype)
    kh, kw, *_ = geometry
    g_offset = np.zeros(offset.shape, dtype=x.dtype)
    g_mask = np.zeros(mask.shape, dtype=x.dtype)
    if cols.nbytes < PARALLEL_BYTES:
        units = x.shape[0] * (offset.shape[1] // (2 * kh * kw))
        _coord_units(cols, x, offset, mask, modulated, g_offset, g_mask, 0, units, *geometry)
    else:
        _coord_parallel(cols, x, offset, mask, modulated, g_offset, g_mask, *geometry)
    return g_offset, (g_mask if had_mask else None)
