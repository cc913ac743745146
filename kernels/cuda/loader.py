"""Compile the CUDA sources with CuPy's NVRTC and launch their kernels.

A source file becomes one ``cupy.RawModule`` per device, compiled on first use
with every name expression ``sources.name_expressions`` lists (CuPy also keeps
the binary in its on-disk cache); each kernel function is looked up once and
kept. CuPy is imported only when a kernel is first asked for, so importing
``minidl.kernels.cuda`` never needs it.

Every kernel is launched on CuPy's current stream, like the CuPy array math
around it, so no synchronisation is needed between them.
"""

import numpy as np

from minidl import backend
from minidl.kernels.cuda import sources

THREADS = 256
# Grid-stride kernels stay correct with fewer blocks than items; this many
# blocks fill any current GPU many times over.
MAX_BLOCKS = 1 << 20
INT32_MAX = 2**31 - 1

_modules = {}
_functions = {}


def cupy():
    """The cupy module, or the backend's RuntimeError saying how to install it."""
    return backend.require_cupy("the 'cuda' kernel set")


def function(filename, kernel, dtype):
    """The compiled ``kernel<T>`` of ``filename`` for ``dtype`` on the current device."""
    cp = cupy()
    device = cp.cuda.runtime.getDevice()
    key = (filename, kernel, np.dtype(dtype).name, device)
    found = _functions.get(key)
    if found is None:
        if kernel not in sources.KERNELS.get(filename, ()):
            raise ValueError(f"kernels.cuda: {filename} has no kernel {kernel!r} in sources.KERNELS")
        expression = sources.name_expression(kernel, dtype)
        module = _modules.get((filename, device))
        if module is None:
            module = _modules[(filename, device)] = cp.RawModule(
                code=sources.source(filename),
                options=sources.OPTIONS,
                name_expressions=sources.name_expressions(filename),
            )
        found = _functions[key] = module.get_function(expression)
    return found


def launch(kernel, count, args, threads=THREADS):
    """Run a grid-stride kernel over ``count`` items, ``threads`` per block."""
    if count <= 0:
        return
    blocks = min(-(-count // threads), MAX_BLOCKS)
    kernel((blocks,), (threads,), args)


def float_dtype(op, *arrays):
    """The one dtype (float32 or float64) that every array shares."""
    dtype = arrays[0].dtype
    if dtype.name not in sources.ELEMENT_TYPES:
        raise TypeError(
            f"{op} (CUDA): dtype {dtype} is not supported; the kernels take float32 or float64"
        )
    for array in arrays[1:]:
        if array.dtype != dtype:
            described = ", ".join(str(a.dtype) for a in arrays)
            raise TypeError(f"{op} (CUDA): arrays must share one dtype, got {described}")
    return dtype


def int32(op, **sizes):
    """The sizes as np.int32 kernel arguments, in order; a ValueError past 2^31 - 1."""
    for name, value in sizes.items():
        if not 0 <= value <= INT32_MAX:
            raise ValueError(
                f"{op} (CUDA): {name} = {value} does not fit the kernel's 32-bit index "
                f"(at most {INT32_MAX})"
            )
    return tuple(np.int32(v) for v in sizes.values())
