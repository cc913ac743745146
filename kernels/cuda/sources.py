"""The CUDA sources and the template instantiations the loader asks NVRTC for.

Plain data, importable without CuPy: the loader compiles exactly these
(``cupy.RawModule(code=source(f), options=OPTIONS, name_expressions=name_expressions(f))``)
and the CI compile test (tests/test_cuda_compile.py) hands the same text, the
same options and the same name expressions to NVRTC for sm_80 and sm_90, so a
kernel that does not compile never lands, even without a GPU.

>>> name_expression("im2col", "float32")
'im2col<float>'
>>> name_expressions("dropout.cu")
('dropout_mask<float>', 'dropout_mask<double>')
"""

from pathlib import Path

import numpy as np

DIRECTORY = Path(__file__).resolve().parent

# Put in front of every .cu file (see its first comment for why not #include).
HEADER = "common.cuh"

# File -> the __global__ templates it defines; each is instantiated per element type.
KERNELS = {
    "conv.cu": ("im2col", "col2im"),
    "deform_conv.cu": ("deform_im2col", "deform_col2im", "deform_col2im_coord"),
    "pool.cu": (
        "max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward",
        "adaptive_avg_pool2d_forward", "adaptive_avg_pool2d_backward",
    ),
    "batch_norm.cu": (
        "batch_norm_partial_stats", "batch_norm_finalize_stats", "batch_norm_normalize",
        "batch_norm_partial_grads", "batch_norm_finalize_grads", "batch_norm_backward_input",
    ),
    "lrn.cu": ("lrn_forward", "lrn_backward"),
    "dropout.cu": ("dropout_mask",),
    "cross_entropy.cu": ("softmax_cross_entropy_forward", "softmax_cross_entropy_backward"),
}

# NumPy dtype name -> the C++ type of T.
ELEMENT_TYPES = {"float32": "float", "float64": "double"}

# NVRTC options besides the architecture, which CuPy picks for the device at
# hand (the compile test uses sm_80 and sm_90).
OPTIONS = ("--std=c++17",)


def files():
    """Every .cu file in kernels/cuda, sorted."""
    return sorted(path.name for path in DIRECTORY.glob("*.cu"))


def source(filename):
    """The text NVRTC compiles for ``filename``: common.cuh, then the file."""
    if filename not in KERNELS:
        raise ValueError(f"kernels.cuda: unknown source {filename!r}; known: {', '.join(KERNELS)}")
    header = (DIRECTORY / HEADER).read_text()
    body = (DIRECTORY / filename).read_text()
    return f"{header}\n#line 1 \"{filename}\"\n{body}"


def name_expression(kernel, dtype):
    """The instantiation of ``kernel`` for ``dtype``, as NVRTC names it: 'im2col<float>'."""
    name = np.dtype(dtype).name
    if name not in ELEMENT_TYPES:
        raise TypeError(
            f"{kernel} (CUDA): dtype {name} is not supported; the kernels take "
            f"{' or '.join(ELEMENT_TYPES)}"
        )
    return f"{kernel}<{ELEMENT_TYPES[name]}>"


def name_expressions(filename):
    """Every instantiation the loader requests from ``filename``."""
    return tuple(name_expression(k, t) for k in KERNELS[filename] for t in ELEMENT_TYPES)
