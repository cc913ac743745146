"""Array -> array kernels, one set per backend, with the same names in each.

- ``minidl.kernels.reference``: plain NumPy, written to be read; the oracle the
  tests compare the fast kernels with.
- ``minidl.kernels.cpu``: Numba kernels, the CPU path.
- ``minidl.kernels.cuda``: CUDA C sources launched through CuPy, the GPU path.

Kernels know nothing of Tensor or autograd: arrays in, arrays out. The names,
argument order and array layouts are the interface documented in
``minidl.kernels.reference``.
"""
