"""im2col / col2im on the GPU: launchers for the kernels in conv.cu.

Same names, arguments and layout as ``minidl.kernels.reference.conv``:
``cols`` has shape (C*kh*kw, N*oh*ow) and
``cols[(c, i, j), (n, y, x)] = x_padded[n, c, y*sh + i*dh, x*sw + j*dw]``.
col2im is a gather (one thread per input pixel), so it is deterministic.
"""

from minidl.kernels.cuda import loader
from minidl.kernels.reference.conv import conv_output_size


def _geometry(op, x_shape, kernel_size, stride, padding, dilation):
    """(oh, ow, kernel arguments after the two pointers)."""
    n, c, h, w = x_shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    oh = conv_output_size(h, kh, sh, ph, dh)
    ow = conv_output_size(w, kw, sw, pw, dw)
    loader.int32(op, columns=n * oh * ow, rows=c * kh * kw)  # 32-bit in the kernels
    args = loader.int32(
        op, batch=n, channels=c, height=h, width=w, kernel_h=kh, kernel_w=kw,
        stride_h=sh, stride_w=sw, pad_h=ph, pad_w=pw, dilation_h=dh, dilation_w=dw,
        out_h=oh, out_w=ow,
    )
    return oh, ow, args


def im2col(x, kernel_size, stride, padding, dilation):
    """(N, C, H, W) -> (C*kh*kw, N*oh*ow), the columns of a convolution."""
    cp = loader.cupy()
    dtype = loader.float_dtype("im2col", x)
    x = cp.ascontiguousarray(x)
    n, c = x.shape[:2]
    kh, kw = kernel_size
    oh, ow, args = _geometry("im2col", x.shape, kernel_size, stride, padding, dilation)
    cols = cp.empty((c * kh * kw, n * oh * ow), dtype=dtype)
    kernel = loader.function("conv.cu", "im2col", dtype)
    loader.launch(kernel, c * n * oh * ow, (x, cols) + args)
    return cols


def col2im(cols, x_shape, kernel_size, stride, padding, dilation):
    """The adjoint of im2col: each pixel sums the column entries that came from it."""
    cp = loader.cupy()
    dtype = loader.float_dtype("col2im", cols)
    n, c, h, w = (int(s) for s in x_shape)
    kh, kw = kernel_size
    oh, ow, args = _geometry("col2im", (n, c, h, w), kernel_size, stride, padding, dilation)
    expected = (c * kh * kw, n * oh * ow)
    if cols.size != expected[0] * expected[1]:
        raise ValueError(
            f"col2im (CUDA): cols of shape {cols.shape} do not fit x_shape {tuple(x_shape)} "
            f"with kernel {kernel_size}, stride {stride}, padding {padding}, dilation {dilation}: "
            f"expected {expected}"
        )
    cols = cp.ascontiguousarray(cols)
    x = cp.empty((n, c, h, w), dtype=dtype)
    kernel = loader.function("conv.cu", "col2im", dtype)
    loader.launch(kernel, x.size, (cols, x) + args)
    return x

