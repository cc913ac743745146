"""minidl: a deep-learning engine written from scratch on NumPy and CuPy.

>>> import numpy as np, minidl as md
>>> md.manual_seed(0)
>>> x = md.tensor(np.ones((2, 3)), requires_grad=True)
>>> (x * 3).sum().backward()
>>> x.grad
array([[3., 3., 3.],
       [3., 3., 3.]])
"""

import importlib

from minidl.autograd import Function, enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from minidl.random import manual_seed
from minidl.tensor import Tensor, tensor
from minidl import functional, nn, optim  # noqa: E402  (they build on Tensor)
# Imported now, not lazily: importing the submodule later would otherwise set
# md.summary to the module and hide the function.
from minidl.summary import summary  # noqa: E402

__version__ = "0.1.0"

# Loaded on first use: testing needs hypothesis (a test extra), viz the graphviz
# package (the viz extra) to draw, the rest is not needed to run an op.
_LAZY_MODULES = ("testing", "models", "data", "training", "kernels", "viz")


def __getattr__(name):
    if name in _LAZY_MODULES:
        return importlib.import_module(f"minidl.{name}")
    raise AttributeError(f"module 'minidl' has no attribute {name!r}")
