"""Checks of op arguments, so bad input fails early with a message naming the op.

Every message says which op, which argument, what was expected and what came.
"""

import numbers

import numpy as np

# The largest size, stride, padding or count an op takes: the kernels index with
# 32-bit ints on the GPU, and Numba cannot type a Python int of 2**63 or more.
MAX_INT = 2**31 - 1


def _where(context):
    """' (for input (1, 3, 5, 5))': the shapes an argument was given with, when known."""
    return f" (for {context})" if context else ""


def pair(value, op, name, minimum, context=""):
    """An int or a pair of ints, each >= minimum, as an (h, w) tuple.

    ``context`` describes the inputs (``"input (1, 3, 5, 5)"``) for the message.
    """
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {value!r}{_where(context)}")
        values = tuple(value)
    else:
        values = (value, value)
    for v in values:
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {value!r}{_where(context)}")
        _in_range(v, op, name, minimum, value, context)
    return tuple(int(v) for v in values)


def _in_range(v, op, name, minimum, value, context):
    if v < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}{_where(context)}")
    if v > MAX_INT:
        raise ValueError(f"{op}: {name} must be at most 2**31 - 1, got {value!r}{_where(context)}")


def integer(value, op, name, minimum, context=""):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{op}: {name} must be an int, got {value!r}{_where(context)}")
    _in_range(value, op, name, minimum, value, context)
    return int(value)


def probability(value, op, name, allow_one=True):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{op}: {name} must be a number, got {value!r}")
    upper_ok = value <= 1 if allow_one else value < 1
    if not (0 <= value and upper_ok):
        bound = "[0, 1]" if allow_one else "[0, 1)"
        raise ValueError(f"{op}: {name} must be in {bound}, got {value!r}")
    return float(value)


def ndim(tensor, expected, op, name="input", layout=None):
    dims = (expected,) if isinstance(expected, int) else tuple(expected)
    if tensor.ndim not in dims:
        wanted = " or ".join(f"{d}-D" for d in dims)
        hint = f" ({layout})" if layout else ""
        raise ValueError(f"{op}: {name} must be {wanted}{hint}, got shape {tensor.shape}")


def floating(tensor, op, name="input"):
    if not np.issubdtype(tensor.dtype, np.floating):
        raise TypeError(f"{op}: {name} must be a floating-point tensor, got {tensor.dtype}")


def kernel_floating(tensor, op, name="input"):
    """float32 or float64: the dtypes the compiled kernels (Numba, CUDA) are built for."""
    if tensor.dtype not in (np.float32, np.float64):
        raise TypeError(f"{op}: {name} must be float32 or float64, got {tensor.dtype}")


def real(value, op, name):
    """A finite real number (not a bool), as a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{op}: {name} must be a number, got {value!r}")
    if not np.isfinite(value):
        raise ValueError(f"{op}: {name} must be finite, got {value!r}")
    return float(value)


def same_dtype(op, **tensors):
    """All named tensors (None skipped) share one float dtype; never upcast silently."""
    present = {name: t for name, t in tensors.items() if t is not None}
    for name, t in present.items():
        floating(t, op, name)
    dtypes = {t.dtype for t in present.values()}
    if len(dtypes) > 1:
        described = ", ".join(f"{name} {t.dtype}" for name, t in present.items())
        raise TypeError(f"{op}: inputs must share one dtype, got {described}")


def axes(axis, ndim, op):
    """``axis`` (None, int or tuple) as a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    values = axis if isinstance(axis, (tuple, list)) else (axis,)
    result = []
    for a in values:
        if isinstance(a, bool) or not isinstance(a, numbers.Integral):
            raise TypeError(f"{op}: axis must be an int or a tuple of ints, got {axis!r}")
        if not -ndim <= a < max(ndim, 1):
            raise ValueError(f"{op}: axis {a} is out of range for a tensor of {ndim} dimensions")
        result.append(int(a) % max(ndim, 1))
    if len(set(result)) != len(result):
        raise ValueError(f"{op}: axis {axis!r} repeats an axis")
    return tuple(sorted(result))


def kernel_within_padded_input(op, sizes, kernel, padding, dilation, shapes):
    """Refuse a (dilated) kernel larger than the zero-padded input, height and width."""
    for dim, size, k, p, d in zip(("height", "width"), sizes, kernel, padding, dilation):
        span = d * (k - 1) + 1
        if span > size + 2 * p:
            raise ValueError(
                f"{op}: kernel {dim} {k} (dilated to {span}) is larger than the padded input "
                f"{dim} {size} + 2*{p} = {size + 2 * p} ({shapes})"
            )


def pool_output_size(size, kernel, stride, padding, ceil_mode, op, dim):
    """PyTorch's pooling output size: with ceil_mode, a last window must start inside
    the input or its left padding. With ceil_mode a kernel larger than the padded
    input still makes one window (ceil of a negative fraction is 0), as in PyTorch."""
    span = size + 2 * padding - kernel
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    if out < 1:
        raise ValueError(
            f"{op}: kernel_size {kernel} is larger than the padded input {dim} "
            f"{size} + 2*{padding} = {size + 2 * padding} (PyTorch allows this only with ceil_mode=True)"
        )
    return out
