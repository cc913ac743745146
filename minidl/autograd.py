"""The define-by-run core: Function, the backward walk, and grad mode.

Every differentiable op is one ``Function``. Its ``forward`` takes and returns
raw arrays (NumPy or CuPy); its ``backward`` takes the output gradient(s) and
returns one gradient per input (``None`` where there is none). A call records
the op in the graph when grad mode is on and some input requires grad.

>>> import numpy as np, minidl as md
>>> class Square(md.Function):
...     def forward(self, x):
...         self.save_for_backward(x)
...         return x * x
...     def backward(self, gy):
...         (x,) = self.saved_tensors
...         return 2 * x * gy
>>> t = md.tensor([1.0, 2.0, 3.0], requires_grad=True)
>>> Square()(t).sum().backward()
>>> t.grad
array([2., 4., 6.], dtype=float32)

``backward()`` walks the graph without recursion, newest op first (ordered by
generation with a heap, as DeZero and Chainer do, ties broken by the order in
which ops were reached, so every run sums gradients in the same order). A
tensor used twice receives the sum of both gradients. After the walk the graph
is freed: each op drops its inputs and saved arrays, so activations are
released at once; a second backward through it raises a ValueError unless the
first one passed ``retain_graph=True``.
"""

import contextlib
import heapq
import itertools
import threading
import weakref

from minidl import backend

_state = threading.local()


def is_grad_enabled():
    """Whether ops called now are recorded for backward."""
    return getattr(_state, "grad_enabled", True)


def set_grad_enabled(mode):
    _state.grad_enabled = bool(mode)


class _GradMode(contextlib.ContextDecorator):
    def __init__(self, mode):
        self.mode = mode

    def __enter__(self):
        self.previous = is_grad_enabled()
        set_grad_enabled(self.mode)
        return self

    def __exit__(self, *exc):
        set_grad_enabled(self.previous)
        return False


def no_grad():
    """Context manager (or decorator) in which no op is recorded.

    >>> import minidl as md
    >>> x = md.tensor([1.0], requires_grad=True)
    >>> with md.no_grad():
    ...     y = x * 2
    >>> y.requires_grad
    False
    """
    return _GradMode(False)


def enable_grad():
    """Context manager (or decorator) that turns recording back on inside no_grad."""
    return _GradMode(True)


class Function:
    """One differentiable op: ``forward`` on arrays, ``backward`` on gradients.

    Subclasses implement ``forward(*arrays)`` and ``backward(*grad_outputs)``.
    Arguments that are not differentiable (strides, labels, running
    statistics) go to ``__init__``; only arrays that may need a gradient are
    call arguments. Inside ``forward`` and ``backward``,
    ``self.needs_input_grad[i]`` says whether input i wants a gradient, so an
    op can skip work nobody will use. Both get C-contiguous arrays only
    (``c_contiguous``), whatever the layout of the tensors they came from.
    """

    def __call__(self, *inputs):
        from minidl.tensor import Tensor, as_tensor

        reference = next((x for x in inputs if isinstance(x, Tensor)), None)
        tensors = tuple(as_tensor(x, like=reference) for x in inputs)
        self._check_devices(tensors)
        record = is_grad_enabled() and any(t.requires_grad for t in tensors)
        self.needs_input_grad = tuple(record and t.requires_grad for t in tensors)

        results = self.forward(*(c_contiguous(t.data) for t in tensors))
        single = not isinstance(results, tuple)
        if single:
            results = (results,)
        xp = backend.get_array_module(*(t.data for t in tensors))
        outputs = tuple(Tensor(xp.asarray(y), requires_grad=record) for y in results)

        if record:
            self.inputs = tensors
            self.generation = max(t._generation for t in tensors)
            self.outputs = tuple(weakref.ref(y) for y in outputs)
            self._output_meta = tuple((y.shape, y.dtype) for y in outputs)
            for y in outputs:
                y._creator = self
                y._generation = self.generation + 1
        else:
            self._saved = None
        return outputs[0] if single else outputs

    def forward(self, *arrays):
        raise NotImplementedError(f"{type(self).__name__}.forward is not implemented")

    def backward(self, *grad_outputs):
        raise NotImplementedError(f"{type(self).__name__}.backward is not implemented")

    def save_for_backward(self, *arrays):
        """Keep what backward needs, and only that (Chainer's ``retain_inputs``)."""
        self._saved = arrays

    @property
    def saved_tensors(self):
        saved = getattr(self, "_saved", None)
        if saved is None:
            raise ValueError(
                f"{type(self).__name__}: saved values are gone: the graph was freed by an "
                "earlier backward (pass retain_graph=True to keep it) or never recorded"
            )
        return saved

    @property
    def name(self):
        return type(self).__name__

    def _check_devices(self, tensors):
        devices = {t.device for t in tensors}
        if len(devices) > 1:
            described = ", ".join(f"{t.device} {t.shape}" for t in tensors)
            raise ValueError(
                f"{self.name}: all inputs must be on one device, got {described}; "
                "move them with .to(device) first (minidl never copies silently)"
            )

    def _release(self):
        self.inputs = None
        self._saved = None
        self._freed = True


