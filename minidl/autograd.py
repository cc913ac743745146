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

from minidl import backend, threads

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

    # The state of an op before it is recorded and after backward frees it, declared
    # here (as Chainer's FunctionNode does) so subclasses need not call an __init__.
    inputs = None
    _saved = None
    _freed = False

    def __call__(self, *inputs):
        # tensor.py imports this module, and functional (which tensor.py loads) subclasses
        # Function while this module loads: Tensor can only be looked up at call time.
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
        if self._saved is None:
            raise ValueError(
                f"{type(self).__name__}: saved values are gone: the graph was freed by an "
                "earlier backward (pass retain_graph=True to keep it) or never recorded"
            )
        return self._saved

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


def backward(tensor, grad=None, retain_graph=False):
    """Backpropagate from ``tensor``: leaves that require grad get ``.grad`` summed in.

    The walk: pop the newest op, hand its ``backward`` the gradients its outputs
    received, pass what it returns on to its inputs, free it. A leaf gets its
    gradient as soon as the last op that uses it has run, so its hooks (a
    data-parallel allreduce, say) can start while the walk goes on.
    """
    grad = _initial_gradient(tensor, grad)
    xp = backend.get_array_module(tensor.data)
    pending = _PendingGradients()
    pending.add(tensor, grad)
    queue = _OpQueue()
    uses = _LeafUses(tensor._creator)
    if tensor._creator is not None:
        queue.push(tensor._creator)
    while queue:
        function = queue.pop()
        _check_not_freed(function)
        grad_outputs = [pending.take(output, xp) for output in _outputs(function)]
        for x, gx in _input_gradients(function, grad_outputs, xp):
            pending.add(x, gx)
            if x._creator is not None:
                queue.push(x._creator)
        for leaf in uses.done_with(function):
            _deliver(leaf, pending.pop(leaf))
        if not retain_graph:
            function._release()
    # Left: the root if it is a leaf, and leaves behind ops the walk never reached
    # (an op returned None for the input above them).
    for leaf, gx in pending.items():
        _deliver(leaf, gx)


def _initial_gradient(tensor, grad):
    """The gradient the walk starts from: ones for a scalar, else ``grad`` checked."""
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
        return xp.ones_like(tensor.data)
    grad = xp.asarray(getattr(grad, "data", grad), dtype=tensor.dtype)
    if grad.shape != tensor.shape:
        raise ValueError(f"backward: grad has shape {grad.shape} but the output has shape {tensor.shape}")
    return grad


class _OpQueue:
    """Ops waiting for their backward, newest generation first; ties go to the op reached
    first, so every run sums gradients in the same order."""

    def __init__(self):
        self._heap = []
        self._queued = set()
        self._order = itertools.count()

    def __bool__(self):
        return bool(self._heap)

    def push(self, function):
        if id(function) not in self._queued:
            self._queued.add(id(function))
            heapq.heappush(self._heap, (-function.generation, next(self._order), function))

    def pop(self):
        return heapq.heappop(self._heap)[2]


class _PendingGradients:
    """Gradients received so far, per tensor, summed in the order they arrive."""

    def __init__(self):
        # id(tensor) -> [tensor, gradient]; holding the tensor keeps its id unique.
        self._entries = {}

    def add(self, tensor, grad):
        entry = self._entries.get(id(tensor))
        if entry is None:
            self._entries[id(tensor)] = [tensor, grad]
        else:
            entry[1] = _sum(entry[1], grad)

    def take(self, output, xp):
        """The whole gradient of an op's output (zeros if none reached it), after its hooks."""
        tensor, (shape, dtype) = output
        entry = self._entries.pop(id(tensor), None) if tensor is not None else None
        if entry is None:
            return xp.zeros(shape, dtype=dtype)
        grad = _run_hooks(tensor, entry[1])
        if tensor._retains_grad:  # after the hooks, as PyTorch: .grad is what flows on
            _accumulate(tensor, grad)
        return grad

    def pop(self, leaf):
        entry = self._entries.pop(id(leaf), None)
        return None if entry is None else entry[1]

    def items(self):
        return [(tensor, grad) for tensor, grad in self._entries.values()]


