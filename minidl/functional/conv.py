"""2-D convolution (cross-correlation, as every framework means it), NCHW.

    y[n, o, oy, ox] = b[o] + sum_{c in group(o), i, j}
                      w[o, c, i, j] * x_padded[n, c, oy*sh + i*dh, ox*sw + j*dw]

Forward is im2col and one GEMM per group (``W (Cout/g, C/g*kh*kw) @ cols``);
backward is the two GEMMs ``gy @ cols.T`` and ``W.T @ gy`` and a col2im
(skipped when the input needs no gradient, as for a network's first layer).
A 1x1, stride-1, unpadded convolution skips im2col and multiplies the input
directly, 3x3 and 5x5 stride-1 layers with enough channels run Winograd's
F(m x m, r x r) on the CPU, and first layers (few channels, many pixels) run
im2col with a GEMM per image there: ``conv_algorithms.choose_algorithm`` is
the rule that picks, and ``conv_algorithms.Winograd`` the Winograd algorithm.

The batch is processed in slices of images whose columns take at most
``COLUMN_BYTES``. On the CPU that is 2 MiB, so that a slice's columns are still
in the core's cache when the GEMM reads them (a ResNet-20 training step took a
third more CPU time with 32 MiB slices), and the slices run side by side on
the CPU threads (``minidl.threads``; ``MIN_SLICES`` at least). On the GPU
the slices only cap the memory of im2col (Chainer's users hit MemoryErrors
there). Only x is kept for backward, which rebuilds each slice's columns: far
smaller than keeping them all. Winograd keeps its input points V as well when
the weight wants a gradient (2.25 times x with F(4x4, 3x3), 14 MiB a layer
for ResNet-20's stage 1 at batch 128): making them again in backward cost
about a third of its CPU time there. The weight and bias gradients are sums of the
slices' shares, added in slice order whichever thread made them.

>>> import numpy as np, minidl as md
>>> x = md.tensor(np.ones((1, 1, 3, 3)))
>>> w = md.tensor(np.ones((1, 1, 2, 2)))
>>> md.functional.conv2d(x, w, padding=1).shape
(1, 1, 4, 4)
"""

import functools

from minidl import threads
from minidl.autograd import Function
from minidl.backend import device_of, get_array_module, kernels_for
from minidl.functional import arguments, conv_algorithms
from minidl.kernels.reference.conv import conv_output_size
from minidl.tensor import as_tensor

# Bytes of columns built at once, per device.
COLUMN_BYTES = {"cpu": 2 * 2**20, "cuda": 512 * 2**20}
# On the CPU a batch is cut into this many slices at least, so that even a layer
# whose columns fit in one slice keeps several threads busy. It is a constant,
# not the thread count: the slicing (and so the rounding of the weight
# gradient's sum) never depends on how many threads run it.
MIN_SLICES = 4


