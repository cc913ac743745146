"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay.

PyTorch's formulation, step by step for each parameter p with gradient g:

    g = g + weight_decay * p
    v = g                          (first step)
    v = momentum * v + (1 - dampening) * g
    g = g + momentum * v  if nesterov  else  v
    p = p - lr * g

Each element's update is independent of the others, so a large parameter is
updated in slices on the CPU threads (``minidl.threads``), each slice in one
pass while it is in the cache; the numbers are the same however it is cut.
"""

from minidl import threads
from minidl.backend import device_of, get_array_module
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
        data = param.data
        first = bool(group["momentum"]) and "momentum_buffer" not in state
        if first:
            state["momentum_buffer"] = get_array_module(grad).empty_like(grad)
        arrays = (data, grad, state.get("momentum_buffer"))
        if grad.shape != data.shape or not all(a is None or a.flags.c_contiguous for a in arrays):
            _step(*arrays, first, group)
            return
        flat = [None if a is None else a.reshape(-1) for a in arrays]
        threads.map_work(lambda part: _step(*(None if a is None else a[part] for a in flat), first, group),
                         data.size, 4 * data.size, device=device_of(data))


def _step(data, grad, buf, first, group):
    """The formulas above, in place on ``data`` and the momentum buffer ``buf`` (which
    takes g's value on the first step)."""
    lr, momentum, decay = group["lr"], group["momentum"], group["weight_decay"]
    if decay:
        grad = grad + decay * data
    if momentum:
        if first:
            buf[...] = grad
        else:
            buf *= momentum
            buf += (1 - group["dampening"]) * grad
        grad = grad + momentum * buf if group["nesterov"] else buf
    data -= lr * grad
