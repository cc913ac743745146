"""ReLU's backward kernel: the Numba pass equals the NumPy reference bit for bit (it
selects values, no arithmetic), kinks and NaN included."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minidl.kernels import cpu, reference
from minidl.testing import strategies as mst


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@given(size=st.integers(0, 300), seed=mst.seeds())
def test_relu_backward_matches_reference(dtype, size, seed):
    rng = mst.rng(seed)
    y = np.maximum(rng.standard_normal(size), 0).astype(dtype)
    gy = rng.standard_normal(size).astype(dtype)
    got = cpu.relu_backward(gy, y)
    assert got.dtype == dtype and got.shape == gy.shape
    assert got.tobytes() == reference.relu_backward(gy, y).tobytes()


@pytest.mark.parametrize("kernels", [cpu, reference], ids=["numba", "reference"])
def test_relu_backward_passes_nothing_at_zero_or_nan(kernels):
    y = np.array([0.0, -0.0, np.nan, 1e-30, 2.0], dtype=np.float32)
    gy = np.array([1.0, 2.0, 3.0, 4.0, 5.0], dtype=np.float32)
    np.testing.assert_array_equal(kernels.relu_backward(gy, y), [0.0, 0.0, 0.0, 4.0, 5.0])


@pytest.mark.parametrize("kernels", [cpu, reference], ids=["numba", "reference"])
def test_relu_backward_writes_into_out(kernels):
    y, gy = np.array([[1.0, 0.0], [3.0, 0.0]]), np.array([[5.0, 6.0], [7.0, 8.0]])
    out = np.full((2, 2), np.nan)
    assert kernels.relu_backward(gy, y, out=out) is out
    np.testing.assert_array_equal(out, [[5.0, 0.0], [7.0, 0.0]])
