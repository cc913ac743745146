"""nn.Conv2d: a convolution layer holding its weight and bias."""

import numpy as np

from minidl.functional import arguments
from minidl.functional.conv import conv2d
from minidl.nn import init
from minidl.nn.module import Module, Parameter


def init_conv_layer(layer, op, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias):
    """Check a convolution layer's arguments (errors name ``op``), keep them on ``layer``
    and give it its weight (out, in/groups, kh, kw) and bias, with PyTorch's default init."""
    in_channels = arguments.integer(in_channels, op, "in_channels", 1)
    out_channels = arguments.integer(out_channels, op, "out_channels", 1)
    layer.kernel_size = arguments.pair(kernel_size, op, "kernel_size", 1)
    layer.stride = arguments.pair(stride, op, "stride", 1)
    layer.padding = arguments.pair(padding, op, "padding", 0)
    layer.dilation = arguments.pair(dilation, op, "dilation", 1)
    layer.groups = arguments.integer(groups, op, "groups", 1)
    if in_channels % layer.groups or out_channels % layer.groups:
        raise ValueError(
            f"{op}: groups={groups} must divide in_channels={in_channels} and out_channels={out_channels}"
        )
    layer.in_channels, layer.out_channels = in_channels, out_channels
    shape = (out_channels, in_channels // layer.groups) + layer.kernel_size
    layer.weight = Parameter(np.empty(shape, dtype=np.float32))
    if bias:
        layer.bias = Parameter(np.empty(out_channels, dtype=np.float32))
    else:
        layer.register_parameter("bias", None)
    init.default_(layer.weight, layer.bias)


class Conv2d(Module):
    """Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
    groups=1, bias=True); weight (out, in/groups, kh, kw), PyTorch's default init.

    >>> import numpy as np, minidl as md
    >>> conv = md.nn.Conv2d(3, 8, 3, padding=1)
    >>> conv(md.tensor(np.zeros((2, 3, 5, 5), np.float32))).shape
    (2, 8, 5, 5)
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 dilation=1, groups=1, bias=True):
        super().__init__()
        init_conv_layer(self, "Conv2d", in_channels, out_channels, kernel_size, stride, padding, dilation,
                        groups, bias)

    def forward(self, x):
        return conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s
