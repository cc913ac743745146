"""Pooling kernels: the Numba kernels equal the NumPy reference, and the conventions are pinned.

Forward results are compared for exact equality: the Numba kernels visit a
window's taps in the reference's order. In backward, an input cell covered by
several windows receives their gradients in another order than in the
reference, so it may differ by the rounding of that sum: at most
``terms * eps * sum(|gradients|)`` with ``terms`` the windows covering a cell.
Where windows do not overlap, backward is exact too.
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


def assert_same_sum(gx, expected, magnitude, case):
    """gx equals expected up to reordering a sum; magnitude is the sum of the terms' sizes."""
    assert gx.dtype == expected.dtype
    terms = np.prod([-(-k // s) for k, s in zip(case.kernel_size, case.stride)])
    if terms == 1:
        np.testing.assert_array_equal(gx, expected)
    else:
        assert (np.abs(gx - expected) <= terms * np.finfo(gx.dtype).eps * magnitude).all()


@st.composite
def pool_inputs(draw, dtype):
    """(case, output size, x with distinct values, an upstream gradient)."""
    case = draw(mst.pool2d_cases(max_batch=3, max_channels=3, max_kernel=5, max_stride=4, max_extra=7))
    out = case.out_shape[2:]
    x = draw(mst.distinct_arrays(case.x_shape, dtype=dtype))
    gy = draw(mst.arrays(case.x_shape[:2] + out, dtype=dtype))
    return case, out, x, gy


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data())
def test_max_pool2d_matches_reference(dtype, data):
    case, out, x, gy = data.draw(pool_inputs(dtype))
    window = (case.kernel_size, case.stride, case.padding)
    y, argmax = cpu.max_pool2d_forward(x, *window, out)
    y_ref, argmax_ref = reference.max_pool2d_forward(x, *window, out)
    assert y.dtype == dtype and argmax.dtype == np.int32
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(argmax, argmax_ref)
    gx = cpu.max_pool2d_backward(gy, argmax, x.shape, *window)
    expected = reference.max_pool2d_backward(gy, argmax_ref, x.shape, *window)
    assert_same_sum(gx, expected, reference.max_pool2d_backward(np.abs(gy), argmax_ref, x.shape, *window), case)


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data())
def test_avg_pool2d_matches_reference(dtype, data):
    case, out, x, gy = data.draw(pool_inputs(dtype))
    window = (case.kernel_size, case.stride, case.padding)
    y = cpu.avg_pool2d_forward(x, *window, out)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, reference.avg_pool2d_forward(x, *window, out))
    gx = cpu.avg_pool2d_backward(gy, x.shape, *window)
    expected = reference.avg_pool2d_backward(gy, x.shape, *window)
    assert_same_sum(gx, expected, reference.avg_pool2d_backward(np.abs(gy), x.shape, *window), case)


@pytest.mark.parametrize("kernels", [cpu, reference], ids=["numba", "reference"])
@pytest.mark.parametrize(
    "window, first",
    [([1.0, 1.0, 0.0, 1.0], 0), ([0.0, 2.0, 2.0, 1.0], 1), ([-1.0, -3.0, 5.0, 5.0], 2), ([4.0] * 4, 0)],
)
def test_max_pool_ties_go_to_the_first_maximum(kernels, window, first):
    x = np.array(window).reshape(1, 1, 2, 2)
    y, argmax = kernels.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0), (1, 1))
    assert argmax.item() == first
    assert y.item() == max(window)
    gx = kernels.max_pool2d_backward(np.full((1, 1, 1, 1), 3.0), argmax, x.shape, (2, 2), (2, 2), (0, 0))
    expected = np.zeros(4)
    expected[first] = 3.0
    np.testing.assert_array_equal(gx.ravel(), expected)


def test_max_pool_op_sends_a_tied_window_gradient_to_its_first_maximum():
    x = md.tensor(np.array([[[[1.0, 1.0], [0.0, 1.0]]]]), requires_grad=True)
    md.functional.max_pool2d(x, 2).backward(np.array([[[[7.0]]]]))
    np.testing.assert_array_equal(x.grad[0, 0], [[7.0, 0.0], [0.0, 0.0]])


@pytest.mark.parametrize("kernels", [cpu, reference], ids=["numba", "reference"])
def test_max_pool_argmax_is_relative_to_the_window(kernels):
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    y, argmax = kernels.max_pool2d_forward(x, (3, 3), (1, 1), (1, 1), (4, 4))
    # The maximum of every window is its bottom-right cell inside the input.
    np.testing.assert_array_equal(argmax[0, 0], [[8, 8, 8, 7], [8, 8, 8, 7], [8, 8, 8, 7], [5, 5, 5, 4]])
    np.testing.assert_array_equal(y[0, 0], [[5, 6, 7, 7], [9, 10, 11, 11], [13, 14, 15, 15], [13, 14, 15, 15]])


