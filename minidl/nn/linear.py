"""nn.Linear: y = x @ weight.T + bias."""

import numpy as np

from minidl.functional import arguments
from minidl.functional.linear import linear
from minidl.nn import init
from minidl.nn.module import Module, Parameter


class Linear(Module):
    """Linear(in_features, out_features, bias=True); weight (out, in), PyTorch's default init.

    >>> import numpy as np, minidl as md
    >>> md.nn.Linear(4, 2)(md.tensor(np.zeros((3, 4), np.float32))).shape
    (3, 2)
    """

    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        self.in_features = arguments.integer(in_features, "Linear", "in_features", 1)
        self.out_features = arguments.integer(out_features, "Linear", "out_features", 1)
        self.weight = Parameter(np.empty((out_features, in_features), dtype=np.float32))
        if bias:
            self.bias = Parameter(np.empty(out_features, dtype=np.float32))
        else:
            self.register_parameter("bias", None)
        init.default_(self.weight, self.bias)

    def forward(self, x):
        return linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"
