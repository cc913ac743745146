"""Gradient checks of linear: y = x @ weight.T + bias, with batch axes before the features."""

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

import minidl as md
from minidl.testing import strategies as mst

F = md.functional


@st.composite
def linear_cases(draw):
    """(x shape, weight shape, with bias, which of x/weight/bias require grad)."""
    batch = draw(st.lists(st.integers(1, 3), max_size=2))
    in_features, out_features = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    bias = draw(st.booleans())
    requires = draw(st.sampled_from([(True, True, True), (True, False, False), (False, True, True)]))
    return tuple(batch) + (in_features,), (out_features, in_features), bias, requires


@given(case=linear_cases(), seed=mst.seeds())
@example(case=((1, 1), (1, 1), True, (True, True, True)), seed=0)
@example(case=((4, 3), (2, 3), False, (True, True, True)), seed=0)
@example(case=((3,), (2, 3), True, (True, True, True)), seed=0)
@example(case=((2, 3, 5), (4, 5), True, (False, True, True)), seed=0)
def test_linear_gradcheck(case, seed, device):
    x_shape, w_shape, with_bias, requires = case
    r = mst.rng(seed)
    x = md.tensor(r.uniform(-2, 2, x_shape), requires_grad=requires[0], device=device)
    w = md.tensor(r.uniform(-2, 2, w_shape), requires_grad=requires[1], device=device)
    b = None
    if with_bias:
        b = md.tensor(r.uniform(-2, 2, w_shape[:1]), requires_grad=requires[2], device=device)
    expected = x.numpy() @ w.numpy().T + (b.numpy() if with_bias else 0)
    np.testing.assert_allclose(F.linear(x, w, b).numpy(), expected, rtol=1e-12, atol=1e-12)
    if with_bias:
        md.testing.gradcheck(F.linear, x, w, b)
    else:
        md.testing.gradcheck(F.linear, x, w)


def test_linear_layer_matches_the_formula_on_hand_picked_numbers():
    x = md.tensor(np.array([[1.0, 2.0]]), requires_grad=True)
    w = md.tensor(np.array([[1.0, 0.0], [0.5, -1.0], [2.0, 3.0]]), requires_grad=True)
    b = md.tensor(np.array([0.0, 1.0, -1.0]), requires_grad=True)
    y = F.linear(x, w, b)
    np.testing.assert_array_equal(y.numpy(), [[1.0, -0.5, 7.0]])
    y.backward(np.array([[1.0, 2.0, 3.0]]))
    np.testing.assert_array_equal(x.grad, [[8.0, 7.0]])
    np.testing.assert_array_equal(w.grad, [[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]])
    np.testing.assert_array_equal(b.grad, [1.0, 2.0, 3.0])
