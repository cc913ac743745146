"""Batch normalization for (N, C) and (N, C, H, W) input, statistics per channel.

Training: normalise with the batch mean and biased variance, then update the
running statistics in place,

    running_mean = (1 - momentum) * running_mean + momentum * mean
    running_var  = (1 - momentum) * running_var  + momentum * var * m / (m - 1)

with the *unbiased* variance (m = N*H*W values per channel). Evaluation:
normalise with the running statistics. eps is added once, where the variance
is used, and never stored.

``batch_norm_relu`` is relu(batch_norm(...)) as one op, the pattern of every
conv-BN-ReLU block: one pass writes max(y, 0), and the backward recomputes
where y > 0 from x instead of keeping a mask (relu'(0) = 0, as ``relu``).
On the CPU, slices of the channels run side by side on minidl's threads
(each channel's statistics are its own, so the slicing changes no bit).

>>> import numpy as np, minidl as md
>>> x = md.tensor(np.array([[1.0], [3.0]]))
>>> mean, var = md.tensor(np.zeros(1)), md.tensor(np.ones(1))
>>> md.functional.batch_norm(x, mean, var, training=True, eps=0.0).numpy().ravel()
array([-1.,  1.])
>>> mean.numpy(), var.numpy()    # 0.1 * 2, 0.9 * 1 + 0.1 * 2 (unbiased variance of 1, 3)
(array([0.2]), array([1.1]))
"""

import math

from minidl import threads
from minidl.autograd import Function
from minidl.backend import device_of, get_array_module, kernels_for
from minidl.functional import arguments
from minidl.tensor import Tensor, as_tensor


def _as_ncl(x):
    """(N, C) -> (N, C, 1) and (N, C, H, W) -> (N, C, H*W), without copying."""
    return x.reshape(x.shape[0], x.shape[1], math.prod(x.shape[2:]))  # not -1: N may be 0


def _by_channels(kernel, x3, *args, **kwargs):
    """kernel(*args, **kwargs), its channels cut as ``minidl.threads`` decides for work on
    x3's elements: one call, or slices written into shared outputs on the CPU threads."""
    parts = threads.cut(x3.shape[1], x3.size, device=device_of(x3))
    if len(parts) == 1:
        return kernel(*args, **kwargs)
    xp = get_array_module(x3)
    out = xp.empty_like(x3), xp.empty(x3.shape[1], x3.dtype), xp.empty(x3.shape[1], x3.dtype)
    threads.map_slices(lambda part: kernel(*args, out=out, channels=part, **kwargs), parts, device_of(x3))
    return out


class BatchNormTrain(Function):
    """Per channel, over its m = N*H*W values (N for (N, C) input; biased variance, eps added at use):

        mean = sum(x) / m,  var = sum((x - mean)**2) / m,  xhat = (x - mean) / sqrt(var + eps)
        y = gamma * xhat + beta
        gbeta = sum(gy),  ggamma = sum(gy * xhat)
        gx = gamma / (m * sqrt(var + eps)) * (m * gy - gbeta - xhat * ggamma)

    With ``relu=True`` (F.batch_norm_relu) y = max(gamma * xhat + beta, 0), and gy is
    first masked by y > 0 (recomputed from x, not stored); the formulas above then hold.

    The two subtracted terms are the paths through mean and var. They make gx sum
    to zero and (with eps = 0) be orthogonal to xhat: shifting or scaling a channel
    of x changes no output, so it cannot change the loss either.

    >>> import numpy as np, minidl as md
    >>> x = md.tensor(np.array([[1.0], [2.0], [6.0]]), requires_grad=True)
    >>> y = md.functional.batch_norm(x, None, None, training=True, eps=0.0)
    >>> y.backward(np.array([[1.0], [0.0], [0.0]]))
    >>> bool(abs(x.grad.sum()) < 1e-12), bool(abs((x.grad * y.numpy()).sum()) < 1e-12)
    (True, True)
    """

    def __init__(self, running_mean, running_var, momentum, eps, relu=False):
        self.running_mean, self.running_var = running_mean, running_var
        self.momentum, self.eps, self.relu = momentum, eps, relu

    def forward(self, x, gamma, beta):
        x3 = get_array_module(x).ascontiguousarray(_as_ncl(x))
        y, mean, var = _by_channels(kernels_for(x).batch_norm_forward_train, x3,
                                    x3, gamma, beta, self.eps, relu=self.relu)
        self.save_for_backward(x3, gamma, beta, mean, var)
        self._update_running(mean, var, x3.shape[0] * x3.shape[2])
        return y.reshape(x.shape)

    def _update_running(self, mean, var, m):
        """Blend the batch statistics into the buffers, in place (m > 1 values per channel)."""
        unbiased = var * (m / (m - 1))
        for running, batch in ((self.running_mean, mean), (self.running_var, unbiased)):
            if running is not None:
                running *= 1.0 - self.momentum
                running += self.momentum * batch.astype(running.dtype, copy=False)

    def backward(self, gy):
        x3, gamma, beta, mean, var = self.saved_tensors
        gy3 = get_array_module(gy).ascontiguousarray(_as_ncl(gy))
        gx, ggamma, gbeta = _by_channels(kernels_for(gy).batch_norm_backward, x3,
                                         gy3, x3, gamma, mean, var, self.eps, relu=self.relu, beta=beta)
        return gx.reshape(gy.shape), ggamma, gbeta


