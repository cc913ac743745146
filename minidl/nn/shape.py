"""Flatten and Identity."""

from minidl.functional.shape import flatten
from minidl.nn.module import Module


class Flatten(Module):
    def __init__(self, start_dim=1):
        super().__init__()
        self.start_dim = start_dim

    def forward(self, x):
        return flatten(x, self.start_dim)


class Identity(Module):
    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x
