"""Ops that move values without changing them: reshape, transpose, indexing, concat.

>>> import minidl as md
>>> a = md.tensor([[1.0, 2.0]], requires_grad=True)
>>> b = md.tensor([[3.0]], requires_grad=True)
>>> y = md.functional.concat([a, b, a], axis=1)   # a used twice: its gradients add
>>> y.sum().backward()
>>> a.grad
array([[2., 2.]], dtype=float32)
"""

import math
import numbers

import numpy as np

from minidl.autograd import Function
from minidl.backend import get_array_module
from minidl.tensor import Tensor, as_tensor


class Reshape(Function):
    """y = x in a new shape (same elements, row-major); gx = gy reshaped to x's shape."""

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.x_shape = x.shape
        try:
            return x.reshape(self.shape)
        except ValueError:
            raise ValueError(
                f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} elements) "
                f"into {self.shape}"
            ) from None

    def backward(self, gy):
        return gy.reshape(self.x_shape)


class Transpose(Function):
    """y = x with its axes permuted; gx = gy with the inverse permutation."""

    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        axes = tuple(reversed(range(x.ndim))) if self.axes is None else self.axes
        if sorted(a % max(x.ndim, 1) for a in axes) != list(range(x.ndim)):
            raise ValueError(f"transpose: axes {self.axes} are not a permutation for shape {x.shape}")
        self.inverse = tuple(np.argsort([a % x.ndim for a in axes]))
        return get_array_module(x).transpose(x, axes)

    def backward(self, gy):
        return get_array_module(gy).transpose(gy, self.inverse)


class GetItem(Function):
    """y = x[index]; gx = zeros with gy added at index (repeated indices accumulate)."""

    def __init__(self, index):
        self.index = index

    def forward(self, x):
        self.x_shape = x.shape
        try:
            return x[self.index]
        except IndexError as error:
            raise ValueError(f"getitem: index {self.index!r} is invalid for shape {x.shape}: {error}") from None

    def backward(self, gy):
        xp = get_array_module(gy)
        grad = xp.zeros(self.x_shape, dtype=gy.dtype)
        if _is_basic(self.index):
            grad[self.index] = gy
        elif xp is np:
            np.add.at(grad, self.index, gy)
        else:
            import cupyx

            cupyx.scatter_add(grad, self.index, gy)
        return grad


def _is_basic(index):
    """True for ints, slices, None and Ellipsis only: such an index selects no cell twice."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(
        isinstance(p, (slice, type(None), type(Ellipsis)))
        or (isinstance(p, numbers.Integral) and not isinstance(p, bool))
        for p in parts
    )


class Concat(Function):
    """y = x_1, ..., x_k joined along ``axis``; gx_i = the slice of gy that x_i filled."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        self.sizes = [x.shape[self.axis] for x in xs]
        return get_array_module(*xs).concatenate(xs, axis=self.axis)

    def backward(self, gy):
        xp = get_array_module(gy)
        bounds = np.cumsum(self.sizes)[:-1]
        return tuple(xp.ascontiguousarray(g) for g in xp.split(gy, bounds, axis=self.axis))


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def reshape(x, shape):
    """x with a new shape of the same size; one axis may be -1 (inferred), as in NumPy."""
    x = as_tensor(x)
    shape = (shape,) if _is_int(shape) else shape
    if not (isinstance(shape, (tuple, list)) and all(_is_int(n) for n in shape)):
        raise TypeError(
            f"reshape: shape must be an int or a tuple of ints, got {shape!r} for a tensor of shape {x.shape}"
        )
    return Reshape(tuple(int(n) for n in shape))(x)


def transpose(x, axes=None):
    return Transpose(None if axes is None else tuple(axes))(x)


def flatten(x, start_dim=1):
    """Merge the axes from ``start_dim`` on into one (the batch axis stays by default)."""
    x = as_tensor(x)
    if not _is_int(start_dim):
        raise TypeError(f"flatten: start_dim must be an int, got {start_dim!r} for shape {x.shape}")
    if not -max(x.ndim, 1) <= start_dim < max(x.ndim, 1):
        raise ValueError(f"flatten: start_dim {start_dim} is out of range for shape {x.shape}")
    start = start_dim % max(x.ndim, 1)
    return reshape(x, x.shape[:start] + (math.prod(x.shape[start:]),))  # not -1: N may be 0


def getitem(x, index):
    if isinstance(index, Tensor):
        index = index.data
    elif isinstance(index, tuple):
        index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
    elif isinstance(index, list):
        index = np.asarray(index)
    return GetItem(index)(x)


def concat(tensors, axis=1):
    """Join tensors along ``axis``; every other axis must match."""
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("concat: needs at least one tensor")
    ndim = tensors[0].ndim
    if not _is_int(axis):
        raise TypeError(f"concat: axis must be an int, got {axis!r}")
    if not -ndim <= axis < ndim:
        raise ValueError(f"concat: axis {axis} is out of range for {ndim}-D tensors")
    axis %= ndim
    reference = tensors[0].shape
    for t in tensors:
        if t.ndim != ndim or any(a != b for i, (a, b) in enumerate(zip(t.shape, reference)) if i != axis):
            shapes = ", ".join(str(u.shape) for u in tensors)
            raise ValueError(
                f"concat: all shapes must match except along axis {axis}, got {shapes}"
            )
    return Concat(axis)(*tensors)
