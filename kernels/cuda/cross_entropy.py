"""Softmax cross-entropy on the GPU: launchers for the kernels in cross_entropy.cu.

Same names, arguments and layouts as ``minidl.kernels.reference.cross_entropy``:
(N, K) logits, int labels (N,) in [0, K), loss per row (N,) and log_prob (N, K).
"""

import numpy as np

from minidl.kernels.cuda import loader

WARP = 32


def _labels(cp, op, labels, rows):
    if labels.shape != (rows,):
        raise ValueError(f"{op} (CUDA): labels must have shape ({rows},), got {labels.shape}")
    if labels.dtype.kind not in "iu":
        raise TypeError(f"{op} (CUDA): labels must be integers, got {labels.dtype}")
    return cp.ascontiguousarray(labels, dtype=np.int64)


def softmax_cross_entropy_forward(logits, labels):
    """(loss per row (N,), log_prob (N, K)); labels are ints in [0, K)."""
    op = "softmax_cross_entropy_forward"
    cp = loader.cupy()
    dtype = loader.float_dtype(op, logits)
    if logits.ndim != 2:
        raise ValueError(f"{op} (CUDA): logits must be (N, K), got shape {logits.shape}")
    rows, classes = logits.shape
    logits = cp.ascontiguousarray(logits)
    labels = _labels(cp, op, labels, rows)
    loss = cp.empty(rows, dtype=dtype)
    log_prob = cp.empty_like(logits)
    kernel = loader.function("cross_entropy.cu", "softmax_cross_entropy_forward", dtype)
    # One warp per row: the count is in threads, WARP per row.
    loader.launch(
        kernel, rows * WARP,
        (logits, labels, loss, log_prob, np.int64(rows)) + loader.int32(op, classes=classes),
        threads=4 * WARP,
    )
    return loss, log_prob


def softmax_cross_entropy_backward(log_prob, labels, gloss):
    """Gradient of the logits, given the gradient ``gloss`` (N,) of each row's loss."""
    op = "softmax_cross_entropy_backward"
    cp = loader.cupy()
    dtype = loader.float_dtype(op, log_prob, gloss)
    rows, classes = log_prob.shape
    if gloss.shape != (rows,):
        raise ValueError(f"{op} (CUDA): gloss must have shape ({rows},), got {gloss.shape}")
    log_prob = cp.ascontiguousarray(log_prob)
    labels = _labels(cp, op, labels, rows)
    gloss = cp.ascontiguousarray(gloss)
    grad = cp.empty_like(log_prob)
    kernel = loader.function("cross_entropy.cu", "softmax_cross_entropy_backward", dtype)
    loader.launch(
        kernel, grad.size,
        (log_prob, labels, gloss, grad, np.int64(rows)) + loader.int32(op, classes=classes),
    )
    return grad
