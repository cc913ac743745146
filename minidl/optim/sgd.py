"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay.

PyTorch's formulation, step by step for each parameter p with gradient g:

    g = g + weight_decay * p
    v = g                          (first step)
    v = momentum * v + (1 - dampening) * g
    g = g + momentum * v  if nesterov  else  v
    p = p - lr * g
"""

from minidl.optim.optimizer import Optimizer, check_number


class SGD(Optimizer):
    """SGD(params, lr, momentum=0, weight_decay=0, nesterov=False, dampening=0).

    >>> import numpy as np, minidl as md
    >>> p = md.nn.Parameter(np.array([1.0]))
    >>> p.grad = np.array([0.5])
    >>> md.optim.SGD([p], lr=0.1).step()
    >>> p.numpy()
    array([0.95])
    """

    def __init__(self, params, lr, momentum=0.0, weight_decay=0.0, nesterov=False, dampening=0.0):
        for name, value in (("lr", lr), ("momentum", momentum), ("weight_decay", weight_decay),
                            ("dampening", dampening)):
            check_number("SGD", name, value)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: nesterov needs momentum > 0 and dampening = 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay,
                                      nesterov=nesterov, dampening=dampening))

    def update(self, param, grad, state, group):
        lr, momentum, decay = group["lr"], group["momentum"], group["weight_decay"]
        if decay:
            grad = grad + decay * param.data
        if momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = grad.copy()
            else:
                buf *= momentum
                buf += (1 - group["dampening"]) * grad
            grad = grad + momentum * buf if group["nesterov"] else buf
        param.data -= lr * grad
