"""Devices: which array module holds an array, and which kernel set serves it.

minidl knows two devices. ``"cpu"`` arrays are NumPy and their kernels are the
Numba ones in ``minidl.kernels.cpu``; ``"cuda"`` arrays are CuPy and their
kernels are the CUDA sources in ``minidl.kernels.cuda``. CuPy is optional:
importing minidl never needs it, and asking for ``"cuda"`` without it raises a
clear error.

>>> import numpy as np
>>> get_array_module(np.zeros(3)) is np
True
>>> device_of(np.zeros(3))
'cpu'
"""

import functools
import importlib
import sys

import numpy as np

DEVICES = ("cpu", "cuda")


@functools.cache
def cupy_state():
    """(the cupy module or None, why the 'cuda' device cannot be used or None), asked once.

    The one place that holds CuPy state: the import and the device count are tried
    on first use and kept for the process (``cupy_state.cache_clear()`` forgets them).
    """
    try:
        cp = importlib.import_module("cupy")
    except Exception as error:  # ImportError, or a CUDA library that fails to load
        return None, f"CuPy is not importable ({type(error).__name__}: {error})"
    try:
        if cp.cuda.runtime.getDeviceCount() > 0:
            return cp, None
    except Exception:  # a driver that is missing or too old
        pass
    return cp, "CuPy imports but sees no CUDA device"


def cupy_available():
    """True when CuPy imports and at least one CUDA device is visible."""
    cp, problem = cupy_state()
    return cp is not None and problem is None


def require_cupy(what="the 'cuda' device"):
    """The cupy module, or a RuntimeError that says how to get it."""
    cp, problem = cupy_state()
    if problem is not None:
        raise RuntimeError(
            f"{what} needs CuPy and an NVIDIA GPU: {problem}. "
            "Install it with `pip install minidl[cuda12]` (or [cuda13])."
        )
    return cp


def is_cupy_array(array):
    # No CuPy array can exist before something imported CuPy; until then, CuPy stays unimported.
    if "cupy" not in sys.modules:
        return False
    cp = cupy_state()[0]
    return cp is not None and isinstance(array, cp.ndarray)


def device_of(array):
    """'cuda' for a CuPy array, 'cpu' for anything else."""
    return "cuda" if is_cupy_array(array) else "cpu"


def get_array_module(*arrays):
    """numpy, or cupy when any of the arrays lives on the GPU (Chainer's idiom)."""
    for array in arrays:
        if is_cupy_array(array):
            return cupy_state()[0]
    return np


def check_device(device, op="to"):
    """Normalise a device name ('cpu', 'cuda', 'cuda:0') to 'cpu' or 'cuda'."""
    if not isinstance(device, str):
        raise TypeError(f"{op}: device must be a string 'cpu' or 'cuda', got {type(device).__name__}")
    name = device.split(":", 1)[0]
    if name not in DEVICES:
        raise ValueError(f"{op}: unknown device {device!r}; expected one of {DEVICES}")
    if name == "cuda":
        require_cupy(f"{op}(device={device!r})")
    return name


def to_device(array, device):
    """The array on the device: a copy when it moves, the array itself when it does not."""
    device = check_device(device)
    if device == device_of(array):
        return array
    cp = cupy_state()[0]
    return cp.asarray(array) if device == "cuda" else cp.asnumpy(array)


def kernels(device):
    """The kernel module for a device: minidl.kernels.cpu or minidl.kernels.cuda."""
    if device == "cuda":
        require_cupy("the CUDA kernels")
        return importlib.import_module("minidl.kernels.cuda")
    return importlib.import_module("minidl.kernels.cpu")


def kernels_for(array):
    """The kernel module that serves this array's device."""
    return kernels(device_of(array))
