"""gradcheck: compare an op's backward with central finite differences.

>>> import numpy as np, minidl as md
>>> x = md.tensor(np.array([0.5, -1.5, 2.0]), requires_grad=True)
>>> report = md.testing.gradcheck(lambda t: md.functional.tanh(t) * t, x)
>>> report.ok
True

How it works: with a random upstream gradient ``g`` (never all ones, which
cannot tell a gradient from its transpose), the analytic gradient of
``sum(g * fn(*inputs))`` comes from one backward; the numeric one perturbs each
input element by +-eps. They must agree within ``atol + rtol * |numeric|``
everywhere (PyTorch's defaults: eps 1e-6, atol 1e-5, rtol 1e-3), which only
float64 can resolve, so every input that requires grad must be float64.

On disagreement an AssertionError names the input and its worst element.
It also fails when fn changes its inputs, or when backward gives a gradient of
the wrong shape or dtype.
"""

from dataclasses import dataclass, field

import numpy as np

from minidl import backend
from minidl.autograd import no_grad
from minidl.tensor import Tensor


@dataclass
class InputReport:
    index: int
    shape: tuple
    max_abs_error: float
    worst_index: tuple
    analytic: float
    numeric: float


@dataclass
class GradcheckReport:
    ok: bool
    inputs: list = field(default_factory=list)

    @property
    def max_abs_error(self):
        return max((r.max_abs_error for r in self.inputs), default=0.0)

    def __str__(self):
        lines = [f"gradcheck {'passed' if self.ok else 'FAILED'}"]
        for r in self.inputs:
            lines.append(
                f"  input {r.index} {r.shape}: max |analytic - numeric| = {r.max_abs_error:.3g} "
                f"at {r.worst_index} (analytic {r.analytic:.6g}, numeric {r.numeric:.6g})"
            )
        return "\n".join(lines)


def _output(fn, inputs):
    y = fn(*inputs)
    if not isinstance(y, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(y).__name__}")
    return y


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0):
    """Check fn's gradients w.r.t. every input Tensor that requires grad.

    Returns a GradcheckReport when they agree; raises AssertionError otherwise.
    """
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input Tensor requires grad, so there is nothing to check")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(
                f"gradcheck: input {i} is {inputs[i].dtype}; finite differences need float64 "
                "(convert with .double() or md.tensor(array.astype(np.float64)))"
            )
    for i in checked:
        inputs[i].grad = None
        xp = backend.get_array_module(inputs[i].data)
        inputs[i].data = xp.ascontiguousarray(inputs[i].data)  # perturbed through a flat view
    originals = [x.data.copy() if isinstance(x, Tensor) else None for x in inputs]

    y = _output(fn, inputs)
    xp = backend.get_array_module(y.data)
    rng = np.random.default_rng(seed)
    upstream = xp.asarray(rng.uniform(0.5, 1.5, y.shape) * rng.choice([-1.0, 1.0], y.shape)).astype(y.dtype)
    y.backward(upstream)
    for i, original in enumerate(originals):
        if original is not None and not bool((inputs[i].data == original).all()):
            raise AssertionError(f"gradcheck: fn changed input {i} in place")

    def objective():
        with no_grad():
            return float((_output(fn, inputs).data * upstream).sum())

    report = GradcheckReport(ok=True)
    failures = []
    for i in checked:
        x = inputs[i]
        analytic = x.grad
        if analytic is None:
            analytic = xp.zeros_like(x.data)
        if analytic.shape != x.shape or analytic.dtype != x.dtype:
            raise AssertionError(
                f"gradcheck: input {i} has shape {x.shape} and dtype {x.dtype} but its gradient "
                f"has shape {analytic.shape} and dtype {analytic.dtype}"
            )
        analytic = backend.to_device(analytic, "cpu")
        numeric = np.zeros(x.shape, dtype=np.float64)
        flat = x.data.reshape(-1)
        for k in range(flat.size):
            saved = flat[k].item()
            flat[k] = saved + eps
            plus = objective()
            flat[k] = saved - eps
            minus = objective()
            flat[k] = saved
            numeric.reshape(-1)[k] = (plus - minus) / (2 * eps)
        error = np.abs(analytic - numeric)
        excess = error - (atol + rtol * np.abs(numeric))
        worst = np.unravel_index(int(np.argmax(excess)), x.shape) if x.size else ()
        worst_error = np.unravel_index(int(np.argmax(error)), x.shape) if x.size else ()
        where = worst if x.size and excess[worst] > 0 else worst_error
        entry = InputReport(
            index=i, shape=x.shape,
            max_abs_error=float(error.max()) if x.size else 0.0,
            worst_index=tuple(int(v) for v in where),
            analytic=float(analytic[where]) if x.size else 0.0,
            numeric=float(numeric[where]) if x.size else 0.0,
        )
        report.inputs.append(entry)
        if x.size and excess[worst] > 0:
            failures.append(entry)
    if failures:
        report.ok = False
        first = failures[0]
        raise AssertionError(
            f"gradcheck: analytic and numeric gradients of input {first.index} {first.shape} "
            f"disagree; worst element {first.worst_index}: analytic {first.analytic:.8g}, "
            f"numeric {first.numeric:.8g} (atol {atol}, rtol {rtol})\n{report}"
        )
    return report
