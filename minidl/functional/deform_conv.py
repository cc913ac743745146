"""Deformable convolution (DCNv1, and DCNv2 with a mask), torchvision's semantics.

Each tap k = (i, j) of each output pixel p = (oy, ox) samples the input not
on the grid but at a learnt offset from it, and (DCNv2) scales what it reads
by a learnt mask:

    y[n, o, p] = b[o] + sum_{c in group(o), k} w[o, c, k] * cols[c, k, n, p]
    cols[c, k, n, p] = m[n, g, k, p] * S(x[n, c], py, px)
    py = oy*sh - ph + i*dh + dy[n, g, k, p],   px = ox*sw - pw + j*dw + dx[n, g, k, p]

where g = c // (C/G) is the offset group of channel c, and S is bilinear
interpolation, zero outside the image:

    S(x, py, px) = sum_{u, v} beta(py - u) * beta(px - v) * x[u, v],
    beta(t) = max(0, 1 - |t|)

over the integer pixels (u, v) of the image (at most four have a nonzero
weight: u in {floor(py), floor(py) + 1}, likewise v). Offsets (N, 2*G*kh*kw,
oh, ow) hold (dy, dx) pairs per group and tap; the mask (N, G*kh*kw, oh, ow)
is one value per group and tap (None: all ones); weight groups come from the
weight's shape (Cout, C/groups, kh, kw), offset groups from the offset's
channels. Zero offsets and an all-ones mask give exactly ``conv2d``.

Forward is a deformable im2col (the sampled columns, ``kernels.deform_im2col``)
and one GEMM per weight group, as in ``conv2d``.

Gradients, for the output gradient gy (the five inputs):

- bias:   gb[o] = sum_{n, p} gy[n, o, p]
- weight: gw[o, c, k] = sum_{n, p} gy[n, o, p] * cols[c, k, n, p]
          (one GEMM per group, gy_g @ cols_g^T, the columns rebuilt from x)
- the column gradient, the other GEMM: gcols[c, k, n, p] = sum_o w[o, c, k] * gy[n, o, p]
- input:  gx[n, c, u, v] = sum_{k, p} gcols[c, k, n, p] * m * beta(py - u) * beta(px - v)
          each column entry scattered back through the bilinear weights that read it
          (``kernels.deform_col2im``), the adjoint of the sampling;
- mask:   gm[n, g, k, p] = sum_{c in g} gcols[c, k, n, p] * S(x[n, c], py, px)
- offset: gdy[n, g, k, p] = sum_{c in g} gcols[c, k, n, p] * m * dS/dpy, likewise dx
          (``kernels.deform_col2im_coord``). With y0 = floor(py), ly = py - y0,
          lx = px - x0 and the corner values v_ab = x[y0 + a, x0 + b] (zero outside):
          S = (1-ly)(1-lx) v00 + (1-ly) lx v01 + ly (1-lx) v10 + ly lx v11, so
          dS/dpy = (1-lx)(v10 - v00) + lx (v11 - v01)
          dS/dpx = (1-ly)(v01 - v00) + ly (v11 - v10).

S is continuous but not differentiable where py or px is an integer (beta has
a kink at 0 and at +-1): there the offset gradient is the derivative from above
(y0 = py), as torchvision's. The batch is cut into slices as in ``conv2d``
(same sizes, so zero offsets reproduce conv2d's GEMMs bit for bit), the slices
running on the CPU threads; only x, offset, weight and mask are kept for
backward, which rebuilds each slice's columns.

>>> import numpy as np, minidl as md
>>> x = md.tensor(np.arange(9.0).reshape(1, 1, 3, 3))
>>> w = md.tensor(np.ones((1, 1, 1, 1)))
>>> offset = md.tensor(np.full((1, 2, 3, 3), 0.5))        # half a pixel down and right
>>> md.functional.deform_conv2d(x, offset, w).numpy()[0, 0]
array([[2.  , 3.  , 1.75],
       [5.  , 6.  , 3.25],
       [3.25, 3.75, 2.  ]])
"""

from minidl import threads
from minidl.autograd import Function
from minidl.backend import device_of, get_array_module, kernels_for
from minidl.functional import arguments
from minidl.functional.conv import conv_output_size, group_rows, image_slices


