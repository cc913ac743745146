"""im2col / col2im as Numba loops, with the layout of ``kernels/reference/conv.py``.

``cols[(c, i, j), (n, y, x)] = x_padded[n, c, y*sh + i*dh, x*sw + j*dw]``

Both kernels work one (n, c) image plane at a time; large jobs share the
planes out among threads, small ones (``PARALLEL_BYTES``) run on the calling
thread. A plane is copied into (or summed in) a zero-padded scratch plane that
stays in the L1 cache, so padding costs no branch in the inner loops; each
kernel tap (i, j) is then a strided read of the scratch plane into its own row
of ``cols`` (or a strided add back). col2im is therefore a gather: a thread
adds into its own planes only, so no two threads write one pixel and the sums
are made in the same order on every run.

The loops index flat arrays with unsigned integers: Numba checks every signed
index for Python's negative wraparound, and that check alone keeps LLVM from
vectorising the copies (it made them three to five times slower).

>>> import numpy as np
>>> x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
>>> im2col(x, (2, 2), (2, 2), (0, 0), (1, 1))
array([[ 0.,  2.,  8., 10.],
       [ 1.,  3.,  9., 11.],
       [ 4.,  6., 12., 14.],
       [ 5.,  7., 13., 15.]])
>>> col2im(np.ones((4, 4)), (1, 1, 4, 4), (2, 2), (2, 2), (0, 0), (1, 1))[0, 0]
array([[1., 1., 1., 1.],
       [1., 1., 1., 1.],
       [1., 1., 1., 1.],
       [1., 1., 1., 1.]])
"""

import numpy as np
from numba import njit, prange, uint64

from minidl.kernels.reference.conv import conv_output_size

# Jobs with fewer bytes of columns run on the calling thread, releasing the GIL
# (conv2d runs its cache-sized slices on threads of its own, minidl.threads).
# Waking Numba's thread pool for a job this small costs more than it saves,
# and its threads then spin for a while, taking the cores from the GEMM that
# follows (on two cores a GEMM right after a parallel region ran 30 times slower).
PARALLEL_BYTES = 8 * 2**20
# Larger jobs are cut into this many blocks of planes, each with one scratch
# plane: enough to balance the load on any core count, few enough to allocate cheaply.
BLOCKS = 64


@njit(cache=True, inline="always")
def _copy(src, src_start, src_step, dst, dst_start, dst_step, count):
    """dst[dst_start + k*dst_step] = src[src_start + k*src_step] for k < count."""
    s, ss = uint64(src_start), uint64(src_step)
    d, ds = uint64(dst_start), uint64(dst_step)
    if ss == 1 and ds == 1:  # the common case, written out so that it vectorises
        for k in range(uint64(count)):
            dst[d + k] = src[s + k]
    else:
        for k in range(uint64(count)):
            dst[d + k * ds] = src[s + k * ss]


@njit(cache=True, inline="always")
def _add(src, src_start, dst, dst_start, dst_step, count):
    """dst[dst_start + k*dst_step] += src[src_start + k] for k < count."""
    s, d, ds = uint64(src_start), uint64(dst_start), uint64(dst_step)
    if ds == 1:
        for k in range(uint64(count)):
            dst[d + k] += src[s + k]
    else:
        for k in range(uint64(count)):
            dst[d + k * ds] += src[s + k]


@njit(cache=True, nogil=True)
def _im2col_planes(x, cols, first, last, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow):
    """Fill the columns of image planes first .. last-1 (plane = n*C + c)."""
    _, c, h, w = x.shape
    wp = w + 2 * pw
    src, dst, row_length = x.reshape(-1), cols.reshape(-1), cols.shape[1]
    padded = np.zeros((h + 2 * ph) * wp, dtype=x.dtype)  # its border stays zero
    for plane in range(first, last):
        b, ch = plane // c, plane % c
        for y in range(h):
            _copy(src, (plane * h + y) * w, 1, padded, (y + ph) * wp + pw, 1, w)
        for i in range(kh):
            for j in range(kw):
                row = ((ch * kh + i) * kw + j) * row_length + b * oh * ow
                for oy in range(oh):
                    _copy(padded, (oy * sh + i * dh) * wp + j * dw, sw, dst, row + oy * ow, 1, ow)


@njit(cache=True, nogil=True)
def _col2im_planes(cols, x, first, last, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow):
    """Sum the columns back into image planes first .. last-1."""
    _, c, h, w = x.shape
    wp = w + 2 * pw
    src, dst, row_length = cols.reshape(-1), x.reshape(-1), cols.shape[1]
    padded = np.empty((h + 2 * ph) * wp, dtype=x.dtype)
    for plane in range(first, last):
        b, ch = plane // c, plane % c
        padded[:] = 0
        for i in range(kh):
            for j in range(kw):
                row = ((ch * kh + i) * kw + j) * row_length + b * oh * ow
                for oy in range(oh):
                    _add(src, row + oy * ow, padded, (oy * sh + i * dh) * wp + j * dw, sw, ow)
        for y in range(h):
            _copy(padded, (y + ph) * wp + pw, 1, dst, (plane * h + y) * w, 1, w)


@njit(parallel=True, cache=True)
def _im2col_parallel(x, cols, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow):
    planes = x.shape[0] * x.shape[1]
    blocks = min(planes, BLOCKS)
    for block in prange(blocks):
        first, last = block * planes // blocks, (block + 1) * planes // blocks
        _im2col_planes(x, cols, first, last, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)


@njit(parallel=True, cache=True)
def _col2im_parallel(cols, x, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow):
    planes = x.shape[0] * x.shape[1]
    blocks = min(planes, BLOCKS)
    for block in prange(blocks):
        first, last = block * planes // blocks, (block + 1) * planes // blocks
        _col2im_planes(cols, x, first, last, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)


def im2col(x, kernel_size, stride, padding, dilation):
    """(N, C, H, W) -> (C*kh*kw, N*oh*ow), the columns of a convolution."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    oh = conv_output_size(h, kh, sh, ph, dh)
    ow = conv_output_size(w, kw, sw, pw, dw)
    cols = np.empty((c * kh * kw, n * oh * ow), dtype=x.dtype)
    geometry = (kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)
    x = np.ascontiguousarray(x)
    if cols.nbytes < PARALLEL_BYTES:
        _im2col_planes(x, cols, 0, n * c, *geometry)
    else:
        _im2col_parallel(x, cols, *geometry)
    return cols


def col2im(cols, x_shape, kernel_size, stride, padding, dilation):
    """The adjoint of im2col: every column entry is added back to the pixel it came from."""
    n, c, h, w = x_shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    oh = conv_output_size(h, kh, sh, ph, dh)
    ow = conv_output_size(w, kw, sw, pw, dw)
    x = np.empty((n, c, h, w), dtype=cols.dtype)
    cols = np.ascontiguousarray(cols).reshape(c * kh * kw, n * oh * ow)
    geometry = (kh, kw, sh, sw, ph, pw, dh, dw, oh, ow)
    if cols.nbytes < PARALLEL_BYTES:
        _col2im_planes(cols, x, 0, n * c, *geometry)
    else:
        _col2im_parallel(cols, x, *geometry)
    return x
