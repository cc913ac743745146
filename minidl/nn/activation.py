"""Activation layers wrapping minidl.functional."""

from minidl.functional import activation as A
from minidl.nn.module import Module


class ReLU(Module):
    def __init__(self, inplace=False):
        super().__init__()  # inplace is accepted for PyTorch habits; minidl never overwrites inputs

    def forward(self, x):
        return A.relu(x)


class ReLU6(Module):
    def __init__(self, inplace=False):
        super().__init__()

    def forward(self, x):
        return A.relu6(x)


class LeakyReLU(Module):
    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return A.leaky_relu(x, self.negative_slope)


class Sigmoid(Module):
    def forward(self, x):
        return A.sigmoid(x)


class Tanh(Module):
    def forward(self, x):
        return A.tanh(x)


class SiLU(Module):
    """x * sigmoid(x) (swish)."""

    def forward(self, x):
        return A.silu(x)


class Softmax(Module):
    def __init__(self, axis=-1):
        super().__init__()
        self.axis = axis

    def forward(self, x):
        return A.softmax(x, self.axis)


class LogSoftmax(Module):
    def __init__(self, axis=-1):
        super().__init__()
        self.axis = axis

    def forward(self, x):
        return A.log_softmax(x, self.axis)
