"""Elementwise arithmetic with NumPy broadcasting, and matrix products.

Broadcasting in forward means summing in backward: ``sum_to`` folds a
gradient back to the shape of the input it belongs to.

>>> import minidl as md
>>> a = md.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
>>> b = md.tensor([10.0, 20.0], requires_grad=True)
>>> (a * b).sum().backward()
>>> b.grad
array([4., 6.], dtype=float32)
"""

import numbers

import numpy as np

from minidl.autograd import Function
from minidl.backend import get_array_module
from minidl.functional.shape import reshape
from minidl.tensor import as_tensor


def sum_to(grad, shape):
    """Sum ``grad`` over the axes that broadcasting added or stretched to reach it."""
    if grad.shape == tuple(shape):
        return grad
    lead = grad.ndim - len(shape)
    stretched = tuple(i + lead for i, n in enumerate(shape) if n == 1 and grad.shape[i + lead] != 1)
    grad = grad.sum(axis=tuple(range(lead)) + stretched, keepdims=True)
    return grad.reshape(shape)


class _Binary(Function):
    """An elementwise op on two broadcast operands; backward folds gradients back to their shapes."""

    def forward(self, a, b):
        self.shapes = (a.shape, b.shape)
        return self.compute(a, b)


class Add(_Binary):
    """y = a + b; ga = sum_to(gy, a.shape), gb = sum_to(gy, b.shape) (broadcast axes summed back)."""

    def compute(self, a, b):
        return a + b

    def backward(self, gy):
        a_shape, b_shape = self.shapes
        return sum_to(gy, a_shape), sum_to(gy, b_shape)


class Sub(_Binary):
    """y = a - b; ga = sum_to(gy, a.shape), gb = -sum_to(gy, b.shape)."""

    def compute(self, a, b):
        return a - b

    def backward(self, gy):
        a_shape, b_shape = self.shapes
        gb = -sum_to(gy, b_shape) if self.needs_input_grad[1] else None
        return sum_to(gy, a_shape), gb


class Mul(_Binary):
    """y = a * b; ga = sum_to(gy * b, a.shape), gb = sum_to(gy * a, b.shape)."""

    def compute(self, a, b):
        self.save_for_backward(a, b)
        return a * b

    def backward(self, gy):
        a, b = self.saved_tensors
        ga = sum_to(gy * b, a.shape) if self.needs_input_grad[0] else None
        gb = sum_to(gy * a, b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Div(_Binary):
    """y = a / b; ga = sum_to(gy / b, a.shape), gb = sum_to(-gy * a / b**2, b.shape)."""

    def compute(self, a, b):
        self.save_for_backward(a, b)
        return a / b

    def backward(self, gy):
        a, b = self.saved_tensors
        ga = sum_to(gy / b, a.shape) if self.needs_input_grad[0] else None
        gb = sum_to(-gy * a / (b * b), b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Neg(Function):
    """y = -x; gx = -gy."""

    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


class Pow(Function):
    """y = x ** c for a constant exponent c; gx = gy * c * x ** (c - 1)."""

    def __init__(self, exponent):
        self.exponent = exponent

    def forward(self, x):
        self.save_for_backward(x)
        return x ** self.exponent

    def backward(self, gy):
        (x,) = self.saved_tensors
        c = self.exponent
        return gy * (c * x ** (c - 1))


class Exp(Function):
    """y = exp(x); gx = gy * y."""

    def forward(self, x):
        y = get_array_module(x).exp(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        (y,) = self.saved_tensors
        return gy * y


class Log(Function):
    """y = log(x); gx = gy / x."""

    def forward(self, x):
        self.save_for_backward(x)
        return get_array_module(x).log(x)

    def backward(self, gy):
        (x,) = self.saved_tensors
        return gy / x


class MatMul(Function):
    """y = a @ b for tensors of 2 or more dimensions, batch axes broadcast;
    ga = sum_to(gy @ b^T, a.shape), gb = sum_to(a^T @ gy, b.shape) (^T swaps the last two axes).
    """

    def forward(self, a, b):
        if a.ndim < 2 or b.ndim < 2:
            raise ValueError(f"matmul: operands must be at least 2-D here, got {a.shape} and {b.shape}")
        try:
            np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
        except ValueError:
            raise ValueError(f"matmul: batch shapes of {a.shape} and {b.shape} do not broadcast") from None
        if a.shape[-1] != b.shape[-2]:
            raise ValueError(
                f"matmul: inner dimensions differ: {a.shape} @ {b.shape} ({a.shape[-1]} != {b.shape[-2]})"
            )
        self.save_for_backward(a, b)
        return a @ b

    def backward(self, gy):
        a, b = self.saved_tensors
        xp = get_array_module(gy)
        ga = sum_to(gy @ xp.swapaxes(b, -1, -2), a.shape) if self.needs_input_grad[0] else None
        gb = sum_to(xp.swapaxes(a, -1, -2) @ gy, b.shape) if self.needs_input_grad[1] else None
        return ga, gb


class Cast(Function):
    """y = x converted to ``dtype``; gx = gy converted back to x's dtype."""

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)

    def forward(self, x):
        self.source = x.dtype
        return x.astype(self.dtype)

    def backward(self, gy):
        return gy.astype(self.source)


def _binary(function, op, a, b):
    """``function()(a, b)``, once the operands' shapes are known to broadcast (``op`` names it)."""
    shapes = [x.shape if hasattr(x, "shape") else np.shape(x) for x in (a, b)]
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(f"{op}: shapes {shapes[0]} and {shapes[1]} do not broadcast together") from None
    return function()(a, b)


def add(a, b):
    return _binary(Add, "add", a, b)


def sub(a, b):
    return _binary(Sub, "sub", a, b)


def mul(a, b):
    return _binary(Mul, "mul", a, b)


def div(a, b):
    return _binary(Div, "div", a, b)


def neg(x):
    return Neg()(x)


def pow(x, exponent):
    """``x ** exponent`` for a constant (Python number) exponent."""
    if isinstance(exponent, bool) or not isinstance(exponent, numbers.Real):
        raise TypeError(f"pow: the exponent must be a Python number, got {type(exponent).__name__}")
    return Pow(exponent)(x)


def exp(x):
    return Exp()(x)


def log(x):
    return Log()(x)


def matmul(a, b):
    """``a @ b``; 1-D operands are treated as a row (left) or a column (right) vector."""
    a, b = as_tensor(a), as_tensor(b)
    squeeze_left = a.ndim == 1
    squeeze_right = b.ndim == 1
    if squeeze_left:
        a = reshape(a, (1, a.shape[0]))
    if squeeze_right:
        b = reshape(b, (b.shape[0], 1))
    y = MatMul()(a, b)
    if squeeze_left or squeeze_right:
        shape = y.shape[:-2] + y.shape[-2:][int(squeeze_left):2 - int(squeeze_right)]
        y = reshape(y, shape)
    return y


def cast(x, dtype):
    """x converted to ``dtype``; the gradient is converted back."""
    return Cast(dtype)(x)