def c_contiguous(array):
    """``array`` itself if it is C-contiguous, else a C-contiguous copy.

    Every ``forward`` and ``backward`` gets its arrays through this, so no op
    meets a transposed, Fortran-order, negative-stride, step-sliced or broadcast
    (zero-stride) array: an op's result never depends on its inputs' layout
    (a 1x1 convolution once wrote the gradient of a transposed input into a
    copy and returned uninitialised memory), and kernels may index flat.
    """
    if array.flags.c_contiguous:
        return array
    return backend.get_array_module(array).ascontiguousarray(array)


def _accumulate(tensor, grad):
    """Add grad into tensor.grad; the first gradient is copied so .grad is never an alias."""
    if tensor.grad is None:
        tensor.grad = grad.copy()
    else:
        tensor.grad += grad


def _checked_gradient(function, index, tensor, grad):
    if grad.shape != tensor.shape:
        raise ValueError(
            f"{function.name}.backward returned a gradient of shape {grad.shape} for input "
            f"{index}, whose shape is {tensor.shape}"
        )
    if grad.dtype != tensor.dtype:
        grad = grad.astype(tensor.dtype)
    return grad


def backward(tensor, grad=None, retain_graph=False):
    """Backpropagate from ``tensor``: leaves that require grad get ``.grad`` summed in."""
    if not tensor.requires_grad:
        raise ValueError(
            "backward: this tensor does not require grad (no input of the ops that made it "
            "required grad, or it was computed under no_grad)"
        )
    xp = backend.get_array_module(tensor.data)
    if grad is None:
        if tensor.size != 1:
            raise ValueError(
                f"backward: a gradient can be created implicitly only for a scalar output; "
                f"this output has shape {tensor.shape}: pass grad= an array of that shape"
            )
        grad = xp.ones_like(tensor.data)
    else:
        grad = getattr(grad, "data", grad)
        grad = xp.asarray(grad, dtype=tensor.dtype)
        if grad.shape != tensor.shape:
            raise ValueError(
                f"backward: grad has shape {grad.shape} but the output has shape {tensor.shape}"
            )

    if tensor._creator is None:
        _accumulate(tensor, grad)
        return

    # id(tensor) -> [tensor, gradient so far]; holding the tensor keeps its id unique.
    pending = {id(tensor): [tensor, grad]}
    order = itertools.count()
    heap = []
    queued = set()

    def push(function):
        if id(function) not in queued:
            queued.add(id(function))
            heapq.heappush(heap, (-function.generation, next(order), function))

    push(tensor._creator)
    while heap:
        _, _, function = heapq.heappop(heap)
        if getattr(function, "_freed", False):
            raise ValueError(
                f"backward: the graph through {function.name} was freed by an earlier "
                "backward; pass retain_graph=True to the first backward to go through it twice"
            )
        grad_outputs = []
        for ref, (shape, dtype) in zip(function.outputs, function._output_meta):
            output = ref()
            entry = pending.pop(id(output), None) if output is not None else None
            if entry is None:
                grad_outputs.append(xp.zeros(shape, dtype=dtype))
                continue
            if output._retains_grad:
                _accumulate(output, entry[1])
            grad_outputs.append(entry[1])

        grad_inputs = function.backward(*(c_contiguous(g) for g in grad_outputs))
        if not isinstance(grad_inputs, tuple):
            grad_inputs = (grad_inputs,)
        if len(grad_inputs) != len(function.inputs):
            raise ValueError(
                f"{function.name}.backward returned {len(grad_inputs)} gradients for "
                f"{len(function.inputs)} inputs"
            )
        for index, (x, gx) in enumerate(zip(function.inputs, grad_inputs)):
            if gx is None or not x.requires_grad:
                continue
            gx = _checked_gradient(function, index, x, xp.asarray(gx))
            entry = pending.get(id(x))
            if entry is None:
                pending[id(x)] = [x, gx]
            else:
                entry[1] = entry[1] + gx
            if x._creator is not None:
                push(x._creator)
        if not retain_graph:
            function._release()

    # Only leaves are left. Each gets this pass's summed gradient in one addition,
    # so k backward passes leave exactly k times one pass's gradient in .grad.
    for leaf, gx in pending.values():
        _accumulate(leaf, gx)
