"""Gradient checks of conv2d where the rule picks Winograd: stride-1 3x3 and 5x5
kernels, float64, drawn shapes, padding 0 .. r-1 (the channel threshold is lifted
so that shapes small enough for finite differences take Winograd too)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
from minidl.functional import conv_algorithms
from minidl.testing import strategies as mst

F = md.functional


@st.composite
def winograd_cases(draw):
    r = draw(st.sampled_from([3, 5]))
    n, c, k = (draw(st.integers(1, 2)) for _ in range(3))
    out = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    padding = tuple(draw(st.integers(0, min(r - 1, (o + r - 2) // 2))) for o in out)
    size = tuple(o + r - 1 - 2 * p for o, p in zip(out, padding))
    return (n, c) + size, (k, c, r, r), padding


@given(case=winograd_cases(), bias=st.booleans(), seed=mst.seeds(),
       requires=st.sampled_from([(True, True), (False, True), (True, False)]))
def test_conv2d_gradcheck_on_winograd(case, bias, seed, requires):
    x_shape, w_shape, padding = case
    r = mst.rng(seed)
    x = md.tensor(r.uniform(-2, 2, x_shape), requires_grad=requires[0])
    w = md.tensor(r.uniform(-1, 1, w_shape), requires_grad=requires[1])
    b = md.tensor(r.uniform(-1, 1, w_shape[:1]), requires_grad=True) if bias else None
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(conv_algorithms, "WINOGRAD_MIN_CHANNELS", 1)
        chosen = conv_algorithms.choose_algorithm(x_shape, w_shape, (1, 1), padding, (1, 1), 1, "cpu")
        tile = conv_algorithms.WINOGRAD_TILE[w_shape[2]]
        assert chosen == f"winograd_{tile}x{tile}"
        inputs = (x, w) if b is None else (x, w, b)
        md.testing.gradcheck(lambda *t: F.conv2d(*t, padding=padding), *inputs)


def test_winograd_gradients_accumulate_and_keep_the_inputs():
    """Two backward calls give 2g; x and w are not mutated; gradients are C-contiguous
    even for a non-contiguous x."""
    rng = np.random.default_rng(3)
    x_data = np.ascontiguousarray(rng.standard_normal((2, 32, 7, 6)).transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
    w_data = rng.standard_normal((32, 32, 3, 3))
    x, w = md.tensor(x_data, requires_grad=True), md.tensor(w_data.copy(), requires_grad=True)
    assert conv_algorithms.choose_algorithm(x.shape, w.shape, (1, 1), (1, 1), (1, 1), 1, "cpu") == "winograd_4x4"
    gy = rng.standard_normal((2, 32, 7, 6))
    F.conv2d(x, w, padding=1).backward(gy)
    first = x.grad.copy(), w.grad.copy()
    F.conv2d(x, w, padding=1).backward(gy)
    np.testing.assert_allclose(x.grad, 2 * first[0], rtol=1e-12)
    np.testing.assert_allclose(w.grad, 2 * first[1], rtol=1e-12)
    np.testing.assert_array_equal(x.numpy(), x_data)
    np.testing.assert_array_equal(w.numpy(), w_data)
    assert first[0].flags.c_contiguous and first[0].shape == x.shape
