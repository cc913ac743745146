"""Local response normalization across channels (AlexNet, section 3.3).

    b_c = a_c / (k + alpha * sum_{|c'-c| <= size//2} a_{c'}^2) ** beta

This is the paper's formula. PyTorch's ``local_response_norm`` divides alpha by
``size`` (and pads even windows asymmetrically); minidl does not, so to match
PyTorch pass ``alpha = torch_alpha / size``.

>>> import numpy as np, minidl as md
>>> x = md.tensor(np.ones((1, 3, 1, 1)))
>>> md.functional.local_response_norm(x, size=3, alpha=1.0, beta=1.0, k=1.0).numpy().ravel()
array([0.33333333, 0.25      , 0.33333333])
"""

from minidl.autograd import Function
from minidl.backend import kernels_for
from minidl.functional import arguments


class LocalResponseNorm(Function):
    def __init__(self, size, alpha, beta, k):
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x):
        y, scale = kernels_for(x).lrn_forward(x, self.size, self.alpha, self.beta, self.k)
        self.save_for_backward(x, y, scale)
        return y

    def backward(self, gy):
        x, y, scale = self.saved_tensors
        return kernels_for(gy).lrn_backward(x, y, scale, gy, self.size, self.alpha, self.beta)


def local_response_norm(x, size=5, alpha=1e-4, beta=0.75, k=2.0):
    from minidl.tensor import as_tensor

    op = "local_response_norm"
    x = as_tensor(x)
    arguments.ndim(x, 4, op, "input", "N, C, H, W")
    arguments.floating(x, op)
    size = arguments.integer(size, op, "size", 1)
    if not (k > 0 and alpha >= 0):
        raise ValueError(
            f"{op}: need k > 0 and alpha >= 0 so the scale stays positive, got k={k}, alpha={alpha}"
        )
    return LocalResponseNorm(size, float(alpha), float(beta), float(k))(x)
