"""Inverted dropout: in training each element is zeroed with probability p and
the survivors are scaled by 1 / (1 - p), so evaluation is the identity.

The mask comes from a counter-based hash of a seed drawn from minidl's
generator, so ``md.manual_seed`` fixes it, and it is the same on every device.

>>> import numpy as np, minidl as md
>>> md.manual_seed(0)
>>> y = md.functional.dropout(md.tensor(np.ones(8)), p=0.5)
>>> sorted(set(y.numpy().tolist()))
[0.0, 2.0]
"""

from minidl import random
from minidl.autograd import Function
from minidl.backend import kernels_for
from minidl.functional import arguments
from minidl.tensor import as_tensor


class Dropout(Function):
    """y = x * mask, mask = 0 with probability p, else 1 / (1 - p); gx = gy * mask."""

    def __init__(self, p, seed):
        self.p, self.seed = p, seed

    def forward(self, x):
        mask = kernels_for(x).dropout_mask(x.shape, self.p, self.seed, x.dtype)
        self.save_for_backward(mask)
        return x * mask

    def backward(self, gy):
        (mask,) = self.saved_tensors
        return gy * mask


def dropout(x, p=0.5, training=True):
    """Zero each element with probability p and scale the rest by 1 / (1 - p) in training;
    the identity when not training or p == 0, and zeros when p == 1."""
    x = as_tensor(x)
    p = arguments.probability(p, "dropout", "p")
    arguments.kernel_floating(x, "dropout")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    return Dropout(p, random.next_seed())(x)
