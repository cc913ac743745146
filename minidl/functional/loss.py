"""Loss functions.

cross_entropy fuses log_softmax and the negative log-likelihood, so it stays
finite for logits of +-1e4:

>>> import numpy as np, minidl as md
>>> logits = md.tensor(np.array([[1e4, -1e4], [0.0, 0.0]]))
>>> md.functional.cross_entropy(logits, np.array([0, 1])).item()  # (0 + log 2) / 2
0.34657359027997264
"""

import numpy as np

from minidl.autograd import Function
from minidl.backend import get_array_module, kernels_for
from minidl.functional import arguments
from minidl.tensor import Tensor, as_tensor

REDUCTIONS = ("mean", "sum", "none")


class CrossEntropy(Function):
    """Fused log-softmax and negative log-likelihood per row n, label t_n:

        log_p[n] = log_softmax(x[n]),  y_n = -log_p[n, t_n]
        gx[n] = (softmax(x[n]) - onehot(t_n)) * gloss_n

    y is the mean of the y_n ("mean"), their sum ("sum") or all of them ("none"), so
    gloss_n is gy / N, gy or gy[n]. The softmax
    Jacobian and the 1/p of the log cancel, which is why the gradient is so simple:

    >>> import numpy as np, minidl as md
    >>> x = md.tensor(np.log([[1.0, 3.0], [1.0, 1.0]]), requires_grad=True)
    >>> md.functional.cross_entropy(x, np.array([1, 0])).backward()
    >>> x.grad                                  # ((0.25, 0.75) - (0, 1)) / 2, ((0.5, 0.5) - (1, 0)) / 2
    array([[ 0.125, -0.125],
           [-0.25 ,  0.25 ]])
    """

    def __init__(self, labels, reduction):
        self.labels, self.reduction = labels, reduction

    def forward(self, logits):
        loss, log_prob = kernels_for(logits).softmax_cross_entropy_forward(logits, self.labels)
        self.save_for_backward(log_prob)
        if self.reduction == "mean":
            return loss.mean()
        if self.reduction == "sum":
            return loss.sum()
        return loss

    def backward(self, gy):
        (log_prob,) = self.saved_tensors
        xp = get_array_module(gy)
        n = log_prob.shape[0]
        if self.reduction == "mean":
            gloss = xp.full((n,), gy / n, dtype=log_prob.dtype)
        elif self.reduction == "sum":
            gloss = xp.full((n,), gy, dtype=log_prob.dtype)
        else:
            gloss = gy
        return kernels_for(log_prob).softmax_cross_entropy_backward(log_prob, self.labels, gloss)


def cross_entropy(logits, labels, reduction="mean"):
    """Softmax cross-entropy of (N, K) logits against int labels (N,) in [0, K).

    ``reduction``: "mean" (default, over the batch), "sum" or "none" (per row).
    """
    logits = as_tensor(logits)
    arguments.kernel_floating(logits, "cross_entropy", "logits")
    arguments.ndim(logits, 2, "cross_entropy", "logits", "(batch, classes)")
    if reduction not in REDUCTIONS:
        raise ValueError(f"cross_entropy: reduction must be one of {REDUCTIONS}, got {reduction!r}")
    labels = labels.data if isinstance(labels, Tensor) else labels
    xp = get_array_module(logits.data)
    if get_array_module(labels) is not xp and not isinstance(labels, (list, tuple)):
        raise ValueError(
            f"cross_entropy: labels are on another device than the logits ({logits.device}); "
            "move them first"
        )
    labels = xp.asarray(labels)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: labels must be integers, got dtype {labels.dtype}")
    n, classes = logits.shape
    if labels.shape != (n,):
        raise ValueError(
            f"cross_entropy: labels must have shape ({n},) for logits {logits.shape}, got {labels.shape}"
        )
    # One host round trip on the GPU: the bounds are read only to word the error.
    if n and bool(((labels < 0) | (labels >= classes)).any()):
        raise ValueError(
            f"cross_entropy: labels must be in [0, {classes}) for logits {logits.shape}, "
            f"got values from {int(labels.min())} to {int(labels.max())}"
        )
    # A copy: labels the caller changes before backward must not change the gradient.
    return CrossEntropy(labels.astype(np.int64), reduction)(logits)
