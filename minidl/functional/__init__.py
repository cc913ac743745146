"""The differentiable ops: each is one Function that calls the kernels of its device.

>>> import minidl as md
>>> F = md.functional
>>> F.relu(md.tensor([-1.0, 2.0])).numpy()
array([0., 2.], dtype=float32)
"""

from minidl.functional.activation import (
    add_relu,
    leaky_relu,
    log_softmax,
    relu,
    relu6,
    sigmoid,
    silu,
    softmax,
    tanh,
)
from minidl.functional.arithmetic import add, cast, div, exp, log, matmul, mul, neg, pow, sub, sum_to
from minidl.functional.batch_norm import batch_norm, batch_norm_relu
from minidl.functional.conv import conv2d
from minidl.functional.deform_conv import deform_conv2d
from minidl.functional.dropout import dropout
from minidl.functional.linear import linear
from minidl.functional.lrn import local_response_norm
from minidl.functional.loss import cross_entropy
from minidl.functional.pool import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from minidl.functional.reduction import max, mean, sum
from minidl.functional.shape import concat, flatten, getitem, reshape, transpose
from minidl.functional.sync_batch_norm import sync_batch_norm

__all__ = [
    "add", "sub", "mul", "div", "neg", "pow", "exp", "log", "matmul", "cast", "sum_to",
    "sum", "mean", "max",
    "reshape", "transpose", "flatten", "getitem", "concat",
    "relu", "add_relu", "relu6", "leaky_relu", "sigmoid", "tanh", "silu", "softmax", "log_softmax",
    "linear", "conv2d", "deform_conv2d", "max_pool2d", "avg_pool2d", "adaptive_avg_pool2d",
    "batch_norm", "batch_norm_relu", "local_response_norm", "dropout", "cross_entropy",
    "sync_batch_norm",
]
