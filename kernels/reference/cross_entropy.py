"""Softmax cross-entropy on (N, K) logits, stable for logits of any size.

    log_prob = x - max(x) - log(sum(exp(x - max(x))))
    loss_n = -log_prob[n, label_n]
    glogits[n] = (exp(log_prob[n]) - onehot(label_n)) * gloss_n
"""

import numpy as np


def softmax_cross_entropy_forward(logits, labels):
    """(loss per row (N,), log_prob (N, K)); labels are ints in [0, K)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_prob = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_prob[np.arange(logits.shape[0]), labels]
    return loss, log_prob


def softmax_cross_entropy_backward(log_prob, labels, gloss):
    """Gradient of the logits, given the gradient ``gloss`` (N,) of each row's loss."""
    grad = np.exp(log_prob)
    grad[np.arange(log_prob.shape[0]), labels] -= 1
    return grad * gloss[:, None]