class DeformConv2d(Function):
    """y[n, o, p] = b[o] + sum_{c in group(o), k} w[o, c, k] * m[n, g, k, p] * S(x[n, c], py, px)

    Backward (derived in the module docstring), with gcols = w^T gy per group:
    gx[n, c, u, v] = sum_{k, p} gcols[c, k, n, p] * m * beta(py - u) * beta(px - v),
    gdy[n, g, k, p] = sum_{c in g} gcols * m * dS/dpy (and gdx likewise),
    gm[n, g, k, p] = sum_{c in g} gcols * S, gw = gy @ cols^T, gb[o] = sum_{n, p} gy.

    Inputs: x, offset, weight, then mask if ``modulated``, then bias if ``has_bias``.
    """

    def __init__(self, stride, padding, dilation, modulated, has_bias):
        self.stride, self.padding, self.dilation = stride, padding, dilation
        self.modulated, self.has_bias = modulated, has_bias

    def _split(self, rest):
        mask = rest[0] if self.modulated else None
        bias = rest[-1] if self.has_bias else None
        return mask, bias

    def _geometry(self):
        return self.kernel_size, self.stride, self.padding, self.dilation

    def _columns(self, x, offset, mask, part):
        return kernels_for(x).deform_im2col(x[part], offset[part], None if mask is None else mask[part],
                                            *self._geometry())

    def _slices(self, x):
        """conv2d's slices of the batch."""
        return image_slices(x, x.shape[1] * self.kernel_size[0] * self.kernel_size[1] * self.out_h * self.out_w
                            * x.itemsize)

    def forward(self, x, offset, w, *rest):
        xp = get_array_module(x)
        # the kernels index flat memory: non-contiguous views become copies here, once
        x, offset, w = (xp.ascontiguousarray(a) for a in (x, offset, w))
        mask, b = self._split(rest)
        if mask is not None:
            mask = xp.ascontiguousarray(mask)
        n = x.shape[0]
        out_c, _, kh, kw = w.shape
        self.kernel_size = (kh, kw)
        self.groups = x.shape[1] // w.shape[1]
        self.out_h, self.out_w = offset.shape[2:]
        self.save_for_backward(x, offset, w, mask)
        y = xp.empty((n, out_c, self.out_h, self.out_w), dtype=x.dtype)

        def forward_slice(part):
            cols = group_rows(self._columns(x, offset, mask, part), self.groups)
            y_cols = xp.empty((out_c, cols[0].shape[1]), dtype=x.dtype)
            for w_g, cols_g, y_g in zip(group_rows(w.reshape(out_c, -1), self.groups), cols,
                                        group_rows(y_cols, self.groups)):
                xp.matmul(w_g, cols_g, out=y_g)
            if b is not None:
                y_cols += b[:, None]
            y[part] = y_cols.reshape(out_c, -1, self.out_h, self.out_w).transpose(1, 0, 2, 3)

        threads.map_slices(forward_slice, self._slices(x), device_of(x))
        return y

    def backward(self, gy):
        x, offset, w, mask = self.saved_tensors
        xp = get_array_module(gy)
        need = dict(zip(("x", "offset", "w"), self.needs_input_grad))
        need["mask"] = self.modulated and self.needs_input_grad[3]
        need["b"] = self.has_bias and self.needs_input_grad[-1]
        need_cols_grad = need["x"] or need["offset"] or need["mask"]
        gx = xp.empty_like(x) if need["x"] else None
        g_offset = xp.empty_like(offset) if need["offset"] else None
        g_mask = xp.empty_like(mask) if need["mask"] else None
        out_c = w.shape[0]
        kernels = kernels_for(gy)

        def backward_slice(part):
            gy_cols = xp.ascontiguousarray(gy[part].transpose(1, 0, 2, 3)).reshape(out_c, -1)
            gy_groups = group_rows(gy_cols, self.groups)
            mask_part = None if mask is None else mask[part]
            if need_cols_grad:
                gcols = xp.empty((w[0].size * self.groups, gy_cols.shape[1]), dtype=gy.dtype)
                for w_g, gy_g, gcols_g in zip(group_rows(w.reshape(out_c, -1), self.groups), gy_groups,
                                              group_rows(gcols, self.groups)):
                    xp.matmul(w_g.T, gy_g, out=gcols_g)
                if gx is not None:
                    gx[part] = kernels.deform_col2im(gcols, x[part].shape, offset[part], mask_part,
                                                     *self._geometry())
                if g_offset is not None or g_mask is not None:
                    go, gm = kernels.deform_col2im_coord(gcols, x[part], offset[part], mask_part,
                                                         *self._geometry())
                    if g_offset is not None:
                        g_offset[part] = go
                    if g_mask is not None:
                        g_mask[part] = gm
            gw = gb = None
            if need["w"]:
                cols = group_rows(self._columns(x, offset, mask, part), self.groups)
                gw = xp.concatenate([gy_g @ cols_g.T for gy_g, cols_g in zip(gy_groups, cols)])
            if need["b"]:
                gb = gy_cols.sum(axis=1)
            return gw, gb

        gw, gb = threads.map_sums(backward_slice, self._slices(x), device_of(x))
        grads = (gx, g_offset, None if gw is None else gw.reshape(w.shape))
        if self.modulated:
            grads += (g_mask,)
        if self.has_bias:
            grads += (gb,)
        return grads


