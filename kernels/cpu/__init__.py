"""The CPU kernel set: Numba kernels where a loop is the work, NumPy where it is not."""

from minidl.kernels.reference import (  # replaced op by op with the Numba kernels
    avg_pool2d_backward,
    avg_pool2d_forward,
    batch_norm_backward,
    batch_norm_forward_train,
    col2im,
    dropout_mask,
    im2col,
    lrn_backward,
    lrn_forward,
    max_pool2d_backward,
    max_pool2d_forward,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
)
