"""The CUDA kernel set: CUDA C sources (``*.cu``) launched through CuPy.

The same names, arguments and layouts as ``minidl.kernels.reference`` (the
NumPy oracle); arrays in and out are CuPy arrays. Each op family has one
``.cu`` file of kernels templated on the element type (float and double,
gradient checks need the latter) and one Python file of launchers next to it;
``sources`` lists the files and instantiations, ``loader`` compiles them with
``cupy.RawModule`` on first use. Importing this package never imports CuPy:

>>> import minidl.kernels.cuda as cuda_kernels
>>> sorted(cuda_kernels.sources.KERNELS)[:2]
['batch_norm.cu', 'conv.cu']
"""

from minidl.kernels import INTERFACE
from minidl.kernels.cuda import sources
from minidl.kernels.cuda.activation import relu_backward
from minidl.kernels.cuda.batch_norm import batch_norm_backward, batch_norm_forward_train
from minidl.kernels.cuda.conv import col2im, im2col
from minidl.kernels.cuda.cross_entropy import (
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
)
from minidl.kernels.cuda.deform_conv import deform_col2im, deform_col2im_coord, deform_im2col
from minidl.kernels.cuda.dropout import dropout_mask
from minidl.kernels.cuda.lrn import lrn_backward, lrn_forward
from minidl.kernels.cuda.pool import (
    adaptive_avg_pool2d_backward,
    adaptive_avg_pool2d_forward,
    avg_pool2d_backward,
    avg_pool2d_forward,
    max_pool2d_backward,
    max_pool2d_forward,
)

__all__ = list(INTERFACE)
