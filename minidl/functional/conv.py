"""2-D convolution (cross-correlation, as every framework means it), NCHW.

    y[n, o, oy, ox] = b[o] + sum_{c in group(o), i, j}
                      w[o, c, i, j] * x_padded[n, c, oy*sh + i*dh, ox*sw + j*dw]

Forward is one im2col for the whole batch and one GEMM per group; a 1x1,
stride-1, unpadded convolution skips im2col and multiplies the input directly.
Backward is two GEMMs and a col2im (skipped when the input needs no gradient,
as for a network's first layer).

>>> import numpy as np, minidl as md
>>> x = md.tensor(np.ones((1, 1, 3, 3)))
>>> w = md.tensor(np.ones((1, 1, 2, 2)))
>>> md.functional.conv2d(x, w, padding=1).shape
(1, 1, 4, 4)
"""

from minidl.autograd import Function
from minidl.backend import get_array_module, kernels_for
from minidl.functional import arguments


def conv_output_size(size, kernel, stride, padding, dilation):
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


class Conv2d(Function):
    def __init__(self, stride, padding, dilation, groups):
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups

    def _pointwise(self, w):
        return w.shape[2:] == (1, 1) and self.stride == (1, 1) and self.padding == (0, 0)

    def forward(self, x, w, b=None):
        n, c, h, width = x.shape
        out_c, _, kh, kw = w.shape
        g = self.groups
        oh = conv_output_size(h, kh, self.stride[0], self.padding[0], self.dilation[0])
        ow = conv_output_size(width, kw, self.stride[1], self.padding[1], self.dilation[1])
        xp = get_array_module(x)
        if self._pointwise(w) and g == 1:
            y = xp.matmul(w.reshape(out_c, c), x.reshape(n, c, h * width)).reshape(n, out_c, oh, ow)
            self.save_for_backward(x, w)
        else:
            cols = kernels_for(x).im2col(x, (kh, kw), self.stride, self.padding, self.dilation)
            wg = w.reshape(g, out_c // g, -1)
            y = xp.matmul(wg, cols.reshape(g, wg.shape[2], n * oh * ow))
            y = xp.ascontiguousarray(y.reshape(out_c, n, oh, ow).transpose(1, 0, 2, 3))
            self.save_for_backward(cols, w)
        self.x_shape = x.shape
        if b is not None:
            y += b.reshape(1, out_c, 1, 1)
        return y

    def backward(self, gy):
        saved, w = self.saved_tensors
        xp = get_array_module(gy)
        n, c, h, width = self.x_shape
        out_c, _, kh, kw = w.shape
        g = self.groups
        gx = gw = None
        if self._pointwise(w) and g == 1:
            x = saved.reshape(n, c, h * width)
            gy3 = gy.reshape(n, out_c, h * width)
            if self.needs_input_grad[0]:
                gx = xp.matmul(w.reshape(out_c, c).T, gy3).reshape(self.x_shape)
            if self.needs_input_grad[1]:
                gw = xp.tensordot(gy3, x, axes=((0, 2), (0, 2))).reshape(w.shape)
        else:
            cols = saved
            gyg = xp.ascontiguousarray(gy.transpose(1, 0, 2, 3)).reshape(g, out_c // g, -1)
            colsg = cols.reshape(g, -1, gyg.shape[2])
            if self.needs_input_grad[1]:
                gw = xp.matmul(gyg, colsg.transpose(0, 2, 1)).reshape(w.shape)
            if self.needs_input_grad[0]:
                wg = w.reshape(g, out_c // g, -1)
                gcols = xp.matmul(wg.transpose(0, 2, 1), gyg).reshape(cols.shape)
                gx = kernels_for(gy).col2im(
                    gcols, self.x_shape, (kh, kw), self.stride, self.padding, self.dilation
                )
        grads = (gx, gw)
        if len(self.needs_input_grad) == 3:
            grads += (gy.sum(axis=(0, 2, 3)) if self.needs_input_grad[2] else None,)
        return grads


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """Convolve NCHW ``x`` with ``w`` of shape (Cout, Cin/groups, kh, kw), plus ``b`` (Cout,)."""
    from minidl.tensor import as_tensor

    op = "conv2d"
    x, w = as_tensor(x), as_tensor(w)
    b = None if b is None else as_tensor(b)
    arguments.ndim(x, 4, op, "input", "N, C, H, W")
    arguments.ndim(w, 4, op, "weight", "Cout, Cin/groups, kh, kw")
    arguments.same_dtype(op, input=x, weight=w, bias=b)
    stride = arguments.pair(stride, op, "stride", 1)
    padding = arguments.pair(padding, op, "padding", 0)
    dilation = arguments.pair(dilation, op, "dilation", 1)
    groups = arguments.integer(groups, op, "groups", 1)
    n, c, h, width = x.shape
    out_c, c_per_group, kh, kw = w.shape
    if c % groups or out_c % groups:
        raise ValueError(
            f"{op}: groups={groups} must divide both the input channels ({c}, input {x.shape}) "
            f"and the output channels ({out_c}, weight {w.shape})"
        )
    if c_per_group * groups != c:
        raise ValueError(
            f"{op}: input {x.shape} has {c} channels but weight {w.shape} with groups={groups} "
            f"expects {c_per_group * groups}"
        )
    if min(w.shape) == 0 or min(x.shape) == 0:
        raise ValueError(f"{op}: empty input {x.shape} or weight {w.shape}")
    for dim, size, k, p, d in (("height", h, kh, padding[0], dilation[0]), ("width", width, kw, padding[1], dilation[1])):
        span = d * (k - 1) + 1
        if span > size + 2 * p:
            raise ValueError(
                f"{op}: kernel {dim} {k} (dilated to {span}) is larger than the padded input "
                f"{dim} {size} + 2*{p} = {size + 2 * p} (input {x.shape}, weight {w.shape})"
            )
    if b is not None and b.shape != (out_c,):
        raise ValueError(f"{op}: bias must have shape ({out_c},), got {b.shape}")
    function = Conv2d(stride, padding, dilation, groups)
    return function(x, w) if b is None else function(x, w, b)
