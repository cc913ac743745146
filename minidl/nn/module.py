"""Module: a layer or a network, holding parameters, buffers and sub-modules.

Assigning a Parameter or a Module to an attribute registers it, in assignment
order, so ``parameters()`` always comes out in the same order (never hash
order: optimizer state and checkpoints depend on it). Buffers (running
statistics) are Tensors kept apart from parameters: they are saved in the
state dict but never trained.

>>> import minidl as md
>>> class Tiny(md.nn.Module):
...     def __init__(self):
...         super().__init__()
...         self.fc = md.nn.Linear(3, 2)
...     def forward(self, x):
...         return self.fc(x)
>>> [name for name, _ in Tiny().named_parameters()]
['fc.weight', 'fc.bias']
"""

import threading
from collections import OrderedDict
from collections.abc import Mapping

import numpy as np

from minidl import backend
from minidl.autograd import is_grad_enabled
from minidl.hooks import add_hook
from minidl.nn.hooks import BackwardHookCall
from minidl.tensor import Tensor


class Parameter(Tensor):
    """A Tensor that a Module trains: requires_grad is on unless asked otherwise."""

    def __init__(self, data, requires_grad=True):
        if isinstance(data, Tensor):
            data = data.data
        super().__init__(data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of layers and networks: subclasses define ``forward``."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_backward_hooks", OrderedDict())
        object.__setattr__(self, "training", True)

    # ---- registration ---------------------------------------------------
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__}: call super().__init__() before assigning attributes"
            )
        if name in self._buffers and (value is None or type(value) is Tensor):
            self._buffers[name] = value  # a buffer reassigned stays a buffer
            object.__setattr__(self, name, value)
            return
        for table in (self._parameters, self._buffers, self._modules):
            table.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        for table in (self._parameters, self._buffers, self._modules):
            table.pop(name, None)
        object.__delattr__(self, name)

    def register_buffer(self, name, value):
        """Keep a non-trained tensor (running statistics) in the state dict."""
        if value is not None and not isinstance(value, Tensor):
            value = Tensor(value)
        self.__setattr__(name, value)
        self._buffers[name] = value

    def register_parameter(self, name, value):
        self.__setattr__(name, value)
        if value is None:
            self._parameters[name] = None

    def add_module(self, name, module):
        """Register ``module`` (a Module instance, or None) as a child named ``name``."""
        if module is not None and not isinstance(module, Module):
            hint = f" (the class itself: write {module.__name__}())" if isinstance(module, type) else ""
            raise TypeError(
                f"{type(self).__name__}: child {name!r} must be a Module, got {module!r}{hint}"
            )
        self.__setattr__(name, module)

    # ---- hooks (PyTorch's names and semantics; each returns a handle with .remove()) ----
    def register_forward_pre_hook(self, hook):
        """Call ``hook(module, inputs)`` before every forward. A return value other than
        None replaces the inputs (a tuple, or one value that becomes a 1-tuple)."""
        return add_hook(self._forward_pre_hooks, hook)

    def register_forward_hook(self, hook):
        """Call ``hook(module, inputs, output)`` after every forward. A return value other
        than None replaces the output."""
        return add_hook(self._forward_hooks, hook)

    def register_full_backward_hook(self, hook):
        """Call ``hook(module, grad_inputs, grad_outputs)`` once the gradients of a call's
        inputs are computed: tuples with one entry per positional input and per output
        (None where an input is not a tensor that requires grad). A return value other
        than None replaces ``grad_inputs``. A module called twice calls it twice, each
        time with that call's gradients. See ``minidl.nn.hooks``."""
        return add_hook(self._backward_hooks, hook)

    # ---- calling --------------------------------------------------------
    def forward(self, *inputs):
        raise NotImplementedError(f"{type(self).__name__}.forward is not implemented")

    def __call__(self, *inputs, **kwargs):
        for hook in list(self._forward_pre_hooks.values()):
            result = hook(self, inputs)
            if result is not None:
                inputs = result if isinstance(result, tuple) else (result,)
        backward_hooks = BackwardHookCall(self, self._backward_hooks) if (
            self._backward_hooks and is_grad_enabled()) else None
        if backward_hooks:
            inputs = backward_hooks.wrap_inputs(inputs)
        _calls.depth = getattr(_calls, "depth", 0) + 1
        try:
            output = self.forward(*inputs, **kwargs)
        except ValueError as error:
            _name_failing_layer(error, self, inputs, outermost=_calls.depth == 1)
            raise
        finally:
            _calls.depth -= 1
        for hook in list(self._forward_hooks.values()):
            result = hook(self, inputs, output)
            if result is not None:
                output = result
        if backward_hooks:
            output = backward_hooks.wrap_outputs(output)
        return output

    # ---- traversal ------------------------------------------------------
    def named_children(self):
        return iter(list(self._modules.items()))

    def children(self):
        return (m for _, m in self.named_children())

    def named_modules(self, prefix=""):
        """This module and all below it, depth first, each once."""
        seen = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            children = [
                (f"{name}.{child_name}" if name else child_name, child)
                for child_name, child in module._modules.items()
                if child is not None
            ]
            stack.extend(reversed(children))

    def modules(self):
        return (m for _, m in self.named_modules())

    def _named_members(self, table_name, recurse):
        seen = set()
        modules = self.named_modules() if recurse else [("", self)]
        for module_name, module in modules:
            for name, value in getattr(module, table_name).items():
                if value is None or id(value) in seen:
                    continue
                seen.add(id(value))
                yield (f"{module_name}.{name}" if module_name else name), value

    def named_parameters(self, recurse=True):
        return self._named_members("_parameters", recurse)

    def parameters(self, recurse=True):
        return (p for _, p in self.named_parameters(recurse))

    def named_buffers(self, recurse=True):
        return self._named_members("_buffers", recurse)

    def buffers(self, recurse=True):
        return (b for _, b in self.named_buffers(recurse))

    def apply(self, fn):
        for module in self.modules():
            fn(module)
        return self

    # ---- modes, devices, dtypes ------------------------------------------
    def train(self, mode=True):
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None

    def _map_arrays(self, fn):
        for module in self.modules():
            for table in (module._parameters, module._buffers):
                for value in table.values():
                    if value is None:
                        continue
                    value.data = fn(value.data)
                    if value.grad is not None:
                        value.grad = fn(value.grad)
        return self

    def to(self, device):
        """Move every parameter, buffer and gradient to ``device``, in place."""
        device = backend.check_device(device, f"{type(self).__name__}.to")
        return self._map_arrays(lambda a: backend.to_device(a, device))

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    def astype(self, dtype):
        """Convert floating parameters and buffers to ``dtype``, in place."""
        dtype = np.dtype(dtype)
        return self._map_arrays(lambda a: a.astype(dtype) if a.dtype.kind == "f" else a)

    def float(self):
        return self.astype(np.float32)

    def double(self):
        return self.astype(np.float64)

    # ---- state ----------------------------------------------------------
    def state_dict(self):
        """Name -> array for every parameter and buffer (the live arrays, not copies)."""
        state = OrderedDict()
        for name, p in self.named_parameters():
            state[name] = p.data
        for name, b in self.named_buffers():
            state[name] = b.data
        return state

    def load_state_dict(self, state_dict, strict=True):
        """Copy arrays into the parameters and buffers, in place.

        With ``strict`` (the default) any missing, unexpected or
        shape-mismatched key raises a ValueError listing all of them, and
        nothing is changed. Returns (missing, unexpected).
        """
        owner = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"{owner}: state_dict must be a mapping of names to arrays, got {type(state_dict).__name__}"
            )
        for key, value in state_dict.items():
            value = value.data if isinstance(value, Tensor) else value
            kind = getattr(getattr(value, "dtype", None), "kind", None)
            if kind is None:
                value = np.asarray(value)
                kind = value.dtype.kind
            if kind not in "biuf":
                raise TypeError(f"{owner}: {key!r} must be a numeric array, got dtype {value.dtype}")
        own = OrderedDict(list(self.named_parameters()) + list(self.named_buffers()))
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        mismatched = [
            f"{k}: checkpoint {tuple(np.shape(state_dict[k]))} vs model {own[k].shape}"
            for k in own
            if k in state_dict and tuple(np.shape(state_dict[k])) != own[k].shape
        ]
        if mismatched or (strict and (missing or unexpected)):
            lines = [f"{type(self).__name__}.load_state_dict: the state does not fit this model"]
            for title, items in (("missing keys", missing), ("unexpected keys", unexpected),
                                 ("shape mismatches", mismatched)):
                if items:
                    lines.append(f"  {title} ({len(items)}): " + ", ".join(items))
            raise ValueError("\n".join(lines))
        for name, tensor in own.items():
            if name in state_dict:
                value = state_dict[name]
                value = value.data if isinstance(value, Tensor) else value
                xp = backend.get_array_module(tensor.data)
                tensor.data[...] = xp.asarray(backend.to_device(value, tensor.device)).astype(
                    tensor.dtype, copy=False
                )
        return missing, unexpected

    # ---- printing -------------------------------------------------------
    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = [f"{type(self).__name__}({self.extra_repr()}"]
        children = list(self._modules.items())
        if not children:
            return lines[0] + ")"
        for name, module in children:
            body = repr(module).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        return "\n".join(lines) + "\n)"


