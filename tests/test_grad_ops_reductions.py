"""Gradient checks of sum, mean and max over drawn axes, with and without keepdims."""

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import minidl as md
from minidl.testing import strategies as mst

F = md.functional


@st.composite
def shape_and_axis(draw, min_dims=0):
    shape = draw(mst.shapes(min_dims=min_dims, max_dims=4))
    return shape, draw(mst.axes(len(shape)))


def _reduced_shape(shape, axis, keepdims):
    axes = range(len(shape)) if axis is None else [a % len(shape) for a in np.atleast_1d(axis)]
    return tuple(1 if i in axes else n for i, n in enumerate(shape) if keepdims or i not in axes)


@pytest.mark.parametrize("op", ["sum", "mean"])
@given(case=shape_and_axis(), keepdims=st.booleans(), seed=mst.seeds())
@example(case=((2, 3, 4), (0, 2)), keepdims=True, seed=0)
@example(case=((2, 3, 4), -1), keepdims=False, seed=0)
@example(case=((5,), None), keepdims=False, seed=0)
@example(case=((1, 1), (1, 0)), keepdims=False, seed=0)
@example(case=((), None), keepdims=False, seed=0)                 # a 0-d tensor's gradient stays 0-d
def test_sum_and_mean_gradcheck(op, case, keepdims, seed, device):
    shape, axis = case
    x = md.tensor(np.asarray(mst.rng(seed).uniform(-2, 2, shape)), requires_grad=True, device=device)
    fn = lambda t: getattr(t, op)(axis=axis, keepdims=keepdims)  # noqa: E731
    assert fn(x).shape == _reduced_shape(shape, axis, keepdims)
    md.testing.gradcheck(fn, x)


@st.composite
def distinct_values_and_axis(draw):
    """(values, axis): distinct values, so the maximum is unique and eps cannot
    change which element it is."""
    shape, axis = draw(shape_and_axis(min_dims=1))
    return draw(mst.distinct_arrays(shape)), axis


def _ranks(shape):
    return np.asarray(np.random.default_rng(0).permutation(int(np.prod(shape))).reshape(shape) * 0.1)


@given(case=distinct_values_and_axis(), keepdims=st.booleans())
@example(case=(_ranks((3, 4)), 1), keepdims=False)
@example(case=(_ranks((2, 3, 2)), (2, 0)), keepdims=True)
@example(case=(_ranks((1,)), None), keepdims=False)
@example(case=(_ranks(()), None), keepdims=True)
def test_max_gradcheck(case, keepdims, device):
    values, axis = case
    x = md.tensor(values, requires_grad=True, device=device)
    fn = lambda t: t.max(axis=axis, keepdims=keepdims)  # noqa: E731
    assert fn(x).shape == _reduced_shape(values.shape, axis, keepdims)
    np.testing.assert_array_equal(fn(x).numpy(), np.max(values, axis=axis, keepdims=keepdims))
    md.testing.gradcheck(fn, x)


def test_max_ties_go_to_the_first_maximum():
    x = md.tensor([1.0, 1.0, 0.0, 1.0], requires_grad=True)
    x.max().backward()
    np.testing.assert_array_equal(x.grad, np.array([1.0, 0.0, 0.0, 0.0], dtype=np.float32))


def test_max_ties_go_to_the_first_maximum_along_each_reduced_row():
    x = md.tensor(np.array([[1.0, 1.0, 0.0, 1.0], [0.0, 2.0, 2.0, 2.0]]), requires_grad=True)
    x.max(axis=1).backward(np.array([1.0, 10.0]))
    np.testing.assert_array_equal(x.grad, [[1.0, 0.0, 0.0, 0.0], [0.0, 10.0, 0.0, 0.0]])


def test_max_ties_over_several_axes_go_to_the_first_in_row_major_order():
    x = md.tensor(np.array([[[0.0, 3.0], [3.0, 1.0]], [[3.0, 3.0], [0.0, 0.0]]]), requires_grad=True)
    x.max(axis=(1, 2)).backward(np.array([1.0, 1.0]))
    np.testing.assert_array_equal(x.grad, [[[0.0, 1.0], [0.0, 0.0]], [[1.0, 0.0], [0.0, 0.0]]])
