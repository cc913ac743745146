"""Max, average and adaptive average pooling over NCHW tensors.

Both window pools follow PyTorch exactly: ``padding <= kernel_size // 2``;
with ``ceil_mode`` a last window is kept only if it starts inside the input or
its left padding; the average divides by the window's cells inside the
zero-padded input (padding counted, the ceil_mode overhang beyond the padding
not). Max pooling keeps the argmax of each window (relative to the window) for
backward, and ties go to the first maximum in row-major order:

>>> import numpy as np, minidl as md
>>> x = md.tensor(np.array([[[[1.0, 1.0], [0.0, 1.0]]]]), requires_grad=True)
>>> md.functional.max_pool2d(x, 2).sum().backward()
>>> x.grad[0, 0]
array([[1., 0.],
       [0., 0.]])
"""

from minidl import threads
from minidl.autograd import Function
from minidl.backend import device_of, get_array_module, kernels_for
from minidl.functional import arguments
from minidl.tensor import as_tensor


def _map_batch(fn, x):
    """fn(part) for slices of x's batch, run side by side on minidl's threads when x is
    large (``threads.map_work``); each result's arrays joined along the batch. Each
    plane is pooled on its own, so the result does not depend on the slicing."""
    results = threads.map_work(fn, x.shape[0], x.size, device=device_of(x))
    if len(results) == 1:
        return results[0]
    xp = get_array_module(x)
    if isinstance(results[0], tuple):
        return tuple(xp.concatenate(parts) for parts in zip(*results))
    return xp.concatenate(results)


class MaxPool2d(Function):
    """y[n, c, oy, ox] = max of the window (padding is -inf); each gy goes whole to
    the window's argmax, the first maximum on ties, and overlapping windows add up:
    gx[n, c, argmax cell of (oy, ox)] += gy[n, c, oy, ox].

    >>> import numpy as np, minidl as md
    >>> x = md.tensor(np.array([[[[1.0, 5.0, 2.0]]]]), requires_grad=True)
    >>> y = md.functional.max_pool2d(x, (1, 2), stride=1)    # windows (1, 5), (5, 2): both pick the 5
    >>> y.backward(np.array([[[[10.0, 1.0]]]]))
    >>> x.grad.ravel()
    array([ 0., 11.,  0.])
    """

    def __init__(self, kernel_size, stride, padding, output_size):
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.output_size = output_size

    def forward(self, x):
        kernels = kernels_for(x)
        y, argmax = _map_batch(lambda part: kernels.max_pool2d_forward(
            x[part], self.kernel_size, self.stride, self.padding, self.output_size), x)
        self.x_shape = x.shape
        self.save_for_backward(argmax)
        return y

    def backward(self, gy):
        (argmax,) = self.saved_tensors
        kernels = kernels_for(gy)
        return _map_batch(lambda part: kernels.max_pool2d_backward(
            gy[part], argmax[part], gy[part].shape[:2] + self.x_shape[2:],
            self.kernel_size, self.stride, self.padding), gy)


class AvgPool2d(Function):
    """y[n, c, oy, ox] = sum of the window / count, count = its cells inside the
    zero-padded input; gx[cell] += gy[n, c, oy, ox] / count for every window's cell.
    """

    def __init__(self, kernel_size, stride, padding, output_size):
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.output_size = output_size

    def forward(self, x):
        self.x_shape = x.shape
        kernels = kernels_for(x)
        return _map_batch(lambda part: kernels.avg_pool2d_forward(
            x[part], self.kernel_size, self.stride, self.padding, self.output_size), x)

    def backward(self, gy):
        kernels = kernels_for(gy)
        return _map_batch(lambda part: kernels.avg_pool2d_backward(
            gy[part], gy[part].shape[:2] + self.x_shape[2:], self.kernel_size, self.stride,
            self.padding), gy)