# How deep this thread is in nested Module calls: the outermost call names the
# layer a ValueError came from.
_calls = threading.local()


def _name_failing_layer(error, module, inputs, outermost):
    """Add to a ValueError, once, which layer raised it (the innermost module, by its
    dotted name in the outermost one) and that layer's input shape, so a wrong input
    size names where the maps became smaller than a kernel."""
    if not hasattr(error, "minidl_layer"):
        error.minidl_layer = module
        error.minidl_input_shapes = [x.shape for x in inputs if isinstance(x, Tensor)]
    if not outermost or getattr(error, "minidl_named", False):
        return
    error.minidl_named = True
    layer = error.minidl_layer
    name = next((n for n, m in module.named_modules() if m is layer), None)
    if layer is module or not name:
        return
    shapes = ", ".join(str(shape) for shape in error.minidl_input_shapes)
    where = f" (raised in layer {name!r}, {type(layer).__name__}, on input {shapes})"
    message = str(error.args[0]) if error.args else ""
    error.args = (message + where,) + tuple(error.args[1:])


class Sequential(Module):
    """Modules applied in order; indexable and iterable.

    >>> import minidl as md
    >>> net = md.nn.Sequential(md.nn.Linear(4, 3), md.nn.ReLU())
    >>> len(net), type(net[0]).__name__
    (2, 'Linear')
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], (dict, OrderedDict)):
            for name, module in modules[0].items():
                self.add_module(name, module)
        else:
            for index, module in enumerate(modules):
                self.add_module(str(index), module)

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x

    def __getitem__(self, index):
        modules = list(self._modules.values())
        if isinstance(index, slice):
            return Sequential(*modules[index])
        return modules[index]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(list(self._modules.values()))

    def append(self, module):
        self.add_module(str(len(self._modules)), module)
        return self


class ModuleList(Module):
    """A list of modules whose parameters are registered."""

    def __init__(self, modules=()):
        super().__init__()
        for module in modules:
            self.append(module)

    def append(self, module):
        self.add_module(str(len(self._modules)), module)
        return self

    def extend(self, modules):
        for module in modules:
            self.append(module)
        return self

    def __getitem__(self, index):
        modules = list(self._modules.values())
        return ModuleList(modules[index]) if isinstance(index, slice) else modules[index]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(list(self._modules.values()))

    def forward(self, *inputs):
        raise TypeError("ModuleList is a container: call its modules, not the list")
