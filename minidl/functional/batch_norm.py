"""Batch normalization for (N, C) and (N, C, H, W) input, statistics per channel.

Training: normalise with the batch mean and biased variance, then update the
running statistics in place,

    running_mean = (1 - momentum) * running_mean + momentum * mean
    running_var  = (1 - momentum) * running_var  + momentum * var * m / (m - 1)

with the *unbiased* variance (m = N*H*W values per channel). Evaluation:
normalise with the running statistics. eps is added once, where the variance
is used, and never stored.

>>> import numpy as np, minidl as md
>>> x = md.tensor(np.array([[1.0], [3.0]]))
>>> mean, var = md.tensor(np.zeros(1)), md.tensor(np.ones(1))
>>> md.functional.batch_norm(x, mean, var, training=True, eps=0.0).numpy().ravel()
array([-1.,  1.])
>>> mean.numpy(), var.numpy()    # 0.1 * 2, 0.9 * 1 + 0.1 * 2 (unbiased variance of 1, 3)
(array([0.2]), array([1.1]))
"""

from minidl.autograd import Function
from minidl.backend import get_array_module, kernels_for
from minidl.functional import arguments
from minidl.tensor import Tensor, as_tensor


def _as_ncl(x):
    """(N, C) -> (N, C, 1) and (N, C, H, W) -> (N, C, H*W), without copying."""
    return x.reshape(x.shape[0], x.shape[1], -1)


class BatchNormTrain(Function):
    """Per channel, over its m = N*H*W values (N for (N, C) input; biased variance, eps added at use):

        mean = sum(x) / m,  var = sum((x - mean)**2) / m,  xhat = (x - mean) / sqrt(var + eps)
        y = gamma * xhat + beta
        gbeta = sum(gy),  ggamma = sum(gy * xhat)
        gx = gamma / (m * sqrt(var + eps)) * (m * gy - gbeta - xhat * ggamma)

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

    def __init__(self, running_mean, running_var, momentum, eps):
        self.running_mean, self.running_var = running_mean, running_var
        self.momentum, self.eps = momentum, eps

    def forward(self, x, gamma, beta):
        x3 = _as_ncl(x)
        y, mean, var = kernels_for(x).batch_norm_forward_train(x3, gamma, beta, self.eps)
        self.save_for_backward(x3, gamma, mean, var)
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
        x3, gamma, mean, var = self.saved_tensors
        gx, ggamma, gbeta = kernels_for(gy).batch_norm_backward(
            _as_ncl(gy), x3, gamma, mean, var, self.eps
        )
        return gx.reshape(gy.shape), ggamma, gbeta


class BatchNormEval(Function):
    """y = gamma * xhat + beta with xhat = (x - running_mean) / sqrt(running_var + eps), an
    affine map: gx = gy * gamma / sqrt(running_var + eps), ggamma = sum(gy * xhat), gbeta = sum(gy).
    """

    def __init__(self, running_mean, running_var, eps):
        self.running_mean, self.running_var, self.eps = running_mean, running_var, eps

    def forward(self, x, gamma, beta):
        xp = get_array_module(x)
        x3 = _as_ncl(x)
        invstd = (1.0 / xp.sqrt(self.running_var + self.eps)).astype(x.dtype, copy=False)
        mean = self.running_mean.astype(x.dtype, copy=False)
        self.save_for_backward(x3, gamma, mean, invstd)
        y = (x3 - mean[:, None]) * (gamma * invstd)[:, None] + beta[:, None]
        return y.reshape(x.shape)

    def backward(self, gy):
        x3, gamma, mean, invstd = self.saved_tensors
        gy3 = _as_ncl(gy)
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
    op = "batch_norm"
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
        return BatchNormTrain(stats[0], stats[1], momentum, eps)(x, weight, bias)
    return BatchNormEval(stats[0], stats[1], eps)(x, weight, bias)
