"""Deformable im2col and its adjoints on the GPU: launchers for deform_conv.cu.

Same names, arguments and layouts as ``minidl.kernels.reference.deform_conv``.
The input gradient is a scatter with atomicAdd (its sampling points are data,
so it cannot be a gather), so its last bits may vary from run to run; the
offset and mask gradients are gathers and deterministic. See deform_conv.cu.
"""

import numpy as np

from minidl.kernels.cuda import loader
from minidl.kernels.reference.conv import conv_output_size


def _args(op, x_shape, offset, kernel_size, stride, padding, dilation):
    """(oh, ow, the kernel's size arguments after ``modulated``)."""
    n, c, h, w = (int(s) for s in x_shape)
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    oh = conv_output_size(h, kh, sh, ph, dh)
    ow = conv_output_size(w, kw, sw, pw, dw)
    groups = offset.shape[1] // (2 * kh * kw)
    expected = (n, 2 * groups * kh * kw, oh, ow)
    if tuple(offset.shape) != expected or groups == 0 or c % groups:
        raise ValueError(f"{op} (CUDA): offset of shape {tuple(offset.shape)} does not fit input "
                         f"{(n, c, h, w)} and kernel {kernel_size}: expected {expected}, G dividing {c}")
    loader.int32(op, entries=c * kh * kw * n * oh * ow)  # the column rows in 32-bit ints
    args = loader.int32(
        op, batch=n, channels=c, height=h, width=w, groups=groups, kernel_h=kh, kernel_w=kw,
        stride_h=sh, stride_w=sw, pad_h=ph, pad_w=pw, dilation_h=dh, dilation_w=dw, out_h=oh, out_w=ow,
    )
    return oh, ow, args


def _mask_args(cp, offset, mask, dtype):
    """(offset, mask, modulated) as the kernels take them: offset stands in for an absent
    mask, which the kernels then never read."""
    offset = cp.ascontiguousarray(offset, dtype=dtype)
    if mask is None:
        return offset, offset, np.int32(0)
    return offset, cp.ascontiguousarray(mask, dtype=dtype), np.int32(1)


def deform_im2col(x, offset, mask, kernel_size, stride, padding, dilation):
    """(N, C, H, W) -> (C*kh*kw, N*oh*ow): the sampled, modulated columns."""
    cp = loader.cupy()
    dtype = loader.float_dtype("deform_im2col", x, offset)
    x = cp.ascontiguousarray(x)
    n, c = x.shape[:2]
    oh, ow, args = _args("deform_im2col", x.shape, offset, kernel_size, stride, padding, dilation)
    offset, mask, modulated = _mask_args(cp, offset, mask, dtype)
    cols = cp.empty((c * kernel_size[0] * kernel_size[1], n * oh * ow), dtype=dtype)
    kernel = loader.function("deform_conv.cu", "deform_im2col", dtype)
    loader.launch(kernel, c * n * oh * ow, (x, offset, mask, cols, modulated) + args)
    return cols


def deform_col2im(cols, x_shape, offset, mask, kernel_size, stride, padding, dilation):
    """The input gradient: every column entry scattered (atomicAdd) to its four corners."""
    cp = loader.cupy()
    dtype = loader.float_dtype("deform_col2im", cols, offset)
    _, _, args = _args("deform_col2im", x_shape, offset, kernel_size, stride, padding, dilation)
    offset, mask, modulated = _mask_args(cp, offset, mask, dtype)
    cols = cp.ascontiguousarray(cols)
    gx = cp.zeros(tuple(int(s) for s in x_shape), dtype=dtype)
    kernel = loader.function("deform_conv.cu", "deform_col2im", dtype)
    loader.launch(kernel, cols.size, (cols, offset, mask, gx, modulated) + args)
    return gx


def deform_col2im_coord(cols, x, offset, mask, kernel_size, stride, padding, dilation):
    """(offset gradient, mask gradient or None) for the column gradient ``cols``."""
    cp = loader.cupy()
    dtype = loader.float_dtype("deform_col2im_coord", cols, x, offset)
    _, _, args = _args("deform_col2im_coord", x.shape, offset, kernel_size, stride, padding, dilation)
    had_mask = mask is not None
    offset, mask, modulated = _mask_args(cp, offset, mask, dtype)
    cols, x = cp.ascontiguousarray(cols), cp.ascontiguousarray(x)
    g_offset = cp.empty(offset.shape, dtype=dtype)
    g_mask = cp.empty(mask.shape, dtype=dtype) if had_mask else g_offset
    kernel = loader.function("deform_conv.cu", "deform_col2im_coord", dtype)
    loader.launch(kernel, offset.size // 2, (cols, x, offset, mask, g_offset, g_mask, modulated) + args)
    return g_offset, (g_mask if had_mask else None)
