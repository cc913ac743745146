"""DistributedDataParallel: one full model per rank, gradients averaged across ranks.

Each rank runs the model on its shard of every global batch. At construction
rank 0's parameters and buffers are broadcast, so all ranks start equal; after
each backward ``reduce_gradients()`` replaces every rank's gradients with the
average over the global batch, so every rank applies the same update and the
replicas stay equal.

When does the averaging happen: minidl's autograd has no end-of-backward
callback, so the averaging is one explicit call between ``loss.backward()``
and ``optimizer.step()`` (the Trainer makes it). It does not overlap with
backward.

    model = DistributedDataParallel(net)
    loss = F.cross_entropy(model(x_shard), y_shard)
    optimizer.zero_grad(); loss.backward()
    model.reduce_gradients()
    optimizer.step()

How: the gradients are packed into buckets of about ``bucket_cap_mb`` MB (25,
PyTorch's default), in the fixed order of ``parameters()``, and each bucket is
summed with one allreduce: few large messages instead of one per tensor, the
same order on every rank. A rank's gradient is the mean over its n_r examples
(a mean loss), so it is weighted by n_r / N before the sum (N: the global batch,
summed over ranks): the result is the mean gradient over the global batch even
when the shards differ by one image (the last batch of an epoch). With equal
shards the weight is 1 / world size, what PyTorch's DDP uses.

``no_sync()`` accumulates gradients locally (gradient accumulation): inside it
``reduce_gradients()`` does nothing; the first call after it averages the sum of
the accumulated micro-batches, weighted by all the examples seen since the last
averaging. A parameter without a gradient on a rank counts as a zero gradient
there; one without a gradient on every rank keeps none (as in one process).

Batch norm keeps per-rank statistics (as PyTorch's DDP); ``nn.SyncBatchNorm``
computes them over the global batch. ``state_dict()`` is the wrapped model's,
without a prefix, so a checkpoint from N ranks loads into one process.

>>> import numpy as np, minidl as md
>>> net = md.nn.Linear(3, 2)
>>> model = DistributedDataParallel(net)          # a world of one: nothing to average
>>> model(md.tensor(np.ones((4, 3), np.float32))).sum().backward()
>>> model.reduce_gradients()
>>> net.bias.grad
array([4., 4.], dtype=float32)
"""

import contextlib

import numpy as np

from minidl import backend, distributed
from minidl.autograd import no_grad
from minidl.nn.module import Module


class DistributedDataParallel(Module):
    """DistributedDataParallel(module, bucket_cap_mb=25)."""

    def __init__(self, module, bucket_cap_mb=25):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: module must be an nn.Module, got {type(module).__name__}")
        if not bucket_cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be > 0, got {bucket_cap_mb!r}")
        self.module = module
        self.bucket_cap_mb = bucket_cap_mb
        with no_grad():
            for tensor in list(module.parameters()) + [b for b in module.buffers() if b is not None]:
                distributed.broadcast(tensor.data, src=0)
        trained = [p for p in module.parameters() if p.requires_grad]
        self._buckets = [_Bucket(group) for group in _bucketed(trained, int(bucket_cap_mb * 2**20))]
        self._synchronizing = True
        self._examples = 0  # since the last averaging, on this rank

    def forward(self, *inputs, **kwargs):
        if inputs:
            self._examples += len(inputs[0])
        return self.module(*inputs, **kwargs)

    @contextlib.contextmanager
    def no_sync(self):
        """Inside: gradients accumulate on each rank and are not averaged."""
        previous, self._synchronizing = self._synchronizing, False
        try:
            yield
        finally:
            self._synchronizing = previous

    def reduce_gradients(self):
        """Average the gradients over the global batch, in place, on every rank (see the module docstring)."""
        if not self._synchronizing:
            return
        # One small message first: the global batch, and which parameters got a gradient anywhere.
        shared = [self._examples] + [p.grad is not None for bucket in self._buckets for p in bucket.params]
        shared = distributed.all_reduce(np.array(shared, dtype=np.float64))
        weight = self._examples / shared[0] if shared[0] else 0.0
        self._examples = 0
        start = 1
        for bucket in self._buckets:
            bucket.reduce(weight, shared[start:start + len(bucket.params)] > 0)
            start += len(bucket.params)

    def state_dict(self):
        return self.module.state_dict()

    def load_state_dict(self, state_dict, strict=True):
        return self.module.load_state_dict(state_dict, strict)

    def extra_repr(self):
        return f"bucket_cap_mb={self.bucket_cap_mb}, buckets={len(self._buckets)}"


def _bucketed(params, cap_bytes):
    """Consecutive runs of params of one dtype and device, each run at most cap_bytes
    (a larger tensor gets a bucket of its own)."""
    buckets, current, size = [], [], 0
    for p in params:
        fits = current and (p.dtype, p.device) == (current[0].dtype, current[0].device) \
            and size + p.data.nbytes <= cap_bytes
        if current and not fits:
            buckets.append(current)
            current, size = [], 0
        current.append(p)
        size += p.data.nbytes
    if current:
        buckets.append(current)
    return buckets


class _Bucket:
    """Parameters whose gradients travel in one flat buffer (allocated once, reused every step)."""

    def __init__(self, params):
        self.params = params
        xp = backend.get_array_module(params[0].data)
        self.flat = xp.empty(sum(p.size for p in params), dtype=params[0].dtype)
        self.slices = []
        start = 0
        for p in params:
            self.slices.append(slice(start, start + p.size))
            start += p.size

    def reduce(self, weight, has_grad_somewhere):
        for p, where in zip(self.params, self.slices):
            if p.grad is None:
                self.flat[where] = 0
            else:
                self.flat[where] = p.grad.reshape(-1)
        self.flat *= self.flat.dtype.type(weight)
        distributed.all_reduce(self.flat, "sum")
        for p, where, anywhere in zip(self.params, self.slices, has_grad_somewhere):
            if anywhere:
                p.grad = self.flat[where].reshape(p.shape).copy()
