"""The CPU kernel set: Numba kernels where a loop is the work, NumPy where it is not."""

from minidl.kernels import INTERFACE
from minidl.kernels.cpu.activation import relu_backward
from minidl.kernels.cpu.batch_norm import batch_norm_backward, batch_norm_forward_train
from minidl.kernels.cpu.conv import col2im, im2col
from minidl.kernels.cpu.cross_entropy import (
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
)
from minidl.kernels.cpu.deform_conv import deform_col2im, deform_col2im_coord, deform_im2col
from minidl.kernels.cpu.dropout import dropout_mask
from minidl.kernels.cpu.lrn import lrn_backward, lrn_forward
from minidl.kernels.cpu.pool import (
    adaptive_avg_pool2d_backward,
    adaptive_avg_pool2d_forward,
    avg_pool2d_backward,
    avg_pool2d_forward,
    max_pool2d_backward,
    max_pool2d_forward,
)

__all__ = list(INTERFACE)