class _LeafUses:
    """How many recorded ops below the root still have to run before each leaf that
    requires grad has its whole gradient."""

    def __init__(self, root):
        self._left = {}
        if root is None:
            return
        seen, stack = {id(root)}, [root]
        while stack:
            function = stack.pop()
            for x in function.inputs or ():  # a freed op raises when the walk reaches it
                if not x.requires_grad:
                    continue
                if x._creator is None:
                    self._left[id(x)] = self._left.get(id(x), 0) + 1
                elif id(x._creator) not in seen:
                    seen.add(id(x._creator))
                    stack.append(x._creator)

    def done_with(self, function):
        """The leaves whose last use was ``function``."""
        ready = []
        for x in function.inputs:
            left = self._left.get(id(x))
            if left is not None:
                self._left[id(x)] = left - 1
                if left == 1:
                    ready.append(x)
        return ready


def _outputs(function):
    """(tensor or None if it is gone, (shape, dtype)) for each output of ``function``."""
    return [(ref(), meta) for ref, meta in zip(function.outputs, function._output_meta)]


def _check_not_freed(function):
    if function._freed:
        raise ValueError(
            f"backward: the graph through {function.name} was freed by an earlier "
            "backward; pass retain_graph=True to the first backward to go through it twice"
        )


def _input_gradients(function, grad_outputs, xp):
    """(input, gradient) for each input of ``function`` that requires grad and gets one."""
    grad_inputs = function.backward(*(c_contiguous(g) for g in grad_outputs))
    if not isinstance(grad_inputs, tuple):
        grad_inputs = (grad_inputs,)
    if len(grad_inputs) != len(function.inputs):
        raise ValueError(
            f"{function.name}.backward returned {len(grad_inputs)} gradients for "
            f"{len(function.inputs)} inputs"
        )
    return [
        (x, _checked_gradient(function, index, x, xp.asarray(gx)))
        for index, (x, gx) in enumerate(zip(function.inputs, grad_inputs))
        if gx is not None and x.requires_grad
    ]


def _sum(a, b):
    """a + b, a new array: a residual block's input gets two gradients of its own size,
    added in slices on the CPU threads (``threads.map_work``; the sum of each element
    is the same however it is cut)."""
    if a.shape != b.shape or a.dtype != b.dtype or not (a.flags.c_contiguous and b.flags.c_contiguous):
        return a + b
    xp = backend.get_array_module(a, b)
    total = xp.empty(a.shape, dtype=a.dtype)
    flat_a, flat_b, flat_total = a.reshape(-1), b.reshape(-1), total.reshape(-1)
    threads.map_work(lambda part: xp.add(flat_a[part], flat_b[part], out=flat_total[part]), a.size, 2 * a.size,
                     device=backend.device_of(a))
    return total


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



def _checked_gradient(function, index, tensor, grad):
    if grad.shape != tensor.shape:
        raise ValueError(
            f"{function.name}.backward returned a gradient of shape {grad.shape} for input "
            f"{index}, whose shape is {tensor.shape}"
        )
    if grad.dtype != tensor.dtype:
        grad = grad.astype(tensor.dtype)
    return grad


def _run_hooks(tensor, grad):
    """``tensor``'s gradient hooks in order; each may return a replacement gradient."""
    for hook in list(tensor._hooks.values()) if tensor._hooks else ():
        result = hook(grad)
        if result is None:
            continue
        xp = backend.get_array_module(grad)
        result = xp.asarray(getattr(result, "data", result))
        if result.shape != grad.shape:
            raise ValueError(
                f"register_hook: the hook {getattr(hook, '__name__', hook)!r} returned a gradient of shape "
                f"{result.shape} for a tensor of shape {tensor.shape}"
            )
        grad = result.astype(tensor.dtype, copy=False)
    return grad


def _deliver(leaf, grad):
    """A leaf's whole gradient of this pass: its hooks, then into ``.grad`` in one addition
    (so k passes leave exactly k times one pass's gradient), then the hooks that want
    the accumulated ``.grad``."""
    if grad is None:
        return
    _accumulate(leaf, _run_hooks(leaf, grad))
    for hook in list(leaf._post_accumulate_hooks.values()) if leaf._post_accumulate_hooks else ():
        hook(leaf)


def _accumulate(tensor, grad):
    """Add grad into tensor.grad; the first gradient is copied so .grad is never an alias."""
    if tensor.grad is None:
        tensor.grad = grad.copy()
    else:
        tensor.grad += grad
