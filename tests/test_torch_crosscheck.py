"""minidl against PyTorch on drawn configurations: the evidence that the pools,
batch norm, LRN and cross-entropy follow PyTorch's rules (padding, ceil_mode,
the average's divisor, running statistics), and where they differ by design
(LRN's alpha), that the documented conversion holds.

Everything runs in float64, so the only differences are the order of a few
additions and roundings: values are compared to 1e-12 times the size of the
terms that make them (a sum that cancels to nearly 0 is still checked against
the size of what was summed), and max pooling's values and chosen cells
exactly. PyTorch comes with the ``bench`` extra; without it this module is skipped.
"""

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
from minidl.testing import strategies as mst

torch = pytest.importorskip("torch")
TF = torch.nn.functional
F = md.functional

RTOL = 1e-12


def assert_close(actual, expected, scale=None, rtol=RTOL):
    """|actual - expected| <= rtol * scale, scale defaulting to the largest |expected|."""
    expected = expected.detach().numpy() if isinstance(expected, torch.Tensor) else expected
    if scale is None:
        scale = np.abs(expected).max(initial=0.0)
    np.testing.assert_allclose(actual, expected, rtol=0, atol=rtol * max(scale, 1e-300))


def both(array):
    """The same values as a minidl tensor and a torch tensor, each requiring grad."""
    return md.tensor(array, requires_grad=True), torch.tensor(array, requires_grad=True)


@st.composite
def pool_problems(draw):
    case = draw(mst.pool2d_cases(max_batch=2, max_channels=3, max_kernel=5, max_stride=4, max_extra=7))
    x = draw(mst.distinct_arrays(case.x_shape))
    gy = draw(mst.arrays(case.out_shape))
    return case, x, gy


@given(problem=pool_problems())
def test_max_pool2d_matches_torch(problem):
    case, x, gy = problem
    args = (case.kernel_size, case.stride, case.padding, case.ceil_mode)
    ours, theirs = both(x)
    y = F.max_pool2d(ours, *args)
    y_torch, indices = TF.max_pool2d(theirs, *args[:3], ceil_mode=case.ceil_mode, return_indices=True)
    assert y.shape == tuple(y_torch.shape) == case.out_shape
    np.testing.assert_array_equal(y.numpy(), y_torch.detach().numpy())
    y.backward(gy)
    y_torch.backward(torch.tensor(gy))
    assert_close(ours.grad, theirs.grad)
    # The chosen cells agree too: our window-relative argmax, made absolute, is torch's index.
    _, argmax = md.kernels.cpu.max_pool2d_forward(x, *args[:3], case.out_shape[2:])
    (kh, kw), (sh, sw), (ph, pw) = args[:3]
    oy, ox = np.indices(case.out_shape[2:])
    rows = oy * sh - ph + argmax // kw
    cols = ox * sw - pw + argmax % kw
    np.testing.assert_array_equal(rows * x.shape[3] + cols, indices.numpy())


def test_max_pool2d_propagates_nan_like_torch():
    x = mst.rng(0).standard_normal((2, 3, 7, 7))
    x[0, 1, 2, 3] = x[1, 2, 6, 6] = x[1, 0, 0, 0] = np.nan
    y = F.max_pool2d(md.tensor(x), 3, 2, 1, ceil_mode=True).numpy()
    np.testing.assert_array_equal(y, TF.max_pool2d(torch.tensor(x), 3, 2, 1, ceil_mode=True).numpy())
    # Windows start at rows/columns -1, 1, 3, 5: cell (2, 3) lies in 1 x 2 of them, the
    # corners (6, 6) and (0, 0) in one each, and each of those windows gives NaN.
    assert np.isnan(y).sum() == 4


