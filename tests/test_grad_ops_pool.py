"""Gradient checks of max_pool2d, avg_pool2d (ceil_mode included) and adaptive_avg_pool2d.

Forward values are also compared with a direct per-window computation of the
rule the docstring states (PyTorch's), and with PyTorch itself when it imports.
"""

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import minidl as md
from minidl.testing import strategies as mst
from minidl.testing.strategies import PoolCase, pool_output_side

F = md.functional
POOLS = {"max_pool2d": F.max_pool2d, "avg_pool2d": F.avg_pool2d}


def _case(x_shape, kernel_size, stride, padding=(0, 0), ceil_mode=False):
    out = tuple(pool_output_side(*a, ceil_mode) for a in zip(x_shape[2:], kernel_size, stride, padding))
    return PoolCase(x_shape, kernel_size, stride, padding, ceil_mode, x_shape[:2] + out)


CORNERS = [
    _case((1, 1, 4, 4), (2, 2), (2, 2)),                         # LeNet's 2x2 pool
    _case((1, 1, 5, 5), (2, 2), (2, 2), ceil_mode=True),         # ceil: a last, partial window
    _case((1, 2, 5, 5), (2, 2), (2, 2), (1, 1), ceil_mode=True),  # ceil: a window in the padding is dropped
    _case((2, 1, 3, 5), (3, 2), (1, 3), (1, 1)),                 # stride > kernel, non-square
    _case((1, 1, 3, 3), (3, 3), (1, 1)),                         # kernel = input
    _case((1, 3, 6, 7), (3, 3), (2, 2), (1, 1), ceil_mode=True),  # ResNet's stem pool
]


def direct_pool(name, x, case):
    """Each output cell from its window, with the documented rule for the average's divisor."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = case.kernel_size, case.stride, case.padding
    y = np.zeros(case.out_shape)
    for oy in range(case.out_shape[2]):
        for ox in range(case.out_shape[3]):
            top, left = oy * sh - ph, ox * sw - pw
            window = x[:, :, max(top, 0):min(top + kh, h), max(left, 0):min(left + kw, w)]
            if name == "max_pool2d":
                y[:, :, oy, ox] = window.max(axis=(2, 3))
            else:
                cells = (min(top + kh, h + ph) - top) * (min(left + kw, w + pw) - left)
                y[:, :, oy, ox] = window.sum(axis=(2, 3)) / cells
    return y


def _pool_args(case):
    return dict(kernel_size=case.kernel_size, stride=case.stride, padding=case.padding,
                ceil_mode=case.ceil_mode)


def _input(name, case, seed):
    if name == "max_pool2d":
        # Distinct values: one maximum per window, which eps cannot change.
        r = mst.rng(seed)
        count = int(np.prod(case.x_shape))
        return (r.permutation(count) * 0.05 + r.uniform(0, 0.01, count)).reshape(case.x_shape)
    return mst.rng(seed).uniform(-2, 2, case.x_shape)


def _with_corners(test):
    for case in CORNERS:
        test = example(case=case, seed=0)(test)
    return test


@pytest.mark.parametrize("name", sorted(POOLS))
@given(case=mst.pool2d_cases(), seed=mst.seeds())
@_with_corners
def test_pool_gradcheck(name, case, seed, device):
    values = _input(name, case, seed)
    x = md.tensor(values, requires_grad=True, device=device)
    fn = lambda t: POOLS[name](t, **_pool_args(case))  # noqa: E731
    y = fn(x)
    assert y.shape == case.out_shape
    np.testing.assert_allclose(y.numpy(), direct_pool(name, values, case), rtol=1e-12, atol=1e-12)
    md.testing.gradcheck(fn, x)


@pytest.mark.parametrize("name", sorted(POOLS))
@given(case=mst.pool2d_cases(), seed=mst.seeds())
@_with_corners
def test_pool_matches_pytorch(name, case, seed):
    torch = pytest.importorskip("torch", reason="compares with PyTorch, not installed: pip install -e '.[bench]'")
    values = _input(name, case, seed)
    upstream = mst.rng(seed + 1).uniform(-1, 1, case.out_shape)
    x = md.tensor(values, requires_grad=True)
    POOLS[name](x, **_pool_args(case)).backward(upstream)
    xt = torch.tensor(values, requires_grad=True)
    yt = getattr(torch.nn.functional, name)(xt, **_pool_args(case))
    yt.backward(torch.tensor(upstream))
    y = POOLS[name](x, **_pool_args(case))
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(x.grad, xt.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_max_pool_ties_go_to_the_first_maximum():
    x = md.tensor(np.array([1.0, 1.0, 0.0, 1.0]).reshape(1, 1, 2, 2), requires_grad=True)
    F.max_pool2d(x, 2).backward(np.ones((1, 1, 1, 1)))
    np.testing.assert_array_equal(x.grad.ravel(), [1.0, 0.0, 0.0, 0.0])


def test_max_pool_ties_in_overlapping_windows_each_go_to_their_first_maximum():
    x = md.tensor(np.array([[2.0, 2.0, 2.0]]).reshape(1, 1, 1, 3), requires_grad=True)
    F.max_pool2d(x, (1, 2), stride=1).backward(np.array([1.0, 10.0]).reshape(1, 1, 1, 2))
    np.testing.assert_array_equal(x.grad.ravel(), [1.0, 10.0, 0.0])


@st.composite
def adaptive_cases(draw):
    """(x shape, output size): 1 (global pooling), divisors of the input and not."""
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    output_size = draw(st.one_of(
        st.just(1),
        st.tuples(st.integers(1, h + 2), st.integers(1, w + 2)),
    ))
    return (n, c, h, w), output_size


def direct_adaptive_pool(x, output_size):
    oh, ow = (output_size, output_size) if isinstance(output_size, int) else output_size
    h, w = x.shape[2:]
    y = np.zeros(x.shape[:2] + (oh, ow))
    for i in range(oh):
        for j in range(ow):
            rows = slice(i * h // oh, -(-(i + 1) * h // oh))
            cols = slice(j * w // ow, -(-(j + 1) * w // ow))
            y[:, :, i, j] = x[:, :, rows, cols].mean(axis=(2, 3))
    return y


@given(case=adaptive_cases(), seed=mst.seeds())
@example(case=((2, 3, 4, 4), 1), seed=0)
@example(case=((1, 1, 1, 1), 1), seed=0)
@example(case=((1, 2, 6, 4), (3, 2)), seed=0)
@example(case=((1, 1, 5, 7), (3, 4)), seed=0)
@example(case=((1, 1, 2, 3), (4, 5)), seed=0)
def test_adaptive_avg_pool2d_gradcheck(case, seed, device):
    x_shape, output_size = case
    values = mst.rng(seed).uniform(-2, 2, x_shape)
    x = md.tensor(values, requires_grad=True, device=device)
    fn = lambda t: F.adaptive_avg_pool2d(t, output_size)  # noqa: E731
    expected = direct_adaptive_pool(values, output_size)
    np.testing.assert_allclose(fn(x).numpy(), expected, rtol=1e-12, atol=1e-12)
    md.testing.gradcheck(fn, x)
