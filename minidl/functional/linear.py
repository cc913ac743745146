"""Fully connected layer: y = x @ weight.T + bias, weight of shape (out, in).

>>> import numpy as np, minidl as md
>>> x = md.tensor(np.ones((2, 3)))
>>> w = md.tensor(np.full((4, 3), 0.5))
>>> md.functional.linear(x, w).shape
(2, 4)
"""

from minidl.autograd import Function
from minidl.functional import arguments


class Linear(Function):
    def forward(self, x, weight, bias=None):
        self.save_for_backward(x, weight)
        y = x @ weight.T
        if bias is not None:
            y += bias
        return y

    def backward(self, gy):
        x, weight = self.saved_tensors
        gx = gy @ weight if self.needs_input_grad[0] else None
        gw = None
        if self.needs_input_grad[1]:
            gw = gy.reshape(-1, gy.shape[-1]).T @ x.reshape(-1, x.shape[-1])
        grads = (gx, gw)
        if len(self.needs_input_grad) == 3:
            gb = gy.reshape(-1, gy.shape[-1]).sum(axis=0) if self.needs_input_grad[2] else None
            grads += (gb,)
        return grads


def linear(x, weight, bias=None):
    """x (..., in) @ weight.T (in, out) + bias (out,)."""
    from minidl.tensor import as_tensor

    x, weight = as_tensor(x), as_tensor(weight)
    bias = None if bias is None else as_tensor(bias)
    arguments.same_dtype("linear", input=x, weight=weight, bias=bias)
    arguments.ndim(weight, 2, "linear", "weight", "(out_features, in_features)")
    if x.ndim < 1 or x.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"linear: input has shape {x.shape} but weight {weight.shape} expects "
            f"{weight.shape[1]} features in the last axis"
        )
    if bias is not None and bias.shape != (weight.shape[0],):
        raise ValueError(f"linear: bias must have shape ({weight.shape[0]},), got {bias.shape}")
    if bias is None:
        return Linear()(x, weight)
    return Linear()(x, weight, bias)
