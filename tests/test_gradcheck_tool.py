"""md.testing itself: gradcheck must catch wrong backwards, and the strategies must
deliver what they promise (off kinks, distinct values, valid op parameters)."""

import re

import numpy as np
import pytest
from hypothesis import find, given, settings
from hypothesis import strategies as st

import minidl as md
from minidl.testing import strategies as mst

F = md.functional


def _leaf(values):
    return md.tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


class ForgetsToTranspose(md.Function):
    """y = x.T, but backward hands gy back untransposed."""

    def forward(self, x):
        return x.T.copy()

    def backward(self, gy):
        return gy


class HalfSquare(md.Function):
    """y = x * x, but backward is off by a factor of 2."""

    def forward(self, x):
        self.save_for_backward(x)
        return x * x

    def backward(self, gy):
        (x,) = self.saved_tensors
        return x * gy


class AddTakingOneRow(md.Function):
    """y = a + b with b (1, n) broadcast over a's rows; b's gradient takes the first row
    of gy instead of summing over the rows it was broadcast to."""

    def forward(self, a, b):
        return a + b

    def backward(self, gy):
        return gy, gy[:1].copy()


class AddWithoutBroadcastSum(md.Function):
    """y = a + b, b broadcast; backward returns gy for b unsummed (the wrong shape)."""

    def forward(self, a, b):
        return a + b

    def backward(self, gy):
        return gy, gy


class InPlaceRelu(md.Function):
    def forward(self, x):
        np.maximum(x, 0, out=x)
        self.save_for_backward(x)
        return x.copy()

    def backward(self, gy):
        (y,) = self.saved_tensors
        return gy * (y > 0)


class ScalesUpstreamInPlace(md.Function):
    """y = 3x, but backward multiplies the incoming gradient in place."""

    def forward(self, x):
        return 3 * x

    def backward(self, gy):
        gy *= 3
        return gy


class DoublesSavedState(md.Function):
    """y = x * c, but backward changes c, so a second backward through the graph differs."""

    def forward(self, x):
        self.c = np.full_like(x, 2.0)
        return x * self.c

    def backward(self, gy):
        result = gy * self.c
        self.c *= 2
        return result


class NaNGradient(md.Function):
    def forward(self, x):
        return x.copy()

    def backward(self, gy):
        return gy * np.nan


def test_a_transposed_gradient_is_caught_though_an_all_ones_upstream_would_miss_it():
    values = np.arange(9.0).reshape(3, 3)
    x = _leaf(values)
    ForgetsToTranspose()(x).backward(np.ones((3, 3)))
    np.testing.assert_array_equal(x.grad, np.ones((3, 3)))  # looks right with all ones
    with pytest.raises(AssertionError, match=r"input 0 \(3, 3\) disagree; worst element \(\d, \d\)"):
        md.testing.gradcheck(lambda t: ForgetsToTranspose()(t), _leaf(values))


def test_a_gradient_off_by_a_factor_of_two_is_caught_at_its_worst_element():
    values = np.array([[0.5, -1.0, 3.0], [0.25, 2.0, -0.75]])
    with pytest.raises(AssertionError) as failure:
        md.testing.gradcheck(lambda t: HalfSquare()(t), _leaf(values))
    message = str(failure.value)
    assert "input 0 (2, 3)" in message
    worst = tuple(int(v) for v in re.search(r"worst element \((\d+), (\d+)\)", message).groups())
    # The error is |x * g| (analytic x*g against numeric 2*x*g), so the worst
    # element is where |x * g| is largest, for gradcheck's upstream g.
    upstream = md.testing.check_backward(lambda t: t * 1.0, _leaf(values)).upstream
    assert worst == np.unravel_index(np.argmax(np.abs(values * upstream)), values.shape)
    analytic, numeric = re.search(r"analytic (\S+), numeric (\S+) ", message).groups()
    assert float(numeric) == pytest.approx(2 * float(analytic), rel=1e-6)


def test_a_missing_broadcast_sum_is_caught_and_names_the_broadcast_input():
    a, b = _leaf(np.ones((4, 3))), _leaf([[1.0, 2.0, 3.0]])
    with pytest.raises(AssertionError, match=r"input 1 \(1, 3\) disagree"):
        md.testing.gradcheck(lambda s, t: AddTakingOneRow()(s, t), a, b)


def test_a_gradient_of_the_wrong_shape_fails_the_check_and_names_the_op_and_shapes():
    a, b = _leaf(np.ones((4, 3))), _leaf([[1.0, 2.0, 3.0]])
    with pytest.raises(AssertionError, match=r"AddWithoutBroadcastSum.*shape \(4, 3\) for input 1.*\(1, 3\)"):
        md.testing.gradcheck(lambda s, t: AddWithoutBroadcastSum()(s, t), a, b)


