"""Testing tools for ops and layers, public so users can check their own.

- ``gradcheck(fn, *inputs)``: analytic vs finite-difference gradients, in float64,
  after the structural checks of ``check_backward``.
- ``check_backward(fn, *inputs)``: in any float dtype, inputs left unchanged,
  gradients of the inputs' shapes and dtypes, and gradients that accumulate.
- ``strategies``: hypothesis strategies for values off kinks and valid op
  parameters (imported on first use: it needs hypothesis, from ``minidl[test]``).
"""

import importlib

from minidl.testing.gradcheck import BackwardResult, GradcheckReport, check_backward, gradcheck

__all__ = ["gradcheck", "check_backward", "GradcheckReport", "BackwardResult", "strategies"]


def __getattr__(name):
    if name == "strategies":
        return importlib.import_module("minidl.testing.strategies")
    raise AttributeError(f"module 'minidl.testing' has no attribute {name!r}")
