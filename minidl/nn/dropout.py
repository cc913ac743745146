"""nn.Dropout: inverted dropout in training, the identity in evaluation."""

from minidl.functional import arguments
from minidl.functional.dropout import dropout
from minidl.nn.module import Module


class Dropout(Module):
    def __init__(self, p=0.5):
        super().__init__()
        self.p = arguments.probability(p, "Dropout", "p")

    def forward(self, x):
        return dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"
