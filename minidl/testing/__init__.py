"""Testing tools for ops and layers, public so users can check their own.

- ``gradcheck(fn, *inputs)``: analytic vs finite-difference gradients, in float64.
- ``strategies``: hypothesis strategies for values off kinks and valid op
  parameters (imported on first use: it needs hypothesis, from ``minidl[test]``).
"""

import importlib

from minidl.testing.gradcheck import GradcheckReport, gradcheck

__all__ = ["gradcheck", "GradcheckReport", "strategies"]


def __getattr__(name):
    if name == "strategies":
        return importlib.import_module("minidl.testing.strategies")
    raise AttributeError(f"module 'minidl.testing' has no attribute {name!r}")
