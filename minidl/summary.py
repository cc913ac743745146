"""``md.summary(model, input_shape)``: the lecture's per-layer table of a network.

One row per layer that ran (each leaf module, once per call, in the order the
forward pass reached it): its output shape, the memory of that output, its
parameters and its FLOPs, for one image. The numbers are counted as seed 001
counts them:

- memory: output elements x 4 bytes (float32) / 1024, in KB;
- params: the layer's own weights and biases (a layer called twice counts them once);
- FLOPs: one multiply-add is one FLOP.
  conv: output elements x (C_in / groups) x kh x kw;
  deformable conv: the same count, for its weights' GEMM; the conv that
      predicts its offsets and mask has a row (and its FLOPs) of its own; the
      bilinear sampling is noted under the table, not counted: C_in x kh x kw x
      oh x ow sampled values, 4 multiply-adds each (a fifth with the mask);
  fc: output features x input features;
  max/avg pool: output elements x window size (the lecture's POOL1: 64x27x27 x 3x3);
  adaptive avg pool: its input elements (each is added once);
  batch norm: output elements (one multiply-add each at inference);
  LRN: output elements x size (the window's sum of squares);
  activations, dropout, flatten and the like: 0.

Labels follow the lecture: CONVn and FCn number the weighted layers in order
(AlexNet: CONV1-5, FC6-8), every other layer takes the number of the weighted
layer before it (POOL1 after CONV1, POOL5 after CONV5).

How it is computed: forward hooks on the leaf modules record each output while
the model runs once on a zero image (batch 1) in evaluation mode (the modes are
restored afterwards) under ``no_grad``, so it is exact for any forward code
(branches, concatenations, shortcuts) at the cost of one inference; for
ImageNet models on the CPU that is about a second or a few. Work done in
``forward`` code outside modules (the addition of a shortcut, a functional
ReLU) has no row; GoogLeNet's auxiliary classifiers, which run only in
training, have none either, but their parameters are in ``total_params``.

>>> import minidl as md
>>> table = md.summary(md.models.alexnet(), (3, 227, 227))
>>> conv1 = table["features.0"]
>>> conv1.label, conv1.output_shape, conv1.memory, conv1.params, conv1.flops
('CONV1', (64, 56, 56), 784.0, 23296, 72855552)
>>> [(row.label, row.flops) for row in table if row.label in ("POOL1", "FC6")]
[('POOL1', 419904), ('FC6', 37748736)]
"""

from dataclasses import dataclass

import numpy as np

from minidl import nn
from minidl.autograd import no_grad
from minidl.backend import get_array_module
from minidl.tensor import Tensor

BYTES_PER_ELEMENT = 4  # the lecture counts float32 outputs

_KINDS = {
    nn.Conv2d: "CONV", nn.DeformConv2d: "DCONV", nn.Linear: "FC",
    nn.MaxPool2d: "POOL", nn.AvgPool2d: "POOL", nn.AdaptiveAvgPool2d: "POOL",
    nn.BatchNorm1d: "BN", nn.BatchNorm2d: "BN", nn.LocalResponseNorm: "NORM",
}


@dataclass(frozen=True)
class Row:
    """One layer: ``name`` (dotted path), ``label`` (CONV1, POOL1, ...), ``kind`` (class
    name), ``output_shape`` (no batch axis), ``memory`` (KB), ``params``, ``flops``,
    ``note`` (work the FLOPs leave out, e.g. a deformable conv's sampling)."""

    name: str
    label: str
    kind: str
    output_shape: tuple
    memory: float
    params: int
    flops: int
    note: str = ""


