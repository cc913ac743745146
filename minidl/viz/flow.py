"""Flow of activations and gradients through a network's layers, recorded by hooks.

``FlowRecorder(model)`` puts hooks on every weighted layer (Conv2d, Linear, or
the layers you name) and records, in the order the layers run:

- ``activation_std[name]``: the standard deviation of the layer's output, in forward
  (a forward hook);
- ``output_grad_norm[name]``: the L2 norm of the gradient of the loss with respect
  to the layer's output, in backward (a full backward hook);
- ``weight_grad_norm[name]``: the L2 norm of this pass's gradient of the layer's
  weight (a hook on the weight tensor).

Each holds the last call's value, a float: the recorder keeps no array and no
graph. ``plot_flow`` draws such per-layer numbers, one line per network, in
layer order.

>>> import numpy as np, minidl as md
>>> net = md.nn.Sequential(md.nn.Linear(4, 8), md.nn.ReLU(), md.nn.Linear(8, 3))
>>> with md.viz.FlowRecorder(net) as flow:
...     loss = md.functional.cross_entropy(net(md.tensor(np.ones((2, 4), np.float32))), np.array([0, 2]))
...     loss.backward()
>>> [name for name, _ in flow.in_order(flow.weight_grad_norm)]   # input side first
['0', '2']
>>> all(value > 0 for value in flow.activation_std.values())
True
"""

import math

import numpy as np

from minidl import nn
from minidl.backend import to_device


def _norm(array):
    array = to_device(array, "cpu")
    return float(np.sqrt(np.sum(np.square(array, dtype=np.float64))))


def weighted_layers(model):
    """(name, module) of each Conv2d and Linear of ``model``, in registration order."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


class FlowRecorder:
    """Hooks that record per-layer activation std and gradient norms; a context manager
    that removes its hooks on exit (or call ``remove()``)."""

    def __init__(self, model, layers=None):
        self.layers = list(layers) if layers is not None else weighted_layers(model)
        if not self.layers:
            raise ValueError(f"FlowRecorder: {type(model).__name__} has no Conv2d or Linear layer; "
                             "pass layers=[(name, module), ...]")
        self.order = []              # layer names in the order their forward first ran
        self.activation_std = {}
        self.output_grad_norm = {}
        self.weight_grad_norm = {}
        self._handles = []
        for name, module in self.layers:
            self._handles.append(module.register_forward_hook(self._on_forward(name)))
            self._handles.append(module.register_full_backward_hook(self._on_backward(name)))
            weight = getattr(module, "weight", None)
            if weight is not None and weight.requires_grad:
                self._handles.append(weight.register_hook(self._on_weight_grad(name)))

    def _on_forward(self, name):
        def hook(module, inputs, output):
            if name not in self.activation_std:
                self.order.append(name)
            data = to_device(output.data, "cpu")
            self.activation_std[name] = float(np.std(data, dtype=np.float64))
        return hook

    def _on_backward(self, name):
        def hook(module, grad_inputs, grad_outputs):
            self.output_grad_norm[name] = _norm(grad_outputs[0])
        return hook

    def _on_weight_grad(self, name):
        def hook(grad):
            self.weight_grad_norm[name] = _norm(grad)
        return hook

    def in_order(self, values):
        """``values`` (a dict by layer name) as a list in the order the layers ran."""
        order = self.order + [name for name, _ in self.layers if name not in self.order]
        return [(name, values[name]) for name in order if name in values]

    def remove(self):
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
        return False


def plot_flow(series, path, title="", ylabel="", log=True):
    """One line per entry of ``series`` ({label: [value per layer, in layer order]}),
    the layer index on x; written to ``path`` (PNG by extension, via matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=80)
    for label, values in series.items():
        values = [v if math.isfinite(v) else np.nan for v in values]
        ax.plot(range(1, len(values) + 1), values, marker=".", label=label)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("layer (input side first)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
