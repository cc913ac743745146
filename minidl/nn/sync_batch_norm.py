"""nn.SyncBatchNorm: batch norm whose training statistics cover the global batch of all ranks.

With DistributedDataParallel each rank sees only its shard of the batch; plain
BatchNorm normalises with the shard's statistics (PyTorch's DDP does the same).
SyncBatchNorm allreduces the per-channel sums instead, so N ranks compute what
BatchNorm computes on the whole batch in one process. Evaluation uses the
running statistics, as BatchNorm does. ``convert_sync_batchnorm(model)`` swaps
every BatchNorm1d/2d of a model for a SyncBatchNorm sharing its parameters and
buffers.

>>> import minidl as md
>>> model = md.nn.Sequential(md.nn.Conv2d(1, 4, 3), md.nn.BatchNorm2d(4), md.nn.ReLU())
>>> model = md.nn.convert_sync_batchnorm(model)
>>> type(model[1]).__name__
'SyncBatchNorm'
"""

from minidl.functional import arguments
from minidl.functional.batch_norm import batch_norm
from minidl.functional.sync_batch_norm import sync_batch_norm
from minidl.nn.batch_norm import _BatchNorm


class SyncBatchNorm(_BatchNorm):
    """SyncBatchNorm(num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True),
    over (N, C) or (N, C, H, W) input."""

    expected_ndim = (2, 4)

    def forward(self, x):
        arguments.ndim(x, self.expected_ndim, type(self).__name__, "input")
        if self.training or not self.track_running_stats:
            return sync_batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                                   momentum=self.momentum, eps=self.eps)
        return batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                          training=False, momentum=self.momentum, eps=self.eps)

    @classmethod
    def convert_sync_batchnorm(cls, module):
        return convert_sync_batchnorm(module)


def convert_sync_batchnorm(module):
    """``module`` with every BatchNorm1d/2d replaced by a SyncBatchNorm holding the same
    parameters and buffers (the Parameter objects themselves, so an optimizer built before
    still trains them). Returns the new module when ``module`` itself is a batch norm."""
    if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
        sync = SyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                             module.track_running_stats)
        if module.affine:
            sync.weight, sync.bias = module.weight, module.bias
        if module.track_running_stats:
            sync.running_mean, sync.running_var = module.running_mean, module.running_var
        sync.train(module.training)
        return sync
    for name, child in list(module.named_children()):
        converted = convert_sync_batchnorm(child)
        if converted is not child:
            # in place in the table: setattr would move it to the end (Sequential runs in table order)
            module._modules[name] = converted
            object.__setattr__(module, name, converted)
    return module


__all__ = ["SyncBatchNorm", "convert_sync_batchnorm"]
