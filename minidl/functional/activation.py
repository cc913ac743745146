"""Elementwise nonlinearities and the (log-)softmax.

Kinks are decided and pinned by tests: relu'(0) = 0, relu6'(0) = relu6'(6) = 0.

>>> import minidl as md
>>> x = md.tensor([-1.0, 0.0, 1.0], requires_grad=True)
>>> md.functional.relu(x).sum().backward()
>>> x.grad
array([0., 0., 1.], dtype=float32)
"""

import numbers

from minidl import threads
from minidl.autograd import Function
from minidl.backend import device_of, get_array_module, kernels_for
from minidl.functional import arguments
from minidl.tensor import as_tensor


class ReLU(Function):
    """y = max(x, 0); gx = gy where y > 0, else 0 (one kernel pass, ``relu_backward``), so
    relu'(0) = 0.

    Large arrays are done in slices on the CPU threads.
    """

    def forward(self, x):
        xp = get_array_module(x)
        y = xp.empty(x.shape, dtype=x.dtype)
        flat_x, flat_y = x.reshape(-1), y.reshape(-1)  # flat_x: a copy if x is not contiguous
        threads.map_work(lambda part: xp.maximum(flat_x[part], 0, out=flat_y[part]), x.size, x.size,
                         device=device_of(x))
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        (y,) = self.saved_tensors
        return _relu_backward(gy, y)


def _relu_backward(gy, y):
    """gy where y > 0, else 0 (``relu_backward``, in slices on the CPU threads)."""
    xp = get_array_module(gy)
    kernels = kernels_for(gy)
    gx = xp.empty(gy.shape, dtype=gy.dtype)
    flat_gy, flat_y, flat_gx = xp.ascontiguousarray(gy).reshape(-1), y.reshape(-1), gx.reshape(-1)
    threads.map_work(lambda part: kernels.relu_backward(flat_gy[part], flat_y[part], out=flat_gx[part]),
                     gy.size, gy.size, device=device_of(gy))
    return gx


class AddReLU(Function):
    """ReLU of a sum, for a and b of one shape: a residual block's end.

        y = max(a + b, 0)
        ga = gb = gy * (y > 0)

    The sum is never kept as an array of its own (only y, for the mask), and both
    inputs get the one gradient. As in relu, the kink a + b = 0 gets gradient 0."""

    def forward(self, a, b):
        xp = get_array_module(a)
        y = xp.empty(a.shape, dtype=a.dtype)
        flat_a, flat_b, flat_y = a.reshape(-1), b.reshape(-1), y.reshape(-1)

        def part_sum(part):
            xp.add(flat_a[part], flat_b[part], out=flat_y[part])
            xp.maximum(flat_y[part], 0, out=flat_y[part])

        threads.map_work(part_sum, a.size, 2 * a.size, device=device_of(a))
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        (y,) = self.saved_tensors
        g = _relu_backward(gy, y)
        return g, g


class ReLU6(Function):
    """y = min(max(x, 0), 6) (MobileNet); gx = gy * (0 < x < 6): 0 at both kinks."""

    def forward(self, x):
        self.save_for_backward(x)
        return get_array_module(x).clip(x, 0, 6)

    def backward(self, gy):
        (x,) = self.saved_tensors
        return gy * ((x > 0) & (x < 6))


class LeakyReLU(Function):
    """y = x if x > 0 else slope * x; gx = gy if x > 0 else slope * gy (the slope at 0)."""

    def __init__(self, slope):
        self.slope = slope

    def forward(self, x):
        self.save_for_backward(x)
        return get_array_module(x).where(x > 0, x, x * self.slope)

    def backward(self, gy):
        (x,) = self.saved_tensors
        return get_array_module(gy).where(x > 0, gy, gy * self.slope)


def _sigmoid(x):
    # 0.5 * (1 + tanh(x / 2)) never overflows, unlike 1 / (1 + exp(-x)) for x << 0.
    xp = get_array_module(x)
    half = x.dtype.type(0.5)
    return half * (1 + xp.tanh(half * x))