class BatchNormEval(Function):
    """y = gamma * xhat + beta with xhat = (x - running_mean) / sqrt(running_var + eps), an
    affine map: gx = gy * gamma / sqrt(running_var + eps), ggamma = sum(gy * xhat), gbeta = sum(gy).
    With relu, y is max(y, 0) and gy counts where y > 0 only.
    """

    def __init__(self, running_mean, running_var, eps, relu=False):
        self.running_mean, self.running_var, self.eps, self.relu = running_mean, running_var, eps, relu

    def forward(self, x, gamma, beta):
        xp = get_array_module(x)
        x3 = _as_ncl(x)
        invstd = (1.0 / xp.sqrt(self.running_var + self.eps)).astype(x.dtype, copy=False)
        mean = self.running_mean.astype(x.dtype, copy=False)
        y = (x3 - mean[:, None]) * (gamma * invstd)[:, None] + beta[:, None]
        if self.relu:
            xp.maximum(y, 0, out=y)
        self.save_for_backward(x3, gamma, mean, invstd, y if self.relu else None)
        return y.reshape(x.shape)

    def backward(self, gy):
        x3, gamma, mean, invstd, y = self.saved_tensors
        gy3 = _as_ncl(gy)
        if self.relu:
            gy3 = gy3 * (y > 0)
        gx = (gy3 * (gamma * invstd)[:, None]).reshape(gy.shape)
        ggamma = (gy3 * ((x3 - mean[:, None]) * invstd[:, None])).sum(axis=(0, 2))
        gbeta = gy3.sum(axis=(0, 2))
        return gx, ggamma, gbeta


def batch_norm(x, running_mean, running_var, weight=None, bias=None,
               training=False, momentum=0.1, eps=1e-5):
    """Normalise each channel of x (N, C) or (N, C, H, W); see the module docstring.

    ``running_mean``/``running_var`` are Tensors (a module's buffers) updated in
    place when ``training``; they may be None in training, then nothing is tracked.
    """
    return _batch_norm("batch_norm", x, running_mean, running_var, weight, bias, training, momentum, eps, False)


def batch_norm_relu(x, running_mean, running_var, weight=None, bias=None,
                    training=False, momentum=0.1, eps=1e-5):
    """relu(batch_norm(x, ...)) as one op (module docstring); the same arguments.

    >>> import numpy as np, minidl as md
    >>> x = md.tensor(np.array([[1.0], [3.0]]))
    >>> md.functional.batch_norm_relu(x, None, None, training=True, eps=0.0).numpy().ravel()
    array([0., 1.])
    """
    return _batch_norm("batch_norm_relu", x, running_mean, running_var, weight, bias, training, momentum, eps,
                       True)


def _batch_norm(op, x, running_mean, running_var, weight, bias, training, momentum, eps, relu):
    x = as_tensor(x)
    arguments.ndim(x, (2, 4), op, "input", "N, C or N, C, H, W")
    arguments.kernel_floating(x, op)
    momentum = arguments.probability(momentum, op, "momentum")
    eps = arguments.real(eps, op, "eps")
    if eps < 0:
        raise ValueError(f"{op}: eps must be >= 0, got {eps!r}")
    channels = x.shape[1]
    xp = get_array_module(x.data)
    stats = []
    for name, value in (("running_mean", running_mean), ("running_var", running_var)):
        if value is None:
            if not training:
                raise ValueError(f"{op}: {name} is required in evaluation mode")
            stats.append(None)
            continue
        array = value.data if isinstance(value, Tensor) else value
        on_device = hasattr(array, "dtype") and get_array_module(array) is xp
        if not (on_device and array.dtype.kind == "f"):
            got = f"{type(array).__name__} of {getattr(array, 'dtype', 'no dtype')}"
            raise TypeError(
                f"{op}: {name} must be a float Tensor on the input's device ({x.device}), got {got}"
            )
        if array.shape != (channels,):
            raise ValueError(f"{op}: {name} must have shape ({channels},) for input {x.shape}, got {array.shape}")
        stats.append(array)
    weight = Tensor(xp.ones(channels, dtype=x.dtype)) if weight is None else as_tensor(weight)
    bias = Tensor(xp.zeros(channels, dtype=x.dtype)) if bias is None else as_tensor(bias)
    for name, value in (("weight", weight), ("bias", bias)):
        if value.shape != (channels,):
            raise ValueError(f"{op}: {name} must have shape ({channels},) for input {x.shape}, got {value.shape}")
    arguments.same_dtype(op, input=x, weight=weight, bias=bias)
    if training:
        m = x.size // channels
        if m < 2:
            raise ValueError(
                f"{op}: training needs more than one value per channel, got input {x.shape}"
            )
        return BatchNormTrain(stats[0], stats[1], momentum, eps, relu)(x, weight, bias)
    return BatchNormEval(stats[0], stats[1], eps, relu)(x, weight, bias)
