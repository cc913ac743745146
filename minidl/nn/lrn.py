"""nn.LocalResponseNorm: the AlexNet paper's LRN (alpha *not* divided by size, unlike PyTorch)."""

from minidl.functional import arguments
from minidl.functional.lrn import local_response_norm
from minidl.nn.module import Module


class LocalResponseNorm(Module):
    def __init__(self, size=5, alpha=1e-4, beta=0.75, k=2.0):
        super().__init__()
        op = "local_response_norm"
        self.size = arguments.integer(size, op, "size", 1)
        self.alpha, self.beta, self.k = (arguments.real(value, op, name)
                                         for name, value in (("alpha", alpha), ("beta", beta), ("k", k)))

    def forward(self, x):
        return local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return f"size={self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
