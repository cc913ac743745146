"""Local response normalization across channels (AlexNet, section 3.3).

    b_c = a_c / (k + alpha * sum_{|c'-c| <= size//2} a_{c'}^2) ** beta

This is the paper's formula, and it differs from PyTorch's ``local_response_norm``
in two ways:

- PyTorch divides alpha by ``size``; minidl does not. For an odd size,
  minidl's ``alpha`` equals PyTorch's ``alpha / size``: the paper's
  alpha = 1e-4 with size 5 is PyTorch's ``alpha=5e-4``.
- The window is always symmetric, channels c - size//2 .. c + size//2 (zeros
  beyond the edges), so an even size spans size + 1 channels; PyTorch's even
  window is asymmetric, size//2 channels before c and size//2 - 1 after.

>>> import numpy as np, minidl as md
>>> x = md.tensor(np.ones((1, 3, 1, 1)))
>>> md.functional.local_response_norm(x, size=3, alpha=1.0, beta=1.0, k=1.0).numpy().ravel()
array([0.33333333, 0.25      , 0.33333333])
"""

from minidl.autograd import Function
from minidl.backend import kernels_for
from minidl.functional import arguments
from minidl.tensor import as_tensor


class LocalResponseNorm(Function):
    """S_c = k + alpha * sum_{|c'-c|<=size//2} x_c'^2, y_c = x_c * S_c^-beta;
    gx_c = gy_c * S_c^-beta - 2 * alpha * beta * x_c * sum_{|c'-c|<=size//2} gy_c' * y_c' / S_c'.
    """

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
    """Normalise each channel of x (N, C, H, W) by its neighbours; see the module docstring."""
    op = "local_response_norm"
    x = as_tensor(x)
    arguments.ndim(x, 4, op, "input", "N, C, H, W")
    arguments.kernel_floating(x, op)
    size = arguments.integer(size, op, "size", 1)
    alpha, beta, k = (arguments.real(alpha, op, "alpha"), arguments.real(beta, op, "beta"),
                      arguments.real(k, op, "k"))
    if not (k > 0 and alpha >= 0):
        raise ValueError(
            f"{op}: need k > 0 and alpha >= 0 so the scale stays positive, got k={k}, alpha={alpha}"
        )
    return LocalResponseNorm(size, alpha, beta, k)(x)