class Summary:
    """The rows of a summary and their totals; iterate over it for the rows, index
    it by position or by layer name, ``str()`` it for the table."""

    def __init__(self, model_name, input_shape, rows, total_params, trainable_params):
        self.model_name, self.input_shape = model_name, tuple(input_shape)
        self.rows = list(rows)
        self.total_params, self.trainable_params = total_params, trainable_params
        self.total_memory = sum(row.memory for row in self.rows)
        self.total_flops = sum(row.flops for row in self.rows)

    def __iter__(self):
        return iter(self.rows)

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, key):
        if isinstance(key, str):
            for row in self.rows:
                if row.name == key:
                    return row
            raise KeyError(f"summary: no layer named {key!r}")
        return self.rows[key]

    def __repr__(self):
        return f"<Summary of {self.model_name} on {_shape_text(self.input_shape)}: {len(self.rows)} layers>"

    def __str__(self):
        header = ("layer", "label", "type", "output", "memory (KB)", "params", "FLOPs")
        lines = [tuple(header)]
        for row in self.rows:
            lines.append((row.name, row.label, row.kind, _shape_text(row.output_shape),
                          _number(row.memory), f"{row.params:,}", f"{row.flops:,}"))
        lines.append(("total", "", "", "", _number(self.total_memory),
                      f"{sum(row.params for row in self.rows):,}", f"{self.total_flops:,}"))
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        right = {4, 5, 6}

        def render(line):
            cells = [cell.rjust(w) if i in right else cell.ljust(w)
                     for i, (cell, w) in enumerate(zip(line, widths))]
            return "  ".join(cells).rstrip()

        rule = "-" * len(render(lines[0]))
        text = [f"{self.model_name} on {_shape_text(self.input_shape)} (one image, float32)",
                render(lines[0]), rule]
        text += [render(line) for line in lines[1:-1]]
        text += [rule, render(lines[-1]), "",
                 f"parameters: {self.total_params:,} ({self.trainable_params:,} trainable)",
                 f"output memory: {_number(self.total_memory)} KB ({self.total_memory / 1024:,.2f} MB)",
                 f"FLOPs (multiply-adds): {self.total_flops:,} ({self.total_flops / 1e9:,.3f} G)"]
        text += [f"{row.label} ({row.name}): {row.note}" for row in self.rows if row.note]
        unseen = self.total_params - sum(row.params for row in self.rows)
        if unseen:
            text.append(f"({unseen:,} parameters are in layers that do not run in evaluation)")
        return "\n".join(text)


def summary(model, input_shape, name=None):
    """Per-layer output shape, memory, parameters and FLOPs of ``model`` on one image
    of ``input_shape`` (C, H, W). Returns a ``Summary``; ``name`` titles its table
    (the model's class name by default)."""
    input_shape = _check_shape(input_shape)
    first = next(iter(model.parameters()), None)
    xp = np if first is None else get_array_module(first.data)
    dtype = np.float32 if first is None else first.dtype
    x = Tensor(xp.zeros((1,) + input_shape, dtype=dtype))

    rows, seen_params = [], set()
    counter = {"weighted": 0}
    names = {id(module): name for name, module in model.named_modules()}

    def hook(module, inputs, output):
        kind = type(module).__name__
        prefix = _KINDS.get(type(module), kind.upper())
        if isinstance(module, (nn.Conv2d, nn.DeformConv2d, nn.Linear)):
            counter["weighted"] += 1
        own = [p for p in module.parameters(recurse=False) if id(p) not in seen_params]
        seen_params.update(id(p) for p in own)
        shape, elements = _output_facts(output)
        rows.append(Row(
            name=names.get(id(module), kind), label=f"{prefix}{counter['weighted']}", kind=kind,
            output_shape=shape, memory=elements * BYTES_PER_ELEMENT / 1024,
            params=sum(p.size for p in own), flops=int(layer_flops(module, inputs, output)),
            note=_note(module, output),
        ))

    modes = [(module, module.training) for module in model.modules()]
    handles = [module.register_forward_hook(hook) for module in model.modules() if _is_layer(module)]
    try:
        model.eval()
        with no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
        for module, mode in modes:
            object.__setattr__(module, "training", mode)
    total = sum(p.size for p in model.parameters())
    trainable = sum(p.size for p in model.parameters() if p.requires_grad)
    return Summary(name or type(model).__name__, input_shape, rows, total, trainable)


