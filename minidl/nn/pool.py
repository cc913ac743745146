"""Pooling layers: MaxPool2d, AvgPool2d, AdaptiveAvgPool2d (see minidl.functional.pool)."""

from minidl.functional import arguments
from minidl.functional.pool import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from minidl.nn.module import Module


class _Pool2d(Module):
    """A window pooling layer; its arguments are checked and made (h, w) pairs here, as Conv2d's are."""

    op = None  # the functional op's name
    function = None

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False):
        super().__init__()
        self.kernel_size = arguments.pair(kernel_size, self.op, "kernel_size", 1)
        self.stride = self.kernel_size if stride is None else arguments.pair(stride, self.op, "stride", 1)
        self.padding = arguments.pair(padding, self.op, "padding", 0)
        self.ceil_mode = bool(ceil_mode)

    def forward(self, x):
        return type(self).function(x, self.kernel_size, self.stride, self.padding, self.ceil_mode)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"ceil_mode={self.ceil_mode}")


class MaxPool2d(_Pool2d):
    op, function = "max_pool2d", max_pool2d


class AvgPool2d(_Pool2d):
    op, function = "avg_pool2d", avg_pool2d


class AdaptiveAvgPool2d(Module):
    """AdaptiveAvgPool2d(1) is global average pooling (NiN, GoogLeNet, ResNet)."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"
