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
Before comparing, gradcheck runs ``check_backward``, so it also fails when fn
changes its inputs, when backward gives a gradient of the wrong shape or
dtype, or when gradients do not accumulate. ``check_backward`` alone takes
any float dtype: it is the structural half, for float32 paths.
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


@dataclass
class BackwardResult:
    """What ``check_backward`` saw: fn's output, the upstream gradient it used, and
    one gradient per input (None for inputs that do not require grad)."""

    output: Tensor
    upstream: object
    grads: list


def _output(fn, inputs):
    y = fn(*inputs)
    if not isinstance(y, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(y).__name__}")
    return y


def _upstream(y, seed):
    """A random gradient of y's shape and dtype: magnitudes in [0.5, 1.5), random signs."""
    rng = np.random.default_rng(seed)
    values = rng.uniform(0.5, 1.5, y.shape) * rng.choice([-1.0, 1.0], y.shape)
    xp = backend.get_array_module(y.data)
    return xp.asarray(np.asarray(values, dtype=y.dtype))


def _same(a, b):
    xp = backend.get_array_module(a)
    return a.shape == b.shape and bool(xp.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))


def _backward(y, upstream, retain_graph):
    """y.backward, with a failure inside backward reported as a failed check."""
    try:
        y.backward(upstream, retain_graph=retain_graph)
    except ValueError as error:
        raise AssertionError(f"gradcheck: backward failed: {error}") from error


def _gradient(x):
    xp = backend.get_array_module(x.data)
    return xp.zeros_like(x.data) if x.grad is None else x.grad.copy()


def check_backward(fn, *inputs, seed=0):
    """Structural checks of fn's backward, in any float dtype. Returns a BackwardResult.

    With a random upstream gradient g, it checks that:

    - fn leaves its input arrays unchanged, and backward leaves g unchanged;
    - every gradient has its input's shape and dtype;
    - gradients accumulate: a second backward through the same (retained) graph
      makes ``.grad`` exactly 2x the first, and a third one through a fresh
      forward exactly 3x (so fn must be deterministic: seed any randomness inside).

    Raises AssertionError naming the input when one fails. ``.grad`` of the
    inputs is reset first.

    >>> import numpy as np, minidl as md
    >>> x = md.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    >>> result = check_backward(md.functional.sigmoid, x)
    >>> result.grads[0].dtype
    dtype('float32')
    """
    checked = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input Tensor requires grad, so there is nothing to check")
    for i in checked:
        inputs[i].grad = None
    originals = {i: x.data.copy() for i, x in enumerate(inputs) if isinstance(x, Tensor)}

    y = _output(fn, inputs)
    upstream = _upstream(y, seed)
    upstream_copy = upstream.copy()
    _backward(y, upstream, retain_graph=True)
    for i, original in originals.items():
        if not _same(inputs[i].data, original):
            raise AssertionError(f"gradcheck: fn changed input {i} {original.shape} in place")
    if not _same(upstream, upstream_copy):
        raise AssertionError("gradcheck: backward changed the upstream gradient in place")

    first = {}
    for i in checked:
        x = inputs[i]
        if x.grad is not None and (x.grad.shape != x.shape or x.grad.dtype != x.dtype):
            raise AssertionError(
                f"gradcheck: input {i} has shape {x.shape} and dtype {x.dtype} but its gradient "
                f"has shape {x.grad.shape} and dtype {x.grad.dtype}"
            )
        first[i] = _gradient(x)

    _backward(y, upstream, retain_graph=False)
    _check_multiple(inputs, first, 2, "a second backward through the same graph")
    _backward(_output(fn, inputs), upstream, retain_graph=False)
    _check_multiple(inputs, first, 3, "a third backward through a fresh forward")
    for i, original in originals.items():
        if not _same(inputs[i].data, original):
            raise AssertionError(f"gradcheck: fn or its backward changed input {i} {original.shape} in place")

    for i in checked:
        inputs[i].grad = None
    grads = [first.get(i) for i in range(len(inputs))]
    return BackwardResult(output=y, upstream=upstream, grads=grads)


def _check_multiple(inputs, first, times, what):
    for i, g in first.items():
        got = _gradient(inputs[i])
        expected = g * g.dtype.type(times)
        if not _same(got, expected):
            xp = backend.get_array_module(got)
            worst = np.unravel_index(int(xp.argmax(xp.abs(got - expected))), got.shape) if got.size else ()
            raise AssertionError(
                f"gradcheck: gradients of input {i} {inputs[i].shape} do not accumulate: after "
                f"{what}, .grad should be exactly {times}x the first gradient; at "
                f"{tuple(int(v) for v in worst)} it is {float(got[worst])} instead of "
                f"{float(expected[worst])} (is backward or fn changing saved state, or random?)"
            )


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0):
    """Check fn's gradients w.r.t. every input Tensor that requires grad.

    Returns a GradcheckReport when they agree; raises AssertionError otherwise.
    The inputs are perturbed in place and restored; their ``.grad`` is reset.
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
        data = inputs[i].data
        if not (data.flags.c_contiguous and data.flags.writeable):
            # A C-ordered copy of our own: it is perturbed through a flat view.
            inputs[i].data = backend.get_array_module(data).array(data, order="C")

    result = check_backward(fn, *inputs, seed=seed)
    upstream = result.upstream

    def objective():
        with no_grad():
            return float((_output(fn, inputs).data * upstream).sum())

    report = GradcheckReport(ok=True)
    failures = []
    for i in checked:
        x = inputs[i]
        analytic = backend.to_device(result.grads[i], "cpu")
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
        entry, failed = _compare(i, x.shape, analytic, numeric, atol, rtol)
        report.inputs.append(entry)
        if failed:
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


def _compare(index, shape, analytic, numeric, atol, rtol):
    """(InputReport, failed): the worst element is the one furthest past the tolerance,
    or, when all are within it, the one with the largest error."""
    if analytic.size == 0:
        return InputReport(index, shape, 0.0, (), 0.0, 0.0), False
    error = np.abs(analytic - numeric)
    # A NaN anywhere is a failure, never a silent pass (NaN > 0 is False).
    excess = np.where(np.isnan(error), np.inf, error - (atol + rtol * np.abs(numeric)))
    worst = np.unravel_index(int(np.argmax(excess)), shape)
    failed = bool(excess[worst] > 0)
    if not failed:
        worst = np.unravel_index(int(np.argmax(error)), shape)
    entry = InputReport(
        index=index, shape=shape, max_abs_error=float(error.max()),
        worst_index=tuple(int(v) for v in worst),
        analytic=float(analytic[worst]), numeric=float(numeric[worst]),
    )
    return entry, failed