def test_float32_inputs_are_rejected():
    x = md.tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    with pytest.raises(TypeError, match="input 0 is float32.*float64"):
        md.testing.gradcheck(F.tanh, x)


def test_an_fn_that_mutates_its_input_is_caught():
    with pytest.raises(AssertionError, match="changed input 0"):
        md.testing.gradcheck(lambda t: InPlaceRelu()(t), _leaf([-1.0, 2.0, -3.0]))


def test_a_constant_input_mutated_in_place_is_caught_too():
    def fn(x, table):
        table.data += 1.0
        return x * table

    with pytest.raises(AssertionError, match="changed input 1"):
        md.testing.gradcheck(fn, _leaf([1.0, 2.0]), md.tensor(np.array([3.0, 4.0])))


def test_a_backward_that_changes_the_upstream_gradient_is_caught():
    with pytest.raises(AssertionError, match="changed the upstream gradient"):
        md.testing.gradcheck(lambda t: ScalesUpstreamInPlace()(t), _leaf([1.0, 2.0]))


def test_a_backward_that_changes_its_saved_state_fails_to_accumulate():
    with pytest.raises(AssertionError, match=r"input 0 \(2,\) do not accumulate.*second backward"):
        md.testing.gradcheck(lambda t: DoublesSavedState()(t), _leaf([1.0, 2.0]))


def test_an_unseeded_random_fn_fails_to_accumulate_on_a_fresh_forward():
    with pytest.raises(AssertionError, match="do not accumulate.*fresh forward"):
        md.testing.check_backward(lambda t: F.dropout(t, 0.5), _leaf(np.ones(64)))


def test_a_nan_gradient_fails():
    with pytest.raises(AssertionError, match="disagree"):
        md.testing.gradcheck(lambda t: NaNGradient()(t), _leaf([1.0, 2.0]))


def test_a_correct_backward_returns_a_report():
    x, w = _leaf([[0.5, -1.5], [2.0, 0.1]]), _leaf([[1.0, 2.0, -1.0], [0.3, 0.2, 0.1]])
    x.grad = np.full((2, 2), 7.0)  # reset by gradcheck
    report = md.testing.gradcheck(lambda a, b: F.tanh(a @ b), x, w)
    assert report.ok
    assert [r.index for r in report.inputs] == [0, 1]
    assert [r.shape for r in report.inputs] == [(2, 2), (2, 3)]
    assert report.max_abs_error < 1e-7
    assert str(report).startswith("gradcheck passed")
    assert x.grad is None and w.grad is None
    np.testing.assert_array_equal(x.numpy(), [[0.5, -1.5], [2.0, 0.1]])


def test_inputs_that_do_not_require_grad_are_passed_through_unchecked():
    x, c = _leaf([1.0, 2.0]), md.tensor(np.array([3.0, 4.0], dtype=np.float32))
    report = md.testing.gradcheck(lambda a, b, k: a * b.double() * k, x, c, 2.0)
    assert [r.index for r in report.inputs] == [0]


def test_nothing_to_check_and_a_non_tensor_output_are_clear_errors():
    with pytest.raises(ValueError, match="no input Tensor requires grad"):
        md.testing.gradcheck(F.tanh, md.tensor(np.ones(2)))
    with pytest.raises(TypeError, match="fn must return a Tensor, got ndarray"):
        md.testing.gradcheck(lambda t: t.numpy(), _leaf([1.0]))


def test_non_contiguous_and_read_only_inputs_are_checked():
    base = np.arange(12.0).reshape(3, 4)
    x = md.tensor(base.T, requires_grad=True)  # a transposed view
    assert md.testing.gradcheck(lambda t: t * t, x).ok
    frozen = np.linspace(-1, 1, 5)
    frozen.flags.writeable = False
    assert md.testing.gradcheck(F.tanh, md.tensor(frozen, requires_grad=True)).ok
    np.testing.assert_array_equal(frozen, np.linspace(-1, 1, 5))


def test_check_backward_returns_the_output_upstream_and_gradients():
    x = md.tensor(np.array([1.0, -2.0], dtype=np.float32), requires_grad=True)
    result = md.testing.check_backward(lambda t, k: t * 3.0 + k, x, md.tensor([5.0]))
    np.testing.assert_array_equal(result.output.numpy(), [8.0, -1.0])
    np.testing.assert_array_equal(result.grads[0], 3.0 * result.upstream)
    assert result.grads[0].dtype == np.float32 and result.grads[1] is None
    assert np.all(np.abs(result.upstream) >= 0.5) and np.all(np.abs(result.upstream) < 1.5)


# ---- the strategies --------------------------------------------------------

