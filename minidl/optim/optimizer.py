"""Optimizer: parameter groups, per-parameter state, and a state dict for checkpoints.

As in PyTorch, ``params`` is an iterable of Parameters or of dicts
``{"params": [...], "lr": ...}`` (parameter groups with their own settings).
A parameter given twice, in one group or in two, is refused with a
ValueError: it would be stepped twice per ``step()``.
State is kept per parameter in group order (never keyed by hash), so
``state_dict()`` names parameters by their position and a checkpoint restores
onto a freshly built model.
"""

import copy
import numbers

from minidl import backend
from minidl.tensor import Tensor


def check_number(owner, name, value, minimum=0):
    """A hyperparameter: a real number (not a bool or a string) >= minimum, as a float."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {name} must be a number, got {value!r}")
    if not value >= minimum:  # NaN fails too
        raise ValueError(f"{owner}: {name} must be >= {minimum}, got {value!r}")
    return value


class Optimizer:
    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        self.param_groups = []
        self.state = {}  # id(param) -> dict of arrays / numbers
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group):
        group = dict(group)
        params = group["params"]
        group["params"] = [params] if isinstance(params, Tensor) else list(params)
        for p in group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__}: parameters must be Tensors, got {type(p).__name__}")
            if not p.requires_grad:
                raise ValueError(f"{type(self).__name__}: a parameter of shape {p.shape} does not require grad")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in group["params"]):
            raise ValueError(f"{type(self).__name__}: a parameter appears in more than one group")
        first = {}
        for position, p in enumerate(group["params"]):
            if first.setdefault(id(p), position) != position:
                raise ValueError(
                    f"{type(self).__name__}: the parameter of shape {p.shape} at position {position} "
                    f"of its group is the one at position {first[id(p)]} (each step would update it twice)"
                )
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        self.param_groups.append(group)

    def _params(self):
        return [p for group in self.param_groups for p in group["params"]]

    def zero_grad(self):
        for p in self._params():
            p.grad = None

    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self.update(p, p.grad, self.state.setdefault(id(p), {}), group)

    def update(self, param, grad, state, group):
        raise NotImplementedError(f"{type(self).__name__}.update is not implemented")

    def state_dict(self):
        """{"state": {position: {name: value}}, "param_groups": [settings with positions]}."""
        position = {id(p): i for i, p in enumerate(self._params())}
        state = {position[k]: v for k, v in self.state.items() if k in position}
        groups = []
        for group in self.param_groups:
            settings = {k: v for k, v in group.items() if k != "params"}
            settings["params"] = [position[id(p)] for p in group["params"]]
            groups.append(settings)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups) or any(
            len(g["params"]) != len(own["params"]) for g, own in zip(groups, self.param_groups)
        ):
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: the saved parameter groups "
                f"({[len(g['params']) for g in groups]} parameters) do not match this optimizer's "
                f"({[len(g['params']) for g in self.param_groups]})"
            )
        params = self._params()
        self.state = {}
        for index, values in state_dict["state"].items():
            p = params[int(index)]
            self.state[id(p)] = {
                k: backend.to_device(v, p.device).astype(p.dtype, copy=True) if hasattr(v, "shape") else v
                for k, v in values.items()
            }
        for own, saved in zip(self.param_groups, groups):
            for key, value in saved.items():
                if key != "params":
                    own[key] = copy.deepcopy(value)
