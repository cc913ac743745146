"""Gradient checks of the activations and (log-)softmax, and their pinned kinks."""

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import minidl as md
from minidl.testing import strategies as mst

F = md.functional


def values(kinks=(), low=-2.0, high=2.0):
    """Arrays of drawn shapes (0-d included), every value at least 0.05 from each kink."""
    return mst.shapes(min_dims=0, max_dims=4).flatmap(
        lambda shape: mst.off_kink_arrays(shape, kinks=kinks, low=low, high=high)
    )


def check(fn, x, device):
    md.testing.gradcheck(fn, md.tensor(x, requires_grad=True, device=device))


@given(x=values(kinks=(0.0,)))
@example(x=np.array([-1.0, -0.05, 0.05, 1.0]))
def test_relu_gradcheck(x, device):
    check(F.relu, x, device)


@given(x=values(kinks=(0.0, 6.0), low=-2.0, high=8.0))
@example(x=np.array([-0.05, 0.05, 5.95, 6.05]))
def test_relu6_gradcheck(x, device):
    check(F.relu6, x, device)


@given(x=values(kinks=(0.0,)), slope=st.sampled_from([0.0, 0.01, 0.2, 1.5]))
def test_leaky_relu_gradcheck(x, slope, device):
    check(lambda t: F.leaky_relu(t, slope), x, device)


@given(x=values(low=-6.0, high=6.0))
@example(x=np.array([-30.0, 0.0, 30.0]))
def test_sigmoid_gradcheck(x, device):
    check(F.sigmoid, x, device)


@given(x=values(low=-3.0, high=3.0))
def test_tanh_gradcheck(x, device):
    check(F.tanh, x, device)


@given(x=values(low=-6.0, high=6.0))
@example(x=np.array([-30.0, 0.0, 30.0]))
def test_silu_gradcheck(x, device):
    check(F.silu, x, device)


@st.composite
def logits_and_axis(draw):
    shape = draw(mst.shapes(min_dims=1, max_dims=4))
    # Scale 3: probabilities from near-uniform to peaked, still resolvable by eps.
    return draw(mst.arrays(shape, low=-3.0, high=3.0)), draw(st.integers(-len(shape), len(shape) - 1))


@given(case=logits_and_axis())
@example(case=(np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]), 0))
@example(case=(np.array([5.0]), -1))
def test_softmax_gradcheck(case, device):
    x, axis = case
    check(lambda t: F.softmax(t, axis), x, device)


@given(case=logits_and_axis())
@example(case=(np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]]), 1))
def test_log_softmax_gradcheck(case, device):
    x, axis = case
    check(lambda t: F.log_softmax(t, axis), x, device)


@given(case=logits_and_axis())
def test_softmax_rows_sum_to_one_and_log_softmax_is_its_log(case, device):
    x, axis = case
    t = md.tensor(x, device=device)
    p = F.softmax(t, axis).numpy()
    np.testing.assert_allclose(p.sum(axis=axis), 1.0, rtol=1e-12)
    np.testing.assert_allclose(F.log_softmax(t, axis).numpy(), np.log(p), rtol=1e-12, atol=1e-12)


def test_relu_gradient_at_zero_is_zero():
    x = md.tensor([-1.0, 0.0, 1.0], requires_grad=True)
    F.relu(x).backward(np.array([1.0, 1.0, 1.0]))
    np.testing.assert_array_equal(x.grad, np.array([0.0, 0.0, 1.0], dtype=np.float32))


def test_relu6_gradient_is_zero_at_both_kinks():
    x = md.tensor([-1.0, 0.0, 3.0, 6.0, 7.0], requires_grad=True)
    F.relu6(x).backward(np.ones(5))
    np.testing.assert_array_equal(x.grad, np.array([0.0, 0.0, 1.0, 0.0, 0.0], dtype=np.float32))


def test_leaky_relu_gradient_at_zero_is_the_slope():
    x = md.tensor([-1.0, 0.0, 1.0], requires_grad=True)
    F.leaky_relu(x, 0.1).backward(np.ones(3))
    np.testing.assert_allclose(x.grad, np.array([0.1, 0.1, 1.0], dtype=np.float32))


def test_softmax_and_log_softmax_are_finite_for_logits_of_1e4():
    for dtype in (np.float32, np.float64):
        x = md.tensor(np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]], dtype=dtype), requires_grad=True)
        np.testing.assert_allclose(F.softmax(x).numpy(), [[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-6)
        log_p = F.log_softmax(x)
        np.testing.assert_allclose(log_p.numpy(), [[0.0, -2e4, -1e4], [-np.log(3)] * 3], rtol=1e-6)
        log_p.backward(np.ones((2, 3), dtype=dtype))
        assert np.isfinite(x.grad).all()


def test_sigmoid_is_finite_and_exact_at_the_extremes():
    x = md.tensor(np.array([-1e4, 0.0, 1e4]), requires_grad=True)
    np.testing.assert_array_equal(F.sigmoid(x).numpy(), [0.0, 0.5, 1.0])
    F.sigmoid(x).backward(np.ones(3))
    np.testing.assert_array_equal(x.grad, [0.0, 0.25, 0.0])


@given(shape=mst.shapes(min_dims=0, max_dims=4), seed=mst.seeds())
def test_add_relu_gradcheck(shape, seed, device):
    # a + b kept at least 0.05 from 0: a drawn freely, b = (a target off the kink) - a.
    r = mst.rng(seed)
    a = r.uniform(-2, 2, shape)
    total = r.uniform(0.05, 2, shape) * r.choice([-1.0, 1.0], shape)
    a_t, b_t = (md.tensor(np.asarray(v), requires_grad=True, device=device) for v in (a, total - a))
    md.testing.gradcheck(F.add_relu, a_t, b_t)


def test_add_relu_is_relu_of_the_sum_and_passes_nothing_at_zero():
    a = md.tensor(np.array([1.0, -2.0, 0.5, -1.0]), requires_grad=True)
    b = md.tensor(np.array([0.5, 1.0, -0.5, 3.0]), requires_grad=True)
    y = F.add_relu(a, b)
    np.testing.assert_array_equal(y.numpy(), [1.5, 0.0, 0.0, 2.0])
    y.backward(np.array([1.0, 2.0, 3.0, 4.0]))
    np.testing.assert_array_equal(a.grad, [1.0, 0.0, 0.0, 4.0])  # the sum 0 at index 2: relu'(0) = 0
    np.testing.assert_array_equal(b.grad, a.grad)


def test_add_relu_refuses_shapes_that_differ():
    with pytest.raises(ValueError, match=r"add_relu: a and b must have one shape, got \(2, 3\) and \(3,\)"):
        F.add_relu(md.tensor(np.ones((2, 3))), md.tensor(np.ones(3)))
