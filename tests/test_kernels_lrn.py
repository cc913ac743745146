"""LRN kernels: the Numba kernels equal the NumPy reference, and the formula
(AlexNet's, alpha *not* divided by size) is pinned on numbers worked by hand.

The kernels take every sum and product in the input's dtype in the
reference's order and share NumPy's power, so they are compared for exact
equality.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
from minidl.kernels import cpu, reference
from minidl.testing import strategies as mst

F = md.functional
DTYPES = [np.float32, np.float64]


@st.composite
def lrn_inputs(draw, dtype):
    """x (N, C, H, W), gy, and (size, alpha, beta, k) with k > 0 and alpha >= 0."""
    n = draw(st.integers(1, 2))
    c = draw(st.integers(1, 9))
    h, w = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    rng = mst.rng(draw(mst.seeds()))
    x = rng.uniform(-3, 3, (n, c, h, w)).astype(dtype)
    gy = rng.standard_normal((n, c, h, w)).astype(dtype)
    size = draw(st.integers(1, 2 * c + 1))
    alpha = draw(st.sampled_from([0.0, 1e-4, 0.1, 1.0]))
    beta = draw(st.sampled_from([0.75, 0.5, 1.0, 2.5]))
    k = draw(st.sampled_from([2.0, 1.0, 0.5]))
    return x, gy, (size, alpha, beta, k)


def window_sum(values, size):
    """Sum over channels c' with |c' - c| <= size // 2, zeros beyond the edges."""
    half, channels = size // 2, values.shape[1]
    padded = np.pad(values, ((0, 0), (half, half), (0, 0), (0, 0)))
    return sum(padded[:, i:i + channels] for i in range(2 * half + 1))


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data())
def test_lrn_matches_reference(dtype, data):
    x, gy, (size, alpha, beta, k) = data.draw(lrn_inputs(dtype))
    y, scale = cpu.lrn_forward(x, size, alpha, beta, k)
    y_ref, scale_ref = reference.lrn_forward(x, size, alpha, beta, k)
    assert y.dtype == scale.dtype == dtype
    np.testing.assert_array_equal(scale, scale_ref)
    np.testing.assert_array_equal(y, y_ref)
    gx = cpu.lrn_backward(x, y, scale, gy, size, alpha, beta)
    assert gx.dtype == dtype
    np.testing.assert_array_equal(gx, reference.lrn_backward(x, y_ref, scale_ref, gy, size, alpha, beta))


@pytest.mark.parametrize("kernels", [cpu, reference], ids=["numba", "reference"])
def test_lrn_by_hand(kernels):
    # Channels 1, 2, 3; size 3 sums each channel with its neighbours; alpha 0.5 is not divided by 3:
    # S = 1 + 0.5 * (1 + 4) = 3.5,  1 + 0.5 * (1 + 4 + 9) = 8,  1 + 0.5 * (4 + 9) = 7.5.
    x = np.array([1.0, 2.0, 3.0]).reshape(1, 3, 1, 1)
    y, scale = kernels.lrn_forward(x, 3, 0.5, 1.0, 1.0)
    np.testing.assert_array_equal(scale.ravel(), [3.5, 8.0, 7.5])
    np.testing.assert_allclose(y.ravel(), [1 / 3.5, 2 / 8, 3 / 7.5], rtol=1e-15)
    # beta = 0.5: y = x / sqrt(S).
    y, _ = kernels.lrn_forward(x, 3, 0.5, 0.5, 1.0)
    np.testing.assert_allclose(y.ravel(), [1 / 3.5 ** 0.5, 2 / 8 ** 0.5, 3 / 7.5 ** 0.5], rtol=1e-15)
    # beta = 1: dy_c/dx_c = 1/S_c - x_c * 2*alpha*x_c / S_c^2, plus the neighbours' terms
    # -2*alpha*x_c * y_c' / S_c' for c' next to c. With gy = (1, 0, 0) only y_0 counts:
    # gx_0 = 1/3.5 - 2*0.5*1*(1/3.5)/3.5,  gx_1 = -2*0.5*2*(1/3.5)/3.5,  gx_2 = 0.
    y, scale = kernels.lrn_forward(x, 3, 0.5, 1.0, 1.0)
    gx = kernels.lrn_backward(x, y, scale, np.array([1.0, 0.0, 0.0]).reshape(1, 3, 1, 1), 3, 0.5, 1.0)
    np.testing.assert_allclose(gx.ravel(), [1 / 3.5 - 1 / 3.5 ** 2, -2 / 3.5 ** 2, 0.0], rtol=1e-15, atol=1e-17)


def test_op_window_is_symmetric_so_an_even_size_spans_one_more_channel():
    x = md.tensor(np.arange(1.0, 6.0).reshape(1, 5, 1, 1))
    np.testing.assert_array_equal(
        F.local_response_norm(x, size=2, alpha=0.1, beta=0.75, k=2.0).numpy(),
        F.local_response_norm(x, size=3, alpha=0.1, beta=0.75, k=2.0).numpy(),
    )


def test_op_matches_the_docstring_formula_on_alexnet_parameters():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 7, 3, 4))
    y = F.local_response_norm(md.tensor(x), size=5, alpha=1e-4, beta=0.75, k=2.0).numpy()
    np.testing.assert_allclose(y, x / (2.0 + 1e-4 * window_sum(x * x, 5)) ** 0.75, rtol=1e-14)


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        (dict(size=0), ValueError, "size"),
        (dict(size=2.5), TypeError, "size"),
        (dict(k=0.0), ValueError, "k > 0"),
        (dict(alpha=-1.0), ValueError, "alpha >= 0"),
        (dict(beta="0.75"), TypeError, "beta"),
        (dict(alpha=float("nan")), ValueError, "alpha"),
    ],
)
def test_bad_arguments_name_the_op_and_the_argument(kwargs, error, words):
    with pytest.raises(error, match="local_response_norm") as info:
        F.local_response_norm(md.tensor(np.ones((1, 3, 2, 2))), **kwargs)
    assert words in str(info.value)


def test_input_must_be_4d():
    with pytest.raises(ValueError, match=r"local_response_norm: input must be 4-D.*\(3, 2\)"):
        F.local_response_norm(md.tensor(np.ones((3, 2))))


def test_dtypes_without_kernels_are_refused():
    with pytest.raises(TypeError, match="local_response_norm: input must be float32 or float64, got float16"):
        F.local_response_norm(md.tensor(np.ones((1, 3, 2, 2), np.float16)))