@given(problem=pool_problems())
def test_avg_pool2d_matches_torch(problem):
    case, x, gy = problem
    args = (case.kernel_size, case.stride, case.padding, case.ceil_mode)
    ours, theirs = both(x)
    y = F.avg_pool2d(ours, *args)
    y_torch = TF.avg_pool2d(theirs, *args)  # count_include_pad=True, PyTorch's default
    assert y.shape == tuple(y_torch.shape) == case.out_shape
    assert_close(y.numpy(), y_torch)
    y.backward(gy)
    y_torch.backward(torch.tensor(gy))
    assert_close(ours.grad, theirs.grad)


@st.composite
def bn_problems(draw):
    four_d = draw(st.booleans())
    n, c = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    spatial = (draw(st.integers(1, 4)), draw(st.integers(1, 4))) if four_d else ()
    if n * int(np.prod(spatial)) < 2:
        n = 2
    shape = (n, c) + spatial
    rng = mst.rng(draw(mst.seeds()))
    x = draw(st.sampled_from([0.0, 5.0])) + draw(st.sampled_from([0.1, 1.0, 10.0])) * rng.standard_normal(shape)
    stats = (rng.standard_normal(c), rng.uniform(0.5, 2.0, c))
    affine = (rng.uniform(-2, 2, c), rng.uniform(-2, 2, c))
    gy = rng.standard_normal(shape)
    momentum = draw(st.sampled_from([0.1, 0.5, 1.0, 0.0]))
    eps = draw(st.sampled_from([1e-5, 1e-3, 0.5]))
    return x, stats, affine, gy, momentum, eps


@given(problem=bn_problems(), training=st.booleans())
def test_batch_norm_matches_torch(problem, training):
    x, (mean, var), (gamma, beta), gy, momentum, eps = problem
    ours, theirs = both(x)
    w, w_torch = both(gamma)
    b, b_torch = both(beta)
    running = (md.tensor(mean.copy()), md.tensor(var.copy()))
    running_torch = (torch.tensor(mean), torch.tensor(var))
    y = F.batch_norm(ours, *running, w, b, training=training, momentum=momentum, eps=eps)
    y_torch = TF.batch_norm(theirs, *running_torch, w_torch, b_torch, training=training, momentum=momentum, eps=eps)
    assert_close(y.numpy(), y_torch)
    for stat, stat_torch in zip(running, running_torch):
        assert_close(stat.numpy(), stat_torch)
    y.backward(gy)
    y_torch.backward(torch.tensor(gy))
    # The gradients are sums that may cancel: scale them by their terms. |xhat| <= sqrt(m).
    axes = (0,) + tuple(range(2, x.ndim))
    m = x.size // x.shape[1]
    used_var = x.var(axis=axes) if training else var
    g = np.abs(gy).max() * m
    assert_close(b.grad, b_torch.grad, scale=g)
    assert_close(w.grad, w_torch.grad, scale=g * np.sqrt(m))
    assert_close(ours.grad, theirs.grad, scale=g * 3 * np.abs(gamma).max() / np.sqrt(used_var.min() + eps))


@st.composite
def lrn_problems(draw):
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 8))
    h, w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    rng = mst.rng(draw(mst.seeds()))
    x = rng.uniform(-3, 3, (n, c, h, w))
    gy = rng.standard_normal((n, c, h, w))
    size = draw(st.sampled_from([1, 3, 5, 7]))
    alpha = draw(st.sampled_from([1e-4, 0.01, 0.5]))
    beta = draw(st.sampled_from([0.75, 0.5, 1.0]))
    k = draw(st.sampled_from([2.0, 1.0]))
    return x, gy, size, alpha, beta, k


@given(problem=lrn_problems())
def test_lrn_matches_torch_with_alpha_times_size(problem):
    x, gy, size, alpha, beta, k = problem
    ours, theirs = both(x)
    y = F.local_response_norm(ours, size, alpha, beta, k)
    # PyTorch divides its alpha by size; the paper's alpha is PyTorch's alpha / size.
    y_torch = TF.local_response_norm(theirs, size, alpha=alpha * size, beta=beta, k=k)
    assert_close(y.numpy(), y_torch)
    y.backward(gy)
    y_torch.backward(torch.tensor(gy))
    # gx = gy * S^-beta - 2 alpha beta x * sum(gy * x * S^(-beta-1)), with S >= k.
    coupling = 2 * alpha * beta * size * np.max(x * x) / k
    assert_close(ours.grad, theirs.grad, scale=np.abs(gy).max() * k ** -beta * (1 + coupling))


