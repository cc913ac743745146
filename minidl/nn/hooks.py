"""Full backward hooks of a Module: ``hook(module, grad_inputs, grad_outputs)``.

As PyTorch does, one call of the module is bracketed by two identity ops: one on
the inputs, one on the outputs. Backward reaches the output identity first and
keeps the output gradients; it reaches the input identity last, once every op of
the module has run, and there the hooks see both. A hook may return replacement
input gradients. Each call has its own pair, so a module used twice calls its
hooks twice, each time with that call's gradients.

>>> import numpy as np, minidl as md
>>> layer = md.nn.Linear(2, 1)
>>> seen = []
>>> handle = layer.register_full_backward_hook(
...     lambda module, grad_inputs, grad_outputs: seen.append((grad_inputs[0].shape, grad_outputs[0].shape)))
>>> layer(md.tensor(np.ones((3, 2), np.float32), requires_grad=True)).sum().backward()
>>> seen
[((3, 2), (3, 1))]
"""

from minidl.autograd import Function
from minidl.tensor import Tensor


class BackwardHookCall:
    """One call of a module that has full backward hooks."""

    def __init__(self, module, hooks):
        self.module = module
        self.hooks = hooks
        # Positions of the inputs and outputs that go through the identities (tensors
        # that require grad); the hooks get None at the other positions.
        self.n_inputs, self.input_slots = 0, ()
        self.n_outputs, self.output_slots = 0, ()
        self.grad_outputs = None

    def wrap_inputs(self, inputs):
        self.n_inputs = len(inputs)
        self.input_slots = tuple(i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad)
        if not self.input_slots:
            return inputs
        wrapped = _InputIdentity(self)(*(inputs[i] for i in self.input_slots))
        inputs = list(inputs)
        for slot, x in zip(self.input_slots, wrapped):
            inputs[slot] = x
        return tuple(inputs)

    def wrap_outputs(self, output):
        single = isinstance(output, Tensor)
        outputs = (output,) if single else output
        if not isinstance(outputs, tuple):
            return output
        self.n_outputs = len(outputs)
        self.output_slots = tuple(i for i, y in enumerate(outputs) if isinstance(y, Tensor) and y.requires_grad)
        if not self.output_slots:
            return output
        wrapped = _OutputIdentity(self)(*(outputs[i] for i in self.output_slots))
        outputs = list(outputs)
        for slot, y in zip(self.output_slots, wrapped):
            outputs[slot] = y
        return outputs[0] if single else tuple(outputs)

    def outputs_done(self, grads):
        grad_outputs = [None] * self.n_outputs
        for slot, g in zip(self.output_slots, grads):
            grad_outputs[slot] = g
        self.grad_outputs = tuple(grad_outputs)
        if not self.input_slots:  # no input identity will be reached: call the hooks now
            self.inputs_done(())

    def inputs_done(self, grads):
        grad_inputs = [None] * self.n_inputs
        for slot, g in zip(self.input_slots, grads):
            grad_inputs[slot] = g
        grad_inputs = tuple(grad_inputs)
        grad_outputs, self.grad_outputs = self.grad_outputs, None  # keep no gradient past its use
        if grad_outputs is None:  # outputs unused by the loss: PyTorch calls no hook either
            return grads
        for hook in list(self.hooks.values()):
            result = hook(self.module, grad_inputs, grad_outputs)
            if result is not None:
                grad_inputs = _replacement(self.module, result, grad_inputs)
        return tuple(grad_inputs[slot] for slot in self.input_slots)


def _replacement(module, result, grad_inputs):
    result = tuple(result) if isinstance(result, (tuple, list)) else (result,)
    if len(result) != len(grad_inputs):
        raise ValueError(
            f"{type(module).__name__} full backward hook: returned {len(result)} gradients for "
            f"{len(grad_inputs)} inputs (return None to keep them)"
        )
    checked = []
    for index, (new, old) in enumerate(zip(result, grad_inputs)):
        new = getattr(new, "data", new)
        if new is not None and old is not None and new.shape != old.shape:
            raise ValueError(
                f"{type(module).__name__} full backward hook: gradient {index} has shape {new.shape}, "
                f"the input's is {old.shape}"
            )
        checked.append(new)
    return tuple(checked)


class _OutputIdentity(Function):
    """The module's outputs, unchanged; backward passes their gradients and keeps them."""

    def __init__(self, call):
        self.call = call

    def forward(self, *ys):
        return ys

    def backward(self, *grads):
        self.call.outputs_done(grads)
        return grads


class _InputIdentity(Function):
    """The module's inputs, unchanged; backward calls the hooks with the input gradients."""

    def __init__(self, call):
        self.call = call

    def forward(self, *xs):
        return xs

    def backward(self, *grads):
        return self.call.inputs_done(grads)
