"""Both fast kernel sets provide the kernel interface: every name of
``minidl.kernels.INTERFACE``, with the reference's parameters in the reference's order.

The CUDA set is checked by its attributes and signatures alone: importing it never
imports CuPy, so this runs on any machine.
"""

import importlib
import importlib.util
import inspect

import pytest

from minidl import kernels
from minidl.kernels import reference


def test_the_reference_is_the_interface():
    assert list(reference.__all__) == list(kernels.INTERFACE)
    assert all(callable(getattr(reference, name)) for name in kernels.INTERFACE)


@pytest.mark.parametrize("backend", ["cpu", "cuda"])
def test_each_fast_set_provides_the_interface(backend):
    module = importlib.import_module(f"minidl.kernels.{backend}")
    missing = [name for name in kernels.INTERFACE if not callable(getattr(module, name, None))]
    assert not missing, f"minidl.kernels.{backend} lacks {missing}"
    assert sorted(module.__all__) == sorted(kernels.INTERFACE)
    for name in kernels.INTERFACE:
        ours = list(inspect.signature(getattr(module, name)).parameters)
        theirs = list(inspect.signature(getattr(reference, name)).parameters)
        assert ours == theirs, f"{name}: {backend} takes {ours}, the reference {theirs}"


@pytest.mark.parametrize("backend", ["cpu", "cuda"])
def test_each_kernel_lives_in_the_file_of_its_op(backend):
    # One name per op in every layer: the kernel comes from kernels/<backend>/<op>.py, the
    # file its reference lives in, not from another set.
    module = importlib.import_module(f"minidl.kernels.{backend}")
    for name in kernels.INTERFACE:
        op_file = getattr(reference, name).__module__.rsplit(".", 1)[1]
        home = getattr(module, name).__module__
        assert home in (f"minidl.kernels.{backend}.{op_file}", f"minidl.kernels.reference.{op_file}"), (
            f"{backend}.{name} comes from {home}, not from kernels/{backend}/{op_file}.py"
        )
        assert importlib.util.find_spec(f"minidl.kernels.{backend}.{op_file}") is not None
