"""nn.BatchNorm1d / BatchNorm2d: learnable scale and shift, running statistics as buffers."""

import numpy as np

from minidl.functional import arguments
from minidl.functional.batch_norm import batch_norm, batch_norm_relu
from minidl.nn.module import Module, Parameter
from minidl.tensor import Tensor


class _BatchNorm(Module):
    expected_ndim = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
        super().__init__()
        name = type(self).__name__
        self.num_features = arguments.integer(num_features, name, "num_features", 1)
        self.eps = arguments.real(eps, name, "eps")
        self.momentum = arguments.probability(momentum, name, "momentum")
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(np.ones(num_features, dtype=np.float32))
            self.bias = Parameter(np.zeros(num_features, dtype=np.float32))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(num_features, dtype=np.float32)))
            self.register_buffer("running_var", Tensor(np.ones(num_features, dtype=np.float32)))
        else:
            self.running_mean = self.running_var = None

    def forward(self, x, relu=False):
        """The batch norm of x; with ``relu=True``, relu of it as one fused op
        (``F.batch_norm_relu``): a block's ``self.bn1(out, relu=True)`` for
        ``F.relu(self.bn1(out))``. Forward hooks then see the ReLU's output."""
        arguments.ndim(x, self.expected_ndim, type(self).__name__, "input")
        use_batch_stats = self.training or not self.track_running_stats
        op = batch_norm_relu if relu else batch_norm
        return op(x, self.running_mean, self.running_var, self.weight, self.bias,
                  training=use_batch_stats, momentum=self.momentum, eps=self.eps)

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}"


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) input: statistics per feature over the batch."""

    expected_ndim = (2,)


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W) input: statistics per channel over N, H and W.

    >>> import numpy as np, minidl as md
    >>> bn = md.nn.BatchNorm2d(3)
    >>> [name for name, _ in bn.named_buffers()]
    ['running_mean', 'running_var']
    """

    expected_ndim = (4,)
