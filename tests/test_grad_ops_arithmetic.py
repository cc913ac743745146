"""Gradient checks of the elementwise arithmetic ops and matmul, broadcasting included.

Every check is md.testing.gradcheck in float64 with a random upstream gradient;
it also checks that inputs stay unchanged, that gradients have the input's
shape and dtype, and that they accumulate (2g, then 3g).
"""

import operator

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import minidl as md
from minidl.testing import strategies as mst

F = md.functional

BINARY = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv}
# Which operands require grad: both, or one (the other is then a constant input).
REQUIRES = st.sampled_from([(True, True), (True, False), (False, True)])


def _operands(shapes, seeds, requires, device, divisor_last=False):
    a_shape, b_shape = shapes
    a = mst.rng(seeds[0]).uniform(-2, 2, a_shape)
    b = mst.rng(seeds[1]).uniform(-2, 2, b_shape)
    if divisor_last:
        # |b| >= 0.5: the quotient and its derivatives stay moderate, so
        # central differences stay accurate.
        b = np.sign(b + (b == 0)) * (0.5 + np.abs(b) * 0.75)
    return (
        md.tensor(np.asarray(a), requires_grad=requires[0], device=device),
        md.tensor(np.asarray(b), requires_grad=requires[1], device=device),
    )


@pytest.mark.parametrize("op", sorted(BINARY))
@given(shapes=mst.broadcastable_shapes(), seeds=st.tuples(mst.seeds(), mst.seeds()), requires=REQUIRES)
@example(shapes=([(), (3,)], (3,)), seeds=(0, 1), requires=(True, True))
@example(shapes=([(1, 3), (4, 1)], (4, 3)), seeds=(0, 1), requires=(True, True))
@example(shapes=([(2, 1, 3), (4, 3)], (2, 4, 3)), seeds=(0, 1), requires=(True, True))
@example(shapes=([(3,), (2, 3)], (2, 3)), seeds=(0, 1), requires=(False, True))
def test_binary_op_gradcheck(op, shapes, seeds, requires, device):
    a, b = _operands(shapes[0], seeds, requires, device, divisor_last=op == "div")
    y = BINARY[op](a, b)
    assert y.shape == shapes[1]
    md.testing.gradcheck(BINARY[op], a, b)


@pytest.mark.parametrize("op", sorted(BINARY))
@given(shape=mst.shapes(min_dims=0, max_dims=3), seed=mst.seeds(),
       constant=st.sampled_from([-1.5, 0.5, 2.0, 3]), on_left=st.booleans())
def test_binary_op_with_a_python_number_gradcheck(op, shape, seed, constant, on_left, device):
    x = mst.rng(seed).uniform(0.5, 2.0, shape)  # positive: safe as a divisor
    x = md.tensor(np.asarray(x), requires_grad=True, device=device)
    fn = (lambda t: BINARY[op](constant, t)) if on_left else (lambda t: BINARY[op](t, constant))
    assert fn(x).dtype == np.float64
    md.testing.gradcheck(fn, x)


@given(shape=mst.shapes(min_dims=0), seed=mst.seeds())
def test_neg_gradcheck(shape, seed, device):
    x = md.tensor(np.asarray(mst.rng(seed).uniform(-2, 2, shape)), requires_grad=True, device=device)
    md.testing.gradcheck(lambda t: -t, x)


@given(shape=mst.shapes(min_dims=0), seed=mst.seeds())
def test_exp_gradcheck(shape, seed, device):
    x = md.tensor(np.asarray(mst.rng(seed).uniform(-2, 2, shape)), requires_grad=True, device=device)
    md.testing.gradcheck(lambda t: t.exp(), x)


@given(shape=mst.shapes(min_dims=0), seed=mst.seeds())
def test_log_gradcheck(shape, seed, device):
    x = md.tensor(np.asarray(mst.rng(seed).uniform(0.5, 3, shape)), requires_grad=True, device=device)
    md.testing.gradcheck(lambda t: t.log(), x)


@given(shape=mst.shapes(min_dims=0), seed=mst.seeds(),
       exponent=st.sampled_from([0, 1, 2, 3, -1, -2, 0.5, 1.5, -0.5, 2.5]))
@example(shape=(3,), seed=0, exponent=0)
def test_pow_gradcheck(shape, seed, exponent, device):
    values = mst.rng(seed).uniform(0.5, 2.0, shape)
    if float(exponent).is_integer():
        # Integer powers are defined for negative bases too: test them there.
        values = values * mst.rng(seed + 1).choice([-1.0, 1.0], shape)
    x = md.tensor(np.asarray(values), requires_grad=True, device=device)
    md.testing.gradcheck(lambda t: t ** exponent, x)


@st.composite
def matmul_shapes(draw):
    """(a shape, b shape, result shape): batch axes broadcast; either operand may be 1-D."""
    (batch_a, batch_b), batch = draw(mst.broadcastable_shapes(max_dims=2, max_side=3))
    m, k, n = (draw(st.integers(1, 4)) for _ in range(3))
    form = draw(st.sampled_from(["matrices", "vector @ matrix", "matrix @ vector", "vector @ vector"]))
    if form == "vector @ matrix":
        return (k,), batch_b + (k, n), batch_b + (n,)
    if form == "matrix @ vector":
        return batch_a + (m, k), (k,), batch_a + (m,)
    if form == "vector @ vector":
        return (k,), (k,), ()
    return batch_a + (m, k), batch_b + (k, n), batch + (m, n)


@given(shapes=matmul_shapes(), seeds=st.tuples(mst.seeds(), mst.seeds()), requires=REQUIRES)
@example(shapes=((2, 3), (3, 4), (2, 4)), seeds=(0, 1), requires=(True, True))
@example(shapes=((2, 1, 2, 3), (5, 3, 4), (2, 5, 2, 4)), seeds=(0, 1), requires=(True, True))
@example(shapes=((3,), (2, 3, 4), (2, 4)), seeds=(0, 1), requires=(True, True))
def test_matmul_gradcheck(shapes, seeds, requires, device):
    a_shape, b_shape, out_shape = shapes
    a, b = _operands((a_shape, b_shape), seeds, requires, device)
    assert (a @ b).shape == out_shape
    md.testing.gradcheck(operator.matmul, a, b)


def test_sum_to_folds_broadcast_axes():
    grad = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(F.sum_to(grad, (3, 1)), grad.sum(axis=(0, 2)).reshape(3, 1))
    np.testing.assert_array_equal(F.sum_to(grad, ()), grad.sum())
    assert F.sum_to(grad, (2, 3, 4)) is grad
