"""Array -> array kernels, one set per backend, with the same names in each.

- ``minidl.kernels.reference``: plain NumPy, written to be read; the oracle the
  tests compare the fast kernels with.
- ``minidl.kernels.cpu``: Numba kernels, the CPU path.
- ``minidl.kernels.cuda``: CUDA C sources launched through CuPy, the GPU path.

Kernels know nothing of Tensor or autograd: arrays in, arrays out. ``INTERFACE``
below names the functions every set provides; their arguments and array layouts
are those of ``minidl.kernels.reference``, and ``tests/test_kernels_interface.py``
checks that each set matches it.
"""

INTERFACE = (
    "im2col", "col2im",
    "deform_im2col", "deform_col2im", "deform_col2im_coord",
    "max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward",
    "adaptive_avg_pool2d_forward", "adaptive_avg_pool2d_backward",
    "batch_norm_forward_train", "batch_norm_backward",
    "relu_backward",
    "lrn_forward", "lrn_backward",
    "dropout_mask",
    "softmax_cross_entropy_forward", "softmax_cross_entropy_backward",
)