def batch_slices(n, bytes_per_image, budget, at_least=1):
    """range(n) cut into near-equal consecutive slices that fit in ``budget``: the fewest
    that are a multiple of ``at_least`` (a slice holds one image at least). A multiple,
    so that 2 or 4 threads get equal shares: ResNet-20's 64-channel layer in 5 slices
    took 8.7 ms forward and backward on two threads, in 8 slices 8.1."""
    pieces = max(at_least, -(-n * bytes_per_image // budget))
    return threads.split(n, -(-pieces // at_least) * at_least)


def image_slices(x, bytes_per_image):
    """The slices of x's batch for a convolution whose images take ``bytes_per_image``
    of columns each: at most COLUMN_BYTES of them a slice on x's device, and MIN_SLICES
    slices at least on the CPU."""
    device = device_of(x)
    return batch_slices(x.shape[0], bytes_per_image, COLUMN_BYTES[device], MIN_SLICES if device == "cpu" else 1)


def group_rows(array, groups):
    """The row blocks of a 2-D array, one per group (views, no copy)."""
    rows = array.shape[0] // groups
    return [array[g * rows:(g + 1) * rows] for g in range(groups)]


class Conv2d(Function):
    """With xp = x zero-padded, s the stride, d the dilation, c over o's group:

        y[n, o, oy, ox] = b[o] + sum_{c, i, j} w[o, c, i, j] * xp[n, c, oy*sh + i*dh, ox*sw + j*dw]
        gw[o, c, i, j] = sum_{n, oy, ox} gy[n, o, oy, ox] * xp[n, c, oy*sh + i*dh, ox*sw + j*dw]
        gxp[n, c, oy*sh + i*dh, ox*sw + j*dw] += sum_{o in group(c)} w[o, c, i, j] * gy[n, o, oy, ox]
        gb[o] = sum_{n, oy, ox} gy[n, o, oy, ox]

    gx is gxp without its padding (col2im of ``W^T @ gy``; gw is ``gy @ cols^T``). Where
    ``conv_algorithms.choose_algorithm`` picks Winograd the same sums are made in
    the transform domain (y = A^T [U (.) V] A; see ``conv_algorithms``).
    """

    def __init__(self, stride, padding, dilation, groups):
        self.stride, self.padding, self.dilation, self.groups = stride, padding, dilation, groups

    def _columns(self, x):
        """The im2col columns of x, one block of rows per group."""
        cols = kernels_for(x).im2col(x, self.kernel_size, self.stride, self.padding, self.dilation)
        return group_rows(cols, self.groups)

    def _slices(self, x):
        """The slices of the batch whose columns (or Winograd points) fit COLUMN_BYTES."""
        if self.winograd is not None:
            return image_slices(x, self.winograd.bytes_per_image(x.itemsize))
        return image_slices(x, x.shape[1] * self.kernel_size[0] * self.kernel_size[1] * self.out_h * self.out_w
                            * x.itemsize)

    def forward(self, x, w, b=None):
        n, c, h, width = x.shape
        out_c, _, kh, kw = w.shape
        self.kernel_size = (kh, kw)
        self.out_h = conv_output_size(h, kh, self.stride[0], self.padding[0], self.dilation[0])
        self.out_w = conv_output_size(width, kw, self.stride[1], self.padding[1], self.dilation[1])
        y = get_array_module(x).empty((n, out_c, self.out_h, self.out_w), dtype=x.dtype)
        # Winograd's input points of each slice, by the slice's first image: kept for
        # the weight gradient (the slicing depends on the shapes only, so backward's
        # slices are forward's)
        points = {}
        self.save_for_backward(x, w, points)
        self.algorithm = conv_algorithms.choose_algorithm(x.shape, w.shape, self.stride, self.padding,
                                                          self.dilation, self.groups, device_of(x))
        self.winograd = None
        if self.algorithm.startswith("winograd"):
            tile = int(self.algorithm.split("_")[1][0])
            self.winograd = conv_algorithms.Winograd(w, self.padding, tile, (self.out_h, self.out_w))
            forward_slice = functools.partial(self._forward_winograd, points=points)
        else:
            forward_slice = {"pointwise": self._forward_pointwise, "im2col": self._forward_im2col,
                             "im2col_images": self._forward_im2col_images}[self.algorithm]
        threads.map_slices(lambda part: forward_slice(x, w, b, y, part), self._slices(x), device_of(x))
        return y

    def _forward_im2col(self, x, w, b, y, part):
        xp = get_array_module(x)
        out_c = w.shape[0]
        cols = self._columns(x[part])
        y_cols = xp.empty((out_c, cols[0].shape[1]), dtype=x.dtype)
        for w_g, cols_g, y_g in zip(group_rows(w.reshape(out_c, -1), self.groups), cols,
                                    group_rows(y_cols, self.groups)):
            xp.matmul(w_g, cols_g, out=y_g)
        if b is not None:  # while the slice is in the cache
            y_cols += b[:, None]
        # (Cout, n*oh*ow) -> the slice's (n, Cout, oh, ow)
        y[part] = y_cols.reshape(out_c, -1, self.out_h, self.out_w).transpose(1, 0, 2, 3)

    def _forward_im2col_images(self, x, w, b, y, part):
        """One GEMM per image, W (Cout, C*kh*kw) @ that image's columns, written
        straight into y: no (Cout, n*oh*ow) result to transpose (groups = 1)."""
        n, out_c = y[part].shape[:2]
        (cols,) = self._columns(x[part])
        y_part = y[part].reshape(n, out_c, -1)
        get_array_module(x).matmul(w.reshape(out_c, -1), _image_columns(cols, n), out=y_part)
        if b is not None:
            y_part += b[:, None]

    def _forward_pointwise(self, x, w, b, y, part):
        n, c = x[part].shape[:2]
        y_part = y[part].reshape(n, w.shape[0], -1)
        get_array_module(x).matmul(w.reshape(w.shape[0], c), x[part].reshape(n, c, -1), out=y_part)
        if b is not None:
            y_part += b[:, None]

    def _forward_winograd(self, x, w, b, y, part, points):
        v = self.winograd.forward(x[part], b, y[part])
        if self.needs_input_grad[1]:
            points[part.start] = v

    def backward(self, gy):
        x, w, points = self.saved_tensors
        need_x = self.needs_input_grad[0]
        # C order, whatever x's layout: the slices' reshapes below must be views of gx
        gx = get_array_module(gy).empty(x.shape, dtype=x.dtype) if need_x else None
        backward_slice = {"pointwise": self._backward_pointwise, "im2col": self._backward_im2col,
                          "im2col_images": self._backward_im2col_images}.get(
            self.algorithm, functools.partial(self._backward_winograd, points=points))
        gw, gb = threads.map_sums(lambda part: backward_slice(x, w, gy, gx, part), self._slices(x), device_of(x))
        if gw is not None and self.winograd is not None:
            gw = self.winograd.weight_gradient(gw)
        grads = (gx, None if gw is None else gw.reshape(w.shape))
        return grads + (gb,) if len(self.needs_input_grad) == 3 else grads

    def _wanted(self):
        """Whether gw and gb are wanted."""
        return self.needs_input_grad[1], len(self.needs_input_grad) == 3 and self.needs_input_grad[2]

    def _backward_im2col(self, x, w, gy, gx, part):
        """Write gx for the slice; return its shares of gw and gb."""
        xp = get_array_module(gy)
        need_w, need_b = self._wanted()
        gy_cols = self._gy_columns(gy, part)
        gy_groups = group_rows(gy_cols, self.groups)
        if gx is not None:
            self._input_gradient(x, w, gy_groups, gx, part)
        gw = gb = None
        if need_w:
            gw = xp.concatenate([gy_g @ cols_g.T for gy_g, cols_g in zip(gy_groups, self._columns(x[part]))])
        if need_b:
            gb = gy_cols.sum(axis=1)
        return gw, gb

    def _backward_im2col_images(self, x, w, gy, gx, part):
        """``_backward_im2col`` with gw summed over the images' own GEMMs, gy[i] @ cols[i]^T
        (groups = 1): gy is read as it is, transposed only for gx."""
        need_w, need_b = self._wanted()
        if gx is not None:
            self._input_gradient(x, w, [self._gy_columns(gy, part)], gx, part)
        n, out_c = gy[part].shape[:2]
        gy_images = gy[part].reshape(n, out_c, -1)
        gw = gb = None
        if need_w:
            (cols,) = self._columns(x[part])
            gw = get_array_module(gy).matmul(gy_images, _image_columns(cols, n).transpose(0, 2, 1)).sum(axis=0)
        if need_b:
            gb = gy_images.sum(axis=(0, 2))
        return gw, gb

    def _gy_columns(self, gy, part):
        """The slice's gy as (Cout, n*oh*ow), the layout of im2col's GEMMs (a copy)."""
        return get_array_module(gy).ascontiguousarray(gy[part].transpose(1, 0, 2, 3)).reshape(gy.shape[1], -1)

    def _input_gradient(self, x, w, gy_groups, gx, part):
        """gx[part] = col2im(W^T @ gy), a GEMM per group."""
        xp = get_array_module(w)
        out_c = w.shape[0]
        gcols = xp.empty((w[0].size * self.groups, gy_groups[0].shape[1]), dtype=w.dtype)
        for w_g, gy_g, gcols_g in zip(group_rows(w.reshape(out_c, -1), self.groups), gy_groups,
                                      group_rows(gcols, self.groups)):
            xp.matmul(w_g.T, gy_g, out=gcols_g)
        gx[part] = kernels_for(gcols).col2im(gcols, x[part].shape, self.kernel_size,
                                             self.stride, self.padding, self.dilation)

    def _backward_winograd(self, x, w, gy, gx, part, points):
        """Write gx for the slice; return its shares of gU (the transformed gw) and gb."""
        need_w, need_b = self._wanted()
        gu = self.winograd.backward(x[part], gy[part], None if gx is None else gx[part], need_w,
                                    points.get(part.start))
        return gu, gy[part].sum(axis=(0, 2, 3)) if need_b else None

    def _backward_pointwise(self, x, w, gy, gx, part):
        xp = get_array_module(gy)
        n, c = x[part].shape[:2]
        out_c = w.shape[0]
        need_w, need_b = self._wanted()
        gy3, x3 = gy[part].reshape(n, out_c, -1), x[part].reshape(n, c, -1)
        if gx is not None:
            xp.matmul(w.reshape(out_c, c).T, gy3, out=gx[part].reshape(n, c, -1))
        gw = xp.tensordot(gy3, x3, axes=((0, 2), (0, 2))) if need_w else None
        gb = gy3.sum(axis=(0, 2)) if need_b else None
        return gw, gb


def _image_columns(cols, n):
    """im2col's (C*kh*kw, n*oh*ow) columns as n images' (C*kh*kw, oh*ow) blocks (a view)."""
    return cols.reshape(cols.shape[0], n, -1).transpose(1, 0, 2)


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1, groups=1):
    """Convolve NCHW ``x`` with ``w`` of shape (Cout, Cin/groups, kh, kw), plus ``b`` (Cout,)."""
    op = "conv2d"
    x, w = as_tensor(x), as_tensor(w)
    b = None if b is None else as_tensor(b)
    arguments.ndim(x, 4, op, "input", "N, C, H, W")
    arguments.ndim(w, 4, op, "weight", "Cout, Cin/groups, kh, kw")
    arguments.same_dtype(op, input=x, weight=w, bias=b)
    arguments.kernel_floating(x, op)
    shapes = f"input {x.shape}, weight {w.shape}"
    stride = arguments.pair(stride, op, "stride", 1, shapes)
    padding = arguments.pair(padding, op, "padding", 0, shapes)
    dilation = arguments.pair(dilation, op, "dilation", 1, shapes)
    groups = arguments.integer(groups, op, "groups", 1, shapes)
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
    if min(w.shape) == 0 or min(x.shape[1:]) == 0:
        raise ValueError(f"{op}: empty input {x.shape} or weight {w.shape}")
    arguments.kernel_within_padded_input(op, (h, width), (kh, kw), padding, dilation, shapes)
    if b is not None and b.shape != (out_c,):
        raise ValueError(f"{op}: bias must have shape ({out_c},), got {b.shape}")
    if n == 0:
        out = (conv_output_size(h, kh, stride[0], padding[0], dilation[0]),
               conv_output_size(width, kw, stride[1], padding[1], dilation[1]))
        function = EmptyBatch((0, out_c) + out)
    else:
        function = Conv2d(stride, padding, dilation, groups)
    return function(x, w) if b is None else function(x, w, b)


class EmptyBatch(Function):
    """An op on a batch of no images, as PyTorch allows: an empty output of
    ``shape``, an empty input gradient and zero gradients for the parameters.

        y = empty(shape)                       (N = 0: there is nothing to compute)
        gx = empty(x.shape),  gparam = zeros(param.shape)   (a sum over no images)
    """

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x, *params):
        self.input_shapes = [x.shape] + [p.shape for p in params]
        return get_array_module(x).empty(self.shape, dtype=x.dtype)

    def backward(self, gy):
        xp = get_array_module(gy)
        return tuple(xp.zeros(shape, dtype=gy.dtype) for shape in self.input_shapes)
