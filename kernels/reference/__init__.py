"""Plain NumPy kernels: the readable oracle for every fast kernel.

Each fast backend (``minidl.kernels.cpu``, ``minidl.kernels.cuda``) exports
functions of the same names, arguments and layouts, and the tests check that
they agree with these on drawn inputs.

Conventions shared by every backend:

- ``kernel_size``, ``stride``, ``padding``, ``dilation`` are (h, w) pairs of ints.
- Images are NCHW and C-contiguous; results are new C-contiguous arrays of the
  input's dtype (float32 or float64).
- im2col returns ``cols`` of shape (C*kh*kw, N*oh*ow): row ``(c, i, j)`` holds
  kernel tap (i, j) of channel c for every output pixel of every image, so a
  (grouped) convolution is one GEMM ``W.reshape(Cout, C*kh*kw) @ cols`` per group.
- Max pooling returns the argmax *relative to the window* (0 .. kh*kw-1, row
  major); ties go to the first maximum.
- Batch norm works on x viewed as (N, C, L), with L = H*W (or 1 for 2-D input).
"""

from minidl.kernels import INTERFACE
from minidl.kernels.reference.activation import relu_backward
from minidl.kernels.reference.batch_norm import batch_norm_backward, batch_norm_forward_train
from minidl.kernels.reference.conv import col2im, im2col
from minidl.kernels.reference.cross_entropy import (
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
)
from minidl.kernels.reference.deform_conv import deform_col2im, deform_col2im_coord, deform_im2col
from minidl.kernels.reference.dropout import dropout_mask
from minidl.kernels.reference.lrn import lrn_backward, lrn_forward
from minidl.kernels.reference.pool import (
    adaptive_avg_pool2d_backward,
    adaptive_avg_pool2d_forward,
    avg_pool2d_backward,
    avg_pool2d_forward,
    max_pool2d_backward,
    max_pool2d_forward,
)

__all__ = list(INTERFACE)
