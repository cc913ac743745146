"""Adam (Kingma & Ba 2015) and AdamW (Loshchilov & Hutter 2019), PyTorch's formulation.

For each parameter p with gradient g, at step t = 1, 2, ...:

    g = g + weight_decay * p                        (Adam: L2 penalty in the gradient)
    p = p - lr * weight_decay * p                   (AdamW instead: decoupled decay)
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g^2
    p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

m and v start at zero; the bias corrections undo that start, so the first
step moves each parameter by about lr * sign(g).
"""

import math

from minidl.backend import get_array_module
from minidl.optim.optimizer import Optimizer, check_number


class Adam(Optimizer):
    """Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0).

    >>> import numpy as np, minidl as md
    >>> p = md.nn.Parameter(np.array([1.0, 1.0]))
    >>> p.grad = np.array([0.5, -2.0])
    >>> md.optim.Adam([p], lr=0.1).step()
    >>> p.numpy().round(6)
    array([0.9, 1.1])
    """

    decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        name = type(self).__name__
        for argument, value in (("lr", lr), ("eps", eps), ("weight_decay", weight_decay)):
            check_number(name, argument, value)
        if not (isinstance(betas, (tuple, list)) and len(betas) == 2):
            raise TypeError(f"{name}: betas must be a pair of numbers (beta1, beta2), got {betas!r}")
        betas = tuple(check_number(name, "betas", b) for b in betas)
        if not all(0 <= b < 1 for b in betas):
            raise ValueError(f"{name}: betas must be two numbers in [0, 1), got {betas}")
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    def update(self, param, grad, state, group):
        xp = get_array_module(param.data)
        lr, (beta1, beta2), decay = group["lr"], group["betas"], group["weight_decay"]
        if decay and self.decoupled:
            param.data *= 1 - lr * decay
        elif decay:
            grad = grad + decay * param.data
        if "step" not in state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(param.data)
            state["exp_avg_sq"] = xp.zeros_like(param.data)
        state["step"] += 1
        m, v, t = state["exp_avg"], state["exp_avg_sq"], state["step"]
        m *= beta1
        m += (1 - beta1) * grad
        v *= beta2
        v += (1 - beta2) * grad * grad
        denom = xp.sqrt(v)
        denom /= math.sqrt(1 - beta2**t)
        denom += group["eps"]
        param.data -= (lr / (1 - beta1**t)) * m / denom


class AdamW(Adam):
    """AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2): decoupled decay.

    >>> import numpy as np, minidl as md
    >>> p = md.nn.Parameter(np.array([1.0]))
    >>> p.grad = np.array([0.0])
    >>> md.optim.AdamW([p], lr=0.1, weight_decay=0.5).step()   # 1 - 0.1 * 0.5
    >>> p.numpy()
    array([0.95])
    """

    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr, betas, eps, weight_decay)