def deform_conv2d(x, offset, weight, bias=None, stride=1, padding=0, dilation=1, mask=None):
    """Deformable convolution of NCHW ``x``: offset (N, 2*G*kh*kw, oh, ow) as (dy, dx)
    pairs per offset group and tap, weight (Cout, Cin/groups, kh, kw), bias (Cout,),
    mask (N, G*kh*kw, oh, ow) or None. The module docstring has the formulas."""
    from minidl.tensor import as_tensor

    op = "deform_conv2d"
    x, offset, weight = as_tensor(x), as_tensor(offset), as_tensor(weight)
    bias = None if bias is None else as_tensor(bias)
    mask = None if mask is None else as_tensor(mask)
    arguments.ndim(x, 4, op, "input", "N, C, H, W")
    arguments.ndim(offset, 4, op, "offset", "N, 2*offset_groups*kh*kw, out_h, out_w")
    arguments.ndim(weight, 4, op, "weight", "Cout, Cin/groups, kh, kw")
    if mask is not None:
        arguments.ndim(mask, 4, op, "mask", "N, offset_groups*kh*kw, out_h, out_w")
    arguments.same_dtype(op, input=x, offset=offset, weight=weight, mask=mask, bias=bias)
    arguments.kernel_floating(x, op, "input")
    shapes = f"input {x.shape}, offset {offset.shape}, weight {weight.shape}"
    stride = arguments.pair(stride, op, "stride", 1, shapes)
    padding = arguments.pair(padding, op, "padding", 0, shapes)
    dilation = arguments.pair(dilation, op, "dilation", 1, shapes)
    n, c, h, width = x.shape
    out_c, c_per_group, kh, kw = weight.shape
    if min(weight.shape) == 0 or min(x.shape) == 0:
        raise ValueError(f"{op}: empty input {x.shape} or weight {weight.shape}")
    if c % c_per_group or out_c % (c // c_per_group):
        raise ValueError(
            f"{op}: weight {weight.shape} takes {c_per_group} input channels per group, which must "
            f"divide the input's {c} channels (input {x.shape}) into groups that also divide its "
            f"{out_c} output channels"
        )
    arguments.kernel_within_padded_input(op, (h, width), (kh, kw), padding, dilation, shapes)
    oh = conv_output_size(h, kh, stride[0], padding[0], dilation[0])
    ow = conv_output_size(width, kw, stride[1], padding[1], dilation[1])
    taps = kh * kw
    if offset.shape[1] % (2 * taps) or offset.shape[1] == 0:
        raise ValueError(
            f"{op}: offset must have 2*offset_groups*kh*kw channels, a multiple of 2*{kh}*{kw} = "
            f"{2 * taps}, got {offset.shape[1]} ({shapes})"
        )
    offset_groups = offset.shape[1] // (2 * taps)
    if c % offset_groups:
        raise ValueError(
            f"{op}: offset_groups = {offset_groups} (offset channels {offset.shape[1]} / (2*{kh}*{kw})) "
            f"must divide the input channels {c} ({shapes})"
        )
    if offset.shape != (n, 2 * offset_groups * taps, oh, ow):
        raise ValueError(
            f"{op}: offset must have shape (N, 2*offset_groups*kh*kw, out_h, out_w) = "
            f"{(n, 2 * offset_groups * taps, oh, ow)}, got {offset.shape} ({shapes}, "
            f"stride {stride}, padding {padding}, dilation {dilation})"
        )
    if mask is not None and mask.shape != (n, offset_groups * taps, oh, ow):
        raise ValueError(
            f"{op}: mask must have shape (N, offset_groups*kh*kw, out_h, out_w) = "
            f"{(n, offset_groups * taps, oh, ow)}, got {mask.shape} ({shapes})"
        )
    if bias is not None and bias.shape != (out_c,):
        raise ValueError(f"{op}: bias must have shape ({out_c},), got {bias.shape}")
    function = DeformConv2d(stride, padding, dilation, mask is not None, bias is not None)
    inputs = (x, offset, weight) + ((mask,) if mask is not None else ()) + ((bias,) if bias is not None else ())
    return function(*inputs)