class GlobalAvgPool2d(Function):
    """y[n, c] = mean of x[n, c] over H and W, kept as (N, C, 1, 1); gx = gy / (H * W) everywhere."""

    def forward(self, x):
        self.x_shape = x.shape
        return x.mean(axis=(2, 3), keepdims=True)

    def backward(self, gy):
        xp = get_array_module(gy)
        h, w = self.x_shape[2:]
        return xp.ascontiguousarray(xp.broadcast_to(gy / gy.dtype.type(h * w), self.x_shape))


class AdaptiveAvgPool2d(Function):
    """Average over windows that need not divide the input (one kernel call, not a loop of ops).

    Output cell (i, j) averages rows r0 = floor(i*H/oh) .. r1 = ceil((i+1)*H/oh) - 1 and
    columns c0 = floor(j*W/ow) .. c1 = ceil((j+1)*W/ow) - 1 (PyTorch's rule); windows may overlap:

        y[n, c, i, j] = sum_{r0<=r<=r1, c0<=s<=c1} x[n, c, r, s] / ((r1 - r0 + 1) * (c1 - c0 + 1))
        gx[n, c, r, s] += gy[n, c, i, j] / ((r1 - r0 + 1) * (c1 - c0 + 1))   for each window holding (r, s)
    """

    def __init__(self, output_size):
        self.output_size = output_size

    def forward(self, x):
        self.x_shape = x.shape
        kernels = kernels_for(x)
        return _map_batch(lambda part: kernels.adaptive_avg_pool2d_forward(x[part], self.output_size), x)

    def backward(self, gy):
        kernels = kernels_for(gy)
        return _map_batch(lambda part: kernels.adaptive_avg_pool2d_backward(
            gy[part], gy[part].shape[:2] + self.x_shape[2:]), gy)


def _window_args(op, x, kernel_size, stride, padding, ceil_mode):
    x = as_tensor(x)
    arguments.ndim(x, 4, op, "input", "N, C, H, W")
    arguments.kernel_floating(x, op)
    shapes = f"input {x.shape}"
    kernel_size = arguments.pair(kernel_size, op, "kernel_size", 1, shapes)
    stride = kernel_size if stride is None else arguments.pair(stride, op, "stride", 1, shapes)
    padding = arguments.pair(padding, op, "padding", 0, shapes)
    for k, p in zip(kernel_size, padding):
        if p > k // 2:
            raise ValueError(
                f"{op}: padding {padding} must be at most half the kernel_size {kernel_size} "
                f"(input {x.shape})"
            )
    output_size = tuple(
        arguments.pool_output_size(size, k, s, p, bool(ceil_mode), op, dim)
        for size, k, s, p, dim in zip(x.shape[2:], kernel_size, stride, padding, ("height", "width"))
    )
    return x, kernel_size, stride, padding, output_size


def max_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Maximum over each window; ``stride`` defaults to ``kernel_size``."""
    x, *args = _window_args("max_pool2d", x, kernel_size, stride, padding, ceil_mode)
    return MaxPool2d(*args)(x)


def avg_pool2d(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Mean over each window (padding counted); ``stride`` defaults to ``kernel_size``."""
    x, *args = _window_args("avg_pool2d", x, kernel_size, stride, padding, ceil_mode)
    return AvgPool2d(*args)(x)


def adaptive_avg_pool2d(x, output_size):
    """Average pooling to a fixed output size; ``1`` is global average pooling.

    Output cell i covers input rows floor(i*H/oh) .. ceil((i+1)*H/oh) - 1 (PyTorch's rule).
    """
    op = "adaptive_avg_pool2d"
    x = as_tensor(x)
    arguments.ndim(x, 4, op, "input", "N, C, H, W")
    arguments.kernel_floating(x, op)
    oh, ow = arguments.pair(output_size, op, "output_size", 1, f"input {x.shape}")
    h, w = x.shape[2:]
    if (oh, ow) == (1, 1):
        return GlobalAvgPool2d()(x)
    if h % oh == 0 and w % ow == 0:
        return avg_pool2d(x, (h // oh, w // ow))
    return AdaptiveAvgPool2d((oh, ow))(x)
