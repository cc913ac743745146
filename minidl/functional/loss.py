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

REDUCTIONS = ("mean", "sum", "none")


class CrossEntropy(Function):
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
    from minidl.tensor import Tensor, as_tensor

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