@given(data=st.data())
def test_distinct_arrays_keep_values_apart(data):
    shape = data.draw(mst.shapes(max_dims=3))
    values = data.draw(mst.distinct_arrays(shape, gap=0.05)).ravel()
    assert values.dtype == np.float64 and values.shape == (int(np.prod(shape)),)
    if values.size > 1:
        assert np.diff(np.sort(values)).min() >= 0.025


@given(data=st.data(), kinks=st.sampled_from([(0.0,), (0.0, 6.0)]))
def test_off_kink_arrays_stay_a_margin_away(data, kinks):
    shape = data.draw(mst.shapes(min_dims=0, max_dims=3))
    values = data.draw(mst.off_kink_arrays(shape, kinks=kinks, margin=0.05, low=-2.0, high=8.0))
    assert values.shape == shape and isinstance(values, np.ndarray) and values.dtype == np.float64
    for kink in kinks:
        assert np.all(np.abs(values - kink) >= 0.05 - 1e-12)


@given(data=st.data())
def test_zero_dimensional_draws_stay_float64_tensors(data):
    x = data.draw(mst.arrays(()))
    assert isinstance(x, np.ndarray) and md.tensor(x).dtype == np.float64


@given(case=mst.conv2d_cases())
def test_conv2d_cases_are_valid_and_cover_the_parameters(case):
    n, c_in, h, w = case.x_shape
    c_out, c_per_group, kh, kw = case.w_shape
    assert c_in == c_per_group * case.groups and c_out % case.groups == 0
    for size, k, s, p, d, out in zip((h, w), (kh, kw), case.stride, case.padding, case.dilation,
                                     case.out_shape[2:]):
        assert 0 <= p <= k - 1 and size >= 1
        assert (size + 2 * p - d * (k - 1) - 1) // s + 1 == out


def _spans(case):
    return [d * (k - 1) + 1 for d, k in zip(case.dilation, case.w_shape[2:])]


CONV_CORNERS = {
    "N=1, C=1": lambda c: c.x_shape[:2] == (1, 1),
    "odd, non-square input": lambda c: c.x_shape[2] != c.x_shape[3] and c.x_shape[2] % 2 == 1,
    "1x1 kernel": lambda c: c.w_shape[2:] == (1, 1),
    "kernel equal to the input": lambda c: list(c.w_shape[2:]) == list(c.x_shape[2:]) and c.padding == (0, 0),
    "stride larger than the kernel": lambda c: all(s > k for s, k in zip(c.stride, c.w_shape[2:])),
    "padding k-1": lambda c: c.padding[0] == c.w_shape[2] - 1 > 0,
    "dilation": lambda c: c.dilation == (2, 2) and min(c.w_shape[2:]) > 1,
    "groups": lambda c: c.groups > 1 and c.w_shape[1] > 1,
    "depthwise": lambda c: c.groups == c.x_shape[1] > 1 and c.w_shape[1] == 1,
}


@pytest.mark.parametrize("corner", sorted(CONV_CORNERS))
def test_conv2d_cases_reach_every_corner_case(corner):
    found = find(mst.conv2d_cases(), CONV_CORNERS[corner],
                 settings=settings(max_examples=2000, derandomize=True, database=None))
    assert CONV_CORNERS[corner](found)


@given(case=mst.pool2d_cases())
def test_pool2d_cases_follow_pytorchs_rules(case):
    for size, k, s, p, out in zip(case.x_shape[2:], case.kernel_size, case.stride, case.padding,
                                  case.out_shape[2:]):
        # A kernel larger than the padded input makes one window with ceil_mode (PyTorch).
        assert 0 <= p <= k // 2 and (size + 2 * p >= k or case.ceil_mode) and out >= 1
        # The last window starts inside the input or its left padding.
        assert (out - 1) * s < size + p


def test_pool2d_cases_output_sizes_match_pytorch():
    torch = pytest.importorskip("torch")

    @given(case=mst.pool2d_cases())
    def check(case):
        y = torch.nn.functional.max_pool2d(
            torch.zeros(case.x_shape), case.kernel_size, case.stride, case.padding,
            ceil_mode=case.ceil_mode,
        )
        assert tuple(y.shape) == case.out_shape

    check()


@given(data=st.data())
def test_indices_are_valid_for_their_shape(data):
    shape = data.draw(mst.shapes(max_dims=3))
    index = data.draw(mst.indices(shape))
    np.zeros(shape)[index]  # raises IndexError if the strategy built a bad index


@given(data=st.data())
def test_axes_are_valid_and_distinct(data):
    ndim = data.draw(st.integers(0, 4))
    axis = data.draw(mst.axes(ndim))
    np.zeros((2,) * ndim).sum(axis=axis)  # raises for an out-of-range or repeated axis