@given(
    shape=st.tuples(st.integers(1, 6), st.integers(1, 8)),
    seed=mst.seeds(),
    spread=st.sampled_from([1.0, 100.0, 1e4]),
)
def test_cross_entropy_matches_torch(shape, seed, spread):
    rng = mst.rng(seed)
    logits = spread * rng.standard_normal(shape)
    labels = rng.integers(0, shape[1], shape[0])
    ours, theirs = both(logits)
    loss = F.cross_entropy(ours, labels)
    loss_torch = TF.cross_entropy(theirs, torch.tensor(labels))
    assert_close(np.array(loss.item()), loss_torch, scale=np.abs(logits).max() + np.log(shape[1]))
    loss.backward()
    loss_torch.backward()
    assert_close(ours.grad, theirs.grad, scale=1 / shape[0])  # (softmax - onehot) / n


def test_pool_shapes_and_refusals_match_torch_on_a_grid():
    """Every small configuration, kernels larger than the padded input included: where
    PyTorch returns a result, minidl returns the same (values and gradient); where
    PyTorch raises, minidl raises a ValueError."""
    compared = refused = 0
    for h, k, s, p, ceil_mode in itertools.product(range(1, 5), range(1, 6), range(1, 4), range(3), (False, True)):
        if p > k // 2:
            continue
        x = mst.rng(h * 100 + k).standard_normal((1, 2, h, h + 1))
        for ours_fn, theirs_fn in ((F.max_pool2d, TF.max_pool2d), (F.avg_pool2d, TF.avg_pool2d)):
            ours, theirs = both(x)
            try:
                y_torch = theirs_fn(theirs, k, s, p, ceil_mode=ceil_mode)
            except RuntimeError:
                with pytest.raises(ValueError, match="larger than the padded input"):
                    ours_fn(ours, k, s, p, ceil_mode=ceil_mode)
                refused += 1
                continue
            y = ours_fn(ours, k, s, p, ceil_mode=ceil_mode)
            assert y.shape == tuple(y_torch.shape), (h, k, s, p, ceil_mode)
            assert_close(y.numpy(), y_torch)
            gy = mst.rng(0).standard_normal(y.shape)
            y.backward(gy)
            y_torch.backward(torch.tensor(gy))
            assert_close(ours.grad, theirs.grad)
            compared += 1
    assert compared > refused > 0


def test_ceil_mode_kernel_larger_than_the_input_like_torch():
    x = np.ones((1, 1, 1, 1))
    assert F.max_pool2d(md.tensor(x), 2, ceil_mode=True).numpy().tolist() == [[[[1.0]]]]
    np.testing.assert_array_equal(F.avg_pool2d(md.tensor(x), 2, ceil_mode=True).numpy(),
                                  TF.avg_pool2d(torch.tensor(x), 2, ceil_mode=True).numpy())


@given(shape=mst.nchw_shapes(max_side=9), out=st.tuples(st.integers(1, 12), st.integers(1, 12)), seed=mst.seeds())
def test_adaptive_avg_pool2d_matches_torch(shape, out, seed):
    x = mst.rng(seed).uniform(-2, 2, shape)
    gy = mst.rng(seed + 1).uniform(-2, 2, shape[:2] + out)
    ours, theirs = both(x)
    y, y_torch = F.adaptive_avg_pool2d(ours, out), TF.adaptive_avg_pool2d(theirs, out)
    assert y.shape == tuple(y_torch.shape)
    assert_close(y.numpy(), y_torch, scale=np.abs(x).max())
    y.backward(gy)
    y_torch.backward(torch.tensor(gy))
    assert_close(ours.grad, theirs.grad, scale=np.abs(gy).max() * 4)
