"""Batch normalization with statistics over the global batch of all ranks.

Each rank holds a shard of the batch. The forward allreduces, per channel, the
sum and the sum of squares of x and the count (one message of 2C + 1 values,
accumulated in float64 so that var = E[x^2] - mean^2 loses nothing visible in
float32), then normalises its shard exactly as batch_norm does the whole batch:

    mean = sum(x) / m,  var = sum(x^2) / m - mean^2     (m: values per channel, all ranks)
    y = gamma * (x - mean) / sqrt(var + eps) + beta

The backward allreduces sum(gy) and sum(gy * xhat) the same way:

    gx = gamma / sqrt(var + eps) / m * (m * gy - sum(gy) - xhat * sum(gy * xhat))

and returns this rank's own sums as the gradients of gamma and beta (averaging
parameter gradients is DistributedDataParallel's job). In a world of one it
computes batch_norm. Running statistics are updated as batch_norm does, with
the global mean and the unbiased global variance.

>>> import numpy as np, minidl as md
>>> x = md.tensor(np.array([[1.0], [3.0]]))
>>> mean, var = md.tensor(np.zeros(1)), md.tensor(np.ones(1))
>>> sync_batch_norm(x, mean, var, eps=0.0).numpy().ravel()
array([-1.,  1.])
"""

from minidl import distributed
from minidl.backend import get_array_module
from minidl.functional import arguments
from minidl.functional.batch_norm import BatchNormTrain, _as_ncl


class SyncBatchNormTrain(BatchNormTrain):
    """BatchNormTrain over the batch of every rank together: its formulas with m, sum(x),
    sum(x**2), sum(gy) and sum(gy * xhat) all-reduced across the ranks:

        mean = sum_ranks(sum(x)) / m,  var = sum_ranks(sum(x**2)) / m - mean**2
        y = gamma * (x - mean) / sqrt(var + eps) + beta
        gbeta = sum_ranks(sum(gy)),  ggamma = sum_ranks(sum(gy * xhat))
        gx = gamma / (m * sqrt(var + eps)) * (m * gy - gbeta - xhat * ggamma)

    Arguments and the running-statistics update are BatchNormTrain's."""

    def forward(self, x, gamma, beta):
        xp = get_array_module(x)
        x3 = _as_ncl(x)
        channels = x3.shape[1]
        sums = xp.empty(2 * channels + 1, dtype=xp.float64)
        x64 = x3.astype(xp.float64)
        sums[:channels] = x64.sum(axis=(0, 2))
        sums[channels:-1] = (x64 * x64).sum(axis=(0, 2))
        sums[-1] = x3.shape[0] * x3.shape[2]
        distributed.all_reduce(sums, "sum")
        m = int(sums[-1])
        if m < 2:
            raise ValueError(f"sync_batch_norm: training needs more than one value per channel "
                             f"over all ranks, got {m} (input {x.shape} on this rank)")
        mean = sums[:channels] / m
        var = xp.maximum(sums[channels:-1] / m - mean * mean, 0.0)
        invstd = (1.0 / xp.sqrt(var + self.eps)).astype(x.dtype)
        xhat = (x3 - mean.astype(x.dtype)[:, None]) * invstd[:, None]
        self._update_running(mean, var, m)
        self.save_for_backward(xhat, gamma, invstd, m)
        return (xhat * gamma[:, None] + beta[:, None]).reshape(x.shape)

    def backward(self, gy):
        xhat, gamma, invstd, m = self.saved_tensors
        xp = get_array_module(gy)
        gy3 = _as_ncl(gy)
        channels = gy3.shape[1]
        gbeta = gy3.sum(axis=(0, 2))
        ggamma = (gy3 * xhat).sum(axis=(0, 2))
        sums = xp.concatenate([gbeta, ggamma]).astype(xp.float64)
        distributed.all_reduce(sums, "sum")
        total_gbeta = sums[:channels].astype(gy.dtype)[:, None]
        total_ggamma = sums[channels:].astype(gy.dtype)[:, None]
        gx = (gamma * invstd / m)[:, None] * (m * gy3 - total_gbeta - xhat * total_ggamma)
        return gx.reshape(gy.shape).astype(gy.dtype, copy=False), ggamma, gbeta


def sync_batch_norm(x, running_mean, running_var, weight=None, bias=None, momentum=0.1, eps=1e-5):
    """Training-mode batch norm of x (N, C) or (N, C, H, W) with the statistics of all ranks' batches."""
    from minidl.tensor import Tensor, as_tensor

    op = "sync_batch_norm"
    x = as_tensor(x)
    arguments.ndim(x, (2, 4), op, "input", "N, C or N, C, H, W")
    arguments.kernel_floating(x, op)
    momentum = arguments.probability(momentum, op, "momentum")
    eps = arguments.real(eps, op, "eps")
    channels = x.shape[1]
    xp = get_array_module(x.data)
    weight = Tensor(xp.ones(channels, dtype=x.dtype)) if weight is None else as_tensor(weight)
    bias = Tensor(xp.zeros(channels, dtype=x.dtype)) if bias is None else as_tensor(bias)
    for name, value in (("weight", weight), ("bias", bias)):
        if value.shape != (channels,):
            raise ValueError(f"{op}: {name} must have shape ({channels},) for input {x.shape}, got {value.shape}")
    arguments.same_dtype(op, input=x, weight=weight, bias=bias)
    stats = [None if s is None else getattr(s, "data", s) for s in (running_mean, running_var)]
    return SyncBatchNormTrain(stats[0], stats[1], momentum, eps)(x, weight, bias)