def layer_flops(module, inputs, output):
    """Multiply-adds of one call of ``module`` (the rules in the module docstring).

    >>> import numpy as np, minidl as md
    >>> pool = md.nn.MaxPool2d(3, stride=2)
    >>> x = md.tensor(np.zeros((1, 64, 56, 56), np.float32))
    >>> layer_flops(pool, (x,), pool(x))
    419904
    """
    if not isinstance(output, Tensor):
        return 0
    out = output.size
    if isinstance(module, (nn.Conv2d, nn.DeformConv2d)):
        kh, kw = module.kernel_size
        return out * (module.in_channels // module.groups) * kh * kw
    if isinstance(module, nn.Linear):
        return out * module.in_features
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        kh, kw = module.kernel_size
        return out * kh * kw
    if isinstance(module, nn.AdaptiveAvgPool2d):
        return inputs[0].size
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        return out
    if isinstance(module, nn.LocalResponseNorm):
        return out * module.size
    return 0


def sampled_values(module, output):
    """A deformable conv's bilinearly sampled values per image: C_in x kh x kw x oh x ow."""
    kh, kw = module.kernel_size
    return module.in_channels * kh * kw * output.shape[2] * output.shape[3]


def _note(module, output):
    if not isinstance(module, nn.DeformConv2d) or not isinstance(output, Tensor):
        return ""
    samples, per_sample = sampled_values(module, output), 5 if module.modulated else 4
    return (f"bilinear sampling, {samples:,} values x {per_sample} multiply-adds = "
            f"{samples * per_sample:,}, not in FLOPs (offset_conv has its own row)")


def _is_layer(module):
    """A row: a module with no sub-modules, or one holding parameters of its own."""
    has_children = any(child is not None for child in module._modules.values())
    return not has_children or next(module.parameters(recurse=False), None) is not None


def _output_facts(output):
    """(shape without the batch axis, elements per image) of a Tensor or a tuple of them."""
    if isinstance(output, Tensor):
        if output.ndim == 0:
            return (), 1
        return tuple(output.shape[1:]), output.size // output.shape[0]
    tensors = [t for t in output if isinstance(t, Tensor)] if isinstance(output, (tuple, list)) else []
    return tuple(tuple(t.shape[1:]) for t in tensors), sum(t.size // max(t.shape[0], 1) for t in tensors)


def _check_shape(input_shape):
    if isinstance(input_shape, str):
        input_shape = parse_shape(input_shape)
    try:
        shape = tuple(int(s) for s in input_shape)
    except (TypeError, ValueError):
        raise TypeError(
            f"summary: input_shape must be a tuple of ints like (3, 224, 224), got {input_shape!r}"
        ) from None
    if not shape or min(shape) < 1:
        raise ValueError(f"summary: input_shape must be positive sizes like (3, 224, 224), got {input_shape!r}")
    return shape


def parse_shape(text):
    """'3x227x227' -> (3, 227, 227).

    >>> parse_shape("3x227x227")
    (3, 227, 227)
    """
    try:
        shape = tuple(int(part) for part in text.lower().replace(",", "x").split("x"))
    except ValueError:
        raise ValueError(f"summary: an input shape is written like 3x224x224, got {text!r}") from None
    if min(shape) < 1:
        raise ValueError(f"summary: input sizes must be positive, got {text!r}")
    return shape


def _shape_text(shape):
    if shape and isinstance(shape[0], tuple):
        return ", ".join(_shape_text(s) for s in shape)
    return "x".join(str(s) for s in shape)


def _number(value):
    """784.0 -> '784', 182.25 -> '182.25', 1234.5 -> '1,234.5'."""
    return f"{value:,.2f}".rstrip("0").rstrip(".")
