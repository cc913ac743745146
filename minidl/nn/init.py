"""Weight initialisation, in place, drawing from minidl's seeded generator.

- ``kaiming_normal_`` / ``kaiming_uniform_`` (He et al. 2015): variance gain^2 / fan,
  gain = sqrt(2) for ReLU; the init of the ResNet family.
- ``xavier_uniform_`` / ``xavier_normal_`` (Glorot & Bengio 2010): variance
  2 / (fan_in + fan_out).
- ``default_`` is what Conv2d and Linear start with, PyTorch's default:
  U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the weight and the bias.

Values are drawn in float64 on the host, then cast and moved to the tensor's
dtype and device, so a seed gives the same weights everywhere.

>>> import numpy as np, minidl as md
>>> w = md.nn.Parameter(np.zeros((64, 3, 3, 3), dtype=np.float32))
>>> _ = kaiming_normal_(w)
>>> bool(0.8 < w.numpy().std() * np.sqrt(27 / 2) < 1.2)
True
"""

import math

import numpy as np

from minidl import backend, random


def fans(shape):
    """(fan_in, fan_out) of a weight: (out, in) for linear, (out, in, kh, kw) for conv."""
    if len(shape) < 2:
        raise ValueError(f"init: fan_in/fan_out need a weight of at least 2 dimensions, got {shape}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def calculate_gain(nonlinearity, param=None):
    gains = {"linear": 1.0, "conv2d": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3, "relu": math.sqrt(2.0)}
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity not in gains:
        raise ValueError(
            f"calculate_gain: unknown nonlinearity {nonlinearity!r}; known: {sorted(gains) + ['leaky_relu']}"
        )
    return gains[nonlinearity]


def _fill(tensor, values):
    xp = backend.get_array_module(tensor.data)
    tensor.data[...] = xp.asarray(backend.to_device(values.astype(tensor.dtype), tensor.device))
    return tensor


def uniform_(tensor, a=0.0, b=1.0):
    return _fill(tensor, random.generator().uniform(a, b, tensor.shape))


def normal_(tensor, mean=0.0, std=1.0):
    return _fill(tensor, random.generator().normal(mean, std, tensor.shape))


def constant_(tensor, value):
    return _fill(tensor, np.full(tensor.shape, value, dtype=np.float64))


def zeros_(tensor):
    return constant_(tensor, 0.0)


def ones_(tensor):
    return constant_(tensor, 1.0)


def _fan(tensor, mode):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = fans(tensor.shape)
    return fan_in if mode == "fan_in" else fan_out


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="relu"):
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std)


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="relu"):
    bound = math.sqrt(3.0) * calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return uniform_(tensor, -bound, bound)


def xavier_uniform_(tensor, gain=1.0):
    fan_in, fan_out = fans(tensor.shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor, gain=1.0):
    fan_in, fan_out = fans(tensor.shape)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def default_(weight, bias=None):
    """PyTorch's default for Conv2d/Linear: U(+-1/sqrt(fan_in)) for weight and bias."""
    bound = 1.0 / math.sqrt(fans(weight.shape)[0])
    uniform_(weight, -bound, bound)
    if bias is not None:
        uniform_(bias, -bound, bound)
