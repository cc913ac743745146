"""Every CUDA kernel compiles with NVRTC for sm_80 and sm_90, on any machine.

NVRTC is the compiler CuPy uses at run time; the pip wheel
``nvidia-cuda-nvrtc-cu12`` (in the ``test`` extra) ships it and it needs no GPU
and no driver. The test hands NVRTC exactly what the loader hands
``cupy.RawModule``: the text of ``sources.source(file)``, ``sources.OPTIONS``
and every name expression of ``sources.name_expressions(file)``, then checks
that each expression lowers to a symbol present in the CUBIN. It is never
skipped: without the wheel it fails and says how to install it.
"""

import ctypes
import importlib.util
from pathlib import Path

import pytest

from minidl.kernels.cuda import sources

ARCHITECTURES = ("sm_80", "sm_90")

# CuPy appends this to the caller's options when it compiles (cupy/cuda/compiler.py).
CUPY_APPENDED_OPTIONS = ("-ftz=true",)

NVRTC_SUCCESS = 0


def _library_path():
    spec = importlib.util.find_spec("nvidia.cuda_nvrtc")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    candidates = sorted(root.glob("lib/libnvrtc.so*")) + sorted(root.glob("bin/nvrtc64_*.dll"))
    candidates = [p for p in candidates if "builtins" not in p.name and ".alt." not in p.name]
    return candidates[0] if candidates else None


@pytest.fixture(scope="module")
def nvrtc():
    path = _library_path()
    if path is None:
        pytest.fail(
            "NVRTC not found: the CUDA compile test needs the pip wheel nvidia-cuda-nvrtc-cu12 "
            "(pip install -e '.[test]'); it must never be skipped"
        )
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as error:
        pytest.fail(f"NVRTC at {path} does not load: {error}")
    lib.nvrtcGetErrorString.restype = ctypes.c_char_p
    return lib


class Program:
    """One NVRTC program: source in, log / CUBIN / lowered names out."""

    def __init__(self, lib, text, name, expressions):
        self.lib = lib
        self.handle = ctypes.c_void_p()
        self.check(lib.nvrtcCreateProgram(
            ctypes.byref(self.handle), text.encode(), name.encode(), 0, None, None,
        ), "nvrtcCreateProgram")
        for expression in expressions:
            self.check(lib.nvrtcAddNameExpression(self.handle, expression.encode()),
                       f"nvrtcAddNameExpression({expression})")

    def check(self, result, call):
        if result != NVRTC_SUCCESS:
            raise AssertionError(f"{call} failed: {self.lib.nvrtcGetErrorString(result).decode()}")

    def compile(self, options):
        """(succeeded, log)."""
        encoded = [o.encode() for o in options]
        array = (ctypes.c_char_p * len(encoded))(*encoded)
        result = self.lib.nvrtcCompileProgram(self.handle, len(encoded), array)
        size = ctypes.c_size_t()
        self.check(self.lib.nvrtcGetProgramLogSize(self.handle, ctypes.byref(size)), "nvrtcGetProgramLogSize")
        log = ctypes.create_string_buffer(size.value)
        self.check(self.lib.nvrtcGetProgramLog(self.handle, log), "nvrtcGetProgramLog")
        return result == NVRTC_SUCCESS, log.value.decode(errors="replace")

    def cubin(self):
        size = ctypes.c_size_t()
        self.check(self.lib.nvrtcGetCUBINSize(self.handle, ctypes.byref(size)), "nvrtcGetCUBINSize")
        buffer = ctypes.create_string_buffer(size.value)
        self.check(self.lib.nvrtcGetCUBIN(self.handle, buffer), "nvrtcGetCUBIN")
        return buffer.raw

    def lowered_name(self, expression):
        name = ctypes.c_char_p()
        self.check(self.lib.nvrtcGetLoweredName(self.handle, expression.encode(), ctypes.byref(name)),
                   f"nvrtcGetLoweredName({expression})")
        return name.value.decode()

    def destroy(self):
        self.lib.nvrtcDestroyProgram(ctypes.byref(self.handle))


def test_every_cu_file_is_in_the_loader_list():
    """A new kernel file cannot escape the compile test: the list is the directory."""
    assert sources.files() == sorted(sources.KERNELS), (
        f".cu files {sources.files()} differ from the loader's list {sorted(sources.KERNELS)}"
    )


def test_every_kernel_is_instantiated_for_float_and_double():
    for filename, kernels in sources.KERNELS.items():
        expressions = sources.name_expressions(filename)
        assert len(expressions) == 2 * len(kernels)
        for kernel in kernels:
            assert f"{kernel}<float>" in expressions and f"{kernel}<double>" in expressions


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("filename", sorted(sources.KERNELS))
def test_kernel_compiles_with_nvrtc(nvrtc, filename, architecture):
    expressions = sources.name_expressions(filename)
    program = Program(nvrtc, sources.source(filename), filename, expressions)
    try:
        options = (f"--gpu-architecture={architecture}",) + sources.OPTIONS + CUPY_APPENDED_OPTIONS
        ok, log = program.compile(options)
        assert ok, f"NVRTC could not compile {filename} for {architecture} ({' '.join(options)}):\n{log}"
        cubin = program.cubin()
        assert cubin, f"{filename}: NVRTC returned an empty CUBIN for {architecture}"
        for expression in expressions:
            lowered = program.lowered_name(expression)
            assert lowered.startswith("_Z"), f"{filename}: {expression} lowered to {lowered!r}"
            assert lowered.encode() in cubin, (
                f"{filename}: {expression} ({lowered}) is not a symbol of the {architecture} CUBIN"
            )
    finally:
        program.destroy()


def test_batch_norm_blocks_fit_the_shared_arrays():
    """The launcher's block size is the size of the kernels' __shared__ reduction arrays."""
    import re

    from minidl.kernels.cuda import batch_norm

    text = (sources.DIRECTORY / "batch_norm.cu").read_text()
    assert int(re.search(r"#define BN_THREADS (\d+)", text).group(1)) == batch_norm.THREADS
    for length in (1, 3, 32, 255, 256, 10**6):
        bx, by = batch_norm._block(length)
        assert bx * by == batch_norm.THREADS and bx <= max(1, 2 * length)