@pytest.mark.parametrize("kernels", [cpu, reference], ids=["numba", "reference"])
def test_avg_pool_divides_by_the_padded_window_without_the_ceil_overhang(kernels):
    # h = w = 4, kernel 3, stride 2, padding 1, ceil_mode: windows start at -1, 1, 3 and the
    # padded input spans -1 .. 4, so the windows count 3, 3 and 2 cells per side (the
    # third one's last row is overhang) and hold 2, 3 and 1 cells of the input.
    out = tuple(mst.pool_output_side(4, 3, 2, 1, ceil_mode=True) for _ in range(2))
    assert out == (3, 3)
    y = kernels.avg_pool2d_forward(np.ones((1, 1, 4, 4)), (3, 3), (2, 2), (1, 1), out)
    side = np.array([2 / 3, 3 / 3, 1 / 2])
    np.testing.assert_allclose(y[0, 0], np.outer(side, side), rtol=1e-15)
    gx = kernels.avg_pool2d_backward(np.ones((1, 1, 3, 3)), (1, 1, 4, 4), (3, 3), (2, 2), (1, 1))
    # Per side, input row 0 is in window 0 (1/3), row 1 in windows 0 and 1 (1/3 + 1/3),
    # row 2 in window 1 (1/3), row 3 in windows 1 and 2 (1/3 + 1/2).
    side = np.array([1 / 3, 2 / 3, 1 / 3, 5 / 6])
    np.testing.assert_allclose(gx[0, 0], np.outer(side, side), rtol=1e-15)


@pytest.mark.parametrize("op", [F.max_pool2d, F.avg_pool2d])
@pytest.mark.parametrize(
    "x_shape, kwargs, error, words",
    [
        ((1, 1, 4, 4), dict(kernel_size=2, padding=2), ValueError, "padding (2, 2) must be at most half"),
        ((1, 1, 4, 4), dict(kernel_size=2, stride=0), ValueError, "stride must be >= 1"),
        ((1, 1, 4, 4), dict(kernel_size=(2, 6)), ValueError, "kernel_size 6 is larger than the padded input width"),
        ((1, 1, 4, 4), dict(kernel_size=2, padding=-1), ValueError, "padding must be >= 0"),
        ((1, 1, 4, 4), dict(kernel_size=2.0), TypeError, "kernel_size must be an int"),
        ((1, 4, 4), dict(kernel_size=2), ValueError, "must be 4-D"),
    ],
)
def test_bad_arguments_name_the_op_and_the_argument(op, x_shape, kwargs, error, words):
    with pytest.raises(error, match=op.__name__) as info:
        op(md.tensor(np.ones(x_shape)), **kwargs)
    assert words in str(info.value)


@pytest.mark.parametrize("op", [F.max_pool2d, F.avg_pool2d])
def test_dtypes_without_kernels_are_refused(op):
    with pytest.raises(TypeError, match=f"{op.__name__}: input must be float32 or float64, got float16"):
        op(md.tensor(np.ones((1, 1, 2, 2), np.float16)), 2)


@pytest.mark.parametrize("kernels", [cpu, reference], ids=["numba", "reference"])
def test_max_pool_never_hides_a_nan(kernels):
    nan = np.nan
    x = np.array([[1.0, nan, 5.0, 2.0], [nan, 3.0, 4.0, 0.0]]).reshape(1, 1, 2, 4)
    y, argmax = kernels.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0), (1, 2))
    np.testing.assert_array_equal(y.ravel(), [nan, 5.0])
    np.testing.assert_array_equal(argmax.ravel(), [1, 0])  # the first NaN; the plain maximum


@pytest.mark.parametrize("dtype", DTYPES)
@given(shape=mst.nchw_shapes(max_side=9), out=st.tuples(st.integers(1, 12), st.integers(1, 12)), seed=mst.seeds())
def test_adaptive_avg_pool2d_matches_reference_bit_for_bit(dtype, shape, out, seed):
    rng = mst.rng(seed)
    x = rng.uniform(-2, 2, shape).astype(dtype)
    gy = rng.uniform(-2, 2, shape[:2] + out).astype(dtype)
    y = cpu.adaptive_avg_pool2d_forward(x, out)
    assert y.dtype == dtype and y.shape == shape[:2] + out
    np.testing.assert_array_equal(y, reference.adaptive_avg_pool2d_forward(x, out))
    gx = cpu.adaptive_avg_pool2d_backward(gy, shape)
    assert gx.dtype == dtype
    np.testing.assert_array_equal(gx, reference.adaptive_avg_pool2d_backward(gy, shape))


@pytest.mark.parametrize("kernels", [cpu, reference], ids=["numba", "reference"])
def test_adaptive_windows_overlap_where_sizes_do_not_divide(kernels):
    # 5 rows to 3: windows 0..1, 1..3, 3..4 (floor(i*5/3) .. ceil((i+1)*5/3) - 1).
    x = np.arange(5.0).reshape(1, 1, 5, 1)
    np.testing.assert_array_equal(kernels.adaptive_avg_pool2d_forward(x, (3, 1)).ravel(), [0.5, 2.0, 3.5])
    gx = kernels.adaptive_avg_pool2d_backward(np.ones((1, 1, 3, 1)), x.shape).ravel()
    np.testing.assert_allclose(gx, [1 / 2, 1 / 2 + 1 / 3, 1 / 3, 1 / 3 + 1 / 2, 1 / 2], rtol=1e-15)


def test_adaptive_avg_pool2d_to_sizes_that_do_not_divide_is_one_op():
    x = md.tensor(np.ones((2, 3, 150, 150)), requires_grad=True)
    y = F.adaptive_avg_pool2d(x, (100, 100))
    assert type(y.creator).__name__ == "AdaptiveAvgPool2d"  # not a graph of 10,000 means and concats
    y.backward(np.ones(y.shape))
    assert x.grad.shape == x.shape
