"""sum, mean and max over axes.

max sends the gradient to the *first* maximum along the reduced axes (in
row-major order), never splitting it between ties:

>>> import minidl as md
>>> x = md.tensor([1.0, 3.0, 3.0], requires_grad=True)
>>> x.max().backward()
>>> x.grad
array([0., 1., 0.], dtype=float32)
"""

import numpy as np

from minidl.autograd import Function
from minidl.backend import get_array_module
from minidl.functional import arguments
from minidl.tensor import as_tensor


def _expand(gy, shape, axes, keepdims):
    """gy broadcast back over the reduced axes, as a fresh contiguous array."""
    xp = get_array_module(gy)
    if not keepdims:
        gy = gy.reshape(tuple(1 if i in axes else n for i, n in enumerate(shape)))
    # ascontiguousarray returns at least 1-D: reshape keeps a 0-d input's gradient 0-d.
    return xp.ascontiguousarray(xp.broadcast_to(gy, shape)).reshape(shape)


class Sum(Function):
    """y = sum of x over ``axes``; gx = gy broadcast back over them."""

    def __init__(self, axes, keepdims):
        self.axes, self.keepdims = axes, keepdims

    def forward(self, x):
        self.shape = x.shape
        return x.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        return _expand(gy, self.shape, self.axes, self.keepdims)


class Mean(Function):
    """y = sum of x over ``axes`` / count; gx = gy / count broadcast back over them."""

    def __init__(self, axes, keepdims):
        self.axes, self.keepdims = axes, keepdims

    def forward(self, x):
        self.shape = x.shape
        self.count = int(np.prod([x.shape[a] for a in self.axes], dtype=np.int64))
        return x.mean(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        return _expand(gy / gy.dtype.type(self.count), self.shape, self.axes, self.keepdims)


class Max(Function):
    """y = max of x over ``axes``; gx = gy at the first maximum, 0 elsewhere."""

    def __init__(self, axes, keepdims):
        self.axes, self.keepdims = axes, keepdims

    def forward(self, x):
        xp = get_array_module(x)
        kept = tuple(a for a in range(x.ndim) if a not in self.axes)
        order = kept + self.axes
        moved = xp.transpose(x, order).reshape(tuple(x.shape[a] for a in kept) + (-1,))
        index = moved.argmax(axis=-1)
        y = xp.take_along_axis(moved, index[..., None], axis=-1)[..., 0]
        self.x_shape, self.order, self.index = x.shape, order, index
        if self.keepdims:
            y = y.reshape(tuple(1 if a in self.axes else n for a, n in enumerate(x.shape)))
        return y

    def backward(self, gy):
        xp = get_array_module(gy)
        index = self.index
        reduced = int(np.prod([self.x_shape[a] for a in self.axes], dtype=np.int64))
        rows = index.size
        grad = xp.zeros((rows, reduced), dtype=gy.dtype)
        grad[xp.arange(rows), index.reshape(rows)] = gy.reshape(rows)
        grad = grad.reshape(tuple(self.x_shape[a] for a in self.order))
        return xp.ascontiguousarray(xp.transpose(grad, np.argsort(self.order))).reshape(self.x_shape)


def _reduce(cls, name, x, axis, keepdims):
    x = as_tensor(x)
    axes = arguments.axes(axis, x.ndim, name)
    return cls(axes, bool(keepdims))(x)


def sum(x, axis=None, keepdims=False):
    return _reduce(Sum, "sum", x, axis, keepdims)


def mean(x, axis=None, keepdims=False):
    return _reduce(Mean, "mean", x, axis, keepdims)


def max(x, axis=None, keepdims=False):
    """Maximum over ``axis``; the gradient goes to the first maximum."""
    x = as_tensor(x)
    if x.size == 0:
        raise ValueError(f"max: cannot reduce an empty tensor of shape {x.shape}")
    return _reduce(Max, "max", x, axis, keepdims)
