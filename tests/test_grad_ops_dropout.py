"""Gradient checks of dropout (its seed fixed inside fn, so every call draws one mask)."""

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

import minidl as md
from minidl.testing import strategies as mst

F = md.functional


@given(shape=mst.shapes(min_dims=1, max_dims=4), p=st.sampled_from([0.1, 0.5, 0.9]),
       seed=mst.seeds(), mask_seed=st.integers(0, 2**31))
@example(shape=(1,), p=0.5, seed=0, mask_seed=0)
def test_dropout_gradcheck(shape, p, seed, mask_seed, device):
    x = md.tensor(mst.rng(seed).uniform(-2, 2, shape), requires_grad=True, device=device)

    def fn(t):
        md.manual_seed(mask_seed)
        return F.dropout(t, p=p)

    y = fn(x).numpy()
    kept = y != 0
    np.testing.assert_allclose(y[kept], x.numpy()[kept] / (1 - p), rtol=1e-12)
    md.testing.gradcheck(fn, x)


@given(shape=mst.shapes(min_dims=1, max_dims=3), seed=mst.seeds())
def test_dropout_in_evaluation_and_with_p_zero_is_the_identity(shape, seed, device):
    x = md.tensor(mst.rng(seed).uniform(-2, 2, shape), requires_grad=True, device=device)
    for fn in (lambda t: F.dropout(t, p=0.5, training=False), lambda t: F.dropout(t, p=0.0)):
        np.testing.assert_array_equal(fn(x).numpy(), x.numpy())
        md.testing.gradcheck(fn, x)


def test_dropout_with_p_one_zeroes_everything_and_passes_no_gradient():
    x = md.tensor(np.ones((2, 3)), requires_grad=True)
    y = F.dropout(x, p=1.0)
    np.testing.assert_array_equal(y.numpy(), np.zeros((2, 3)))
    y.backward(np.ones((2, 3)))
    np.testing.assert_array_equal(x.grad, np.zeros((2, 3)))


def test_dropout_drops_about_p_and_a_seed_repeats_the_mask():
    x = md.tensor(np.ones(100_000, dtype=np.float32))
    md.manual_seed(3)
    first = F.dropout(x, p=0.3).numpy()
    md.manual_seed(3)
    np.testing.assert_array_equal(F.dropout(x, p=0.3).numpy(), first)
    # Binomial(1e5, 0.3): the standard deviation of the dropped fraction is 0.00145; 5 sigma.
    assert abs((first == 0).mean() - 0.3) < 0.0073
    np.testing.assert_allclose(np.unique(first), [0.0, 1 / 0.7], rtol=1e-6)