class Sigmoid(Function):
    """y = 1 / (1 + exp(-x)), computed as (1 + tanh(x / 2)) / 2; gx = gy * y * (1 - y)."""

    def forward(self, x):
        y = _sigmoid(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        (y,) = self.saved_tensors
        return gy * y * (1 - y)


class Tanh(Function):
    """y = tanh(x); gx = gy * (1 - y**2)."""

    def forward(self, x):
        y = get_array_module(x).tanh(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        (y,) = self.saved_tensors
        return gy * (1 - y * y)


class SiLU(Function):
    """y = x * s with s = sigmoid(x), also called swish (EfficientNet);
    gx = gy * (s + x * s * (1 - s)) = gy * s * (1 + x * (1 - s)).
    """

    def forward(self, x):
        s = _sigmoid(x)
        self.save_for_backward(x, s)
        return x * s

    def backward(self, gy):
        x, s = self.saved_tensors
        return gy * s * (1 + x * (1 - s))


class Softmax(Function):
    """y_i = exp(x_i - m) / sum_j exp(x_j - m) along ``axis``, m = max_j x_j (the
    shift cancels and keeps exp finite).

    dy_j/dx_i = y_j * (delta_ij - y_i), so gx_i = y_i * (gy_i - sum_j gy_j * y_j):

    >>> import numpy as np, minidl as md
    >>> x = md.tensor(np.log([1.0, 3.0]), requires_grad=True)
    >>> y = md.functional.softmax(x, axis=0)
    >>> y.backward(np.array([1.0, 0.0]))            # gy = (1, 0): gx = y * ((1, 0) - y_0)
    >>> y.numpy().round(4), x.grad.round(4)
    (array([0.25, 0.75]), array([ 0.1875, -0.1875]))
    """

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        xp = get_array_module(x)
        e = xp.exp(x - x.max(axis=self.axis, keepdims=True))
        y = e / e.sum(axis=self.axis, keepdims=True)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        (y,) = self.saved_tensors
        return y * (gy - (gy * y).sum(axis=self.axis, keepdims=True))


class LogSoftmax(Function):
    """y_i = x_i - m - log(sum_j exp(x_j - m)) along ``axis``, m = max_j x_j.

    dy_j/dx_i = delta_ij - softmax(x)_i, so gx_i = gy_i - exp(y_i) * sum_j gy_j.
    """

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        xp = get_array_module(x)
        shifted = x - x.max(axis=self.axis, keepdims=True)
        y = shifted - xp.log(xp.exp(shifted).sum(axis=self.axis, keepdims=True))
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        (y,) = self.saved_tensors
        xp = get_array_module(gy)
        return gy - xp.exp(y) * gy.sum(axis=self.axis, keepdims=True)


def relu(x):
    return ReLU()(x)


def add_relu(a, b):
    """relu(a + b) as one op, for a and b of one shape and dtype (``AddReLU``).

    >>> import minidl as md
    >>> md.functional.add_relu(md.tensor([1.0, -2.0]), md.tensor([0.5, 1.0])).numpy()
    array([1.5, 0. ], dtype=float32)
    """
    a, b = as_tensor(a), as_tensor(b, like=a)
    if a.shape != b.shape:
        raise ValueError(f"add_relu: a and b must have one shape, got {a.shape} and {b.shape}")
    arguments.same_dtype("add_relu", a=a, b=b)
    return AddReLU()(a, b)


def relu6(x):
    return ReLU6()(x)


def leaky_relu(x, negative_slope=0.01):
    return LeakyReLU(arguments.real(negative_slope, "leaky_relu", "negative_slope"))(x)


def sigmoid(x):
    return Sigmoid()(x)


def tanh(x):
    return Tanh()(x)


def silu(x):
    return SiLU()(x)


def _axis(x, axis, op):
    x = as_tensor(x)
    if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
        raise TypeError(f"{op}: axis must be an int, got {axis!r} for shape {x.shape}")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"{op}: axis {axis} is out of range for shape {x.shape}")
    return x, axis % x.ndim


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along ``axis``, computed from x - max(x)."""
    x, axis = _axis(x, axis, "softmax")
    return Softmax(axis)(x)


def log_softmax(x, axis=-1):
    """x - logsumexp(x) along ``axis``; finite for logits of +-1e4."""
    x, axis = _axis(x, axis, "log_softmax")
    return LogSoftmax(axis)(x)
