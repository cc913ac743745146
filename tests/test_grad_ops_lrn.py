"""Gradient checks of local_response_norm (the AlexNet paper's formula, alpha not divided by size)."""

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import minidl as md
from minidl.testing import strategies as mst

F = md.functional


def direct_lrn(x, size, alpha, beta, k):
    """b_c = a_c / (k + alpha * sum_{|c'-c| <= size//2} a_c'^2) ** beta, channel by channel."""
    half, channels = size // 2, x.shape[1]
    y = np.empty_like(x)
    for c in range(channels):
        window = x[:, max(0, c - half):min(channels, c + half + 1)]
        y[:, c] = x[:, c] / (k + alpha * (window ** 2).sum(axis=1)) ** beta
    return y


@st.composite
def lrn_cases(draw):
    shape = draw(mst.nchw_shapes(max_batch=2, max_channels=7, max_side=3))
    return shape, dict(
        size=draw(st.integers(1, 6)),
        alpha=draw(st.sampled_from([1e-4, 0.1, 0.5, 1.0])),
        beta=draw(st.sampled_from([0.5, 0.75, 1.0, 2.0])),
        k=draw(st.sampled_from([0.5, 1.0, 2.0])),
    )


@given(case=lrn_cases(), seed=mst.seeds())
@example(case=((1, 5, 2, 2), dict(size=5, alpha=1e-4, beta=0.75, k=2.0)), seed=0)   # AlexNet's
@example(case=((2, 3, 1, 2), dict(size=4, alpha=1.0, beta=1.0, k=1.0)), seed=0)     # even size
@example(case=((1, 1, 3, 1), dict(size=3, alpha=0.5, beta=0.75, k=1.0)), seed=0)    # C=1
@example(case=((1, 2, 1, 1), dict(size=7, alpha=0.5, beta=0.75, k=1.0)), seed=0)    # window > C
def test_local_response_norm_gradcheck(case, seed, device):
    shape, params = case
    values = mst.rng(seed).uniform(-2, 2, shape)
    x = md.tensor(values, requires_grad=True, device=device)
    fn = lambda t: F.local_response_norm(t, **params)  # noqa: E731
    np.testing.assert_allclose(fn(x).numpy(), direct_lrn(values, **params), rtol=1e-12, atol=1e-12)
    md.testing.gradcheck(fn, x)


def test_local_response_norm_matches_pytorch_with_alpha_times_size():
    torch = pytest.importorskip("torch", reason="compares with PyTorch, not installed: pip install -e '.[bench]'")
    values = mst.rng(0).uniform(-2, 2, (2, 7, 3, 3))
    ours = F.local_response_norm(md.tensor(values), size=5, alpha=1e-4, beta=0.75, k=2.0).numpy()
    theirs = torch.nn.functional.local_response_norm(torch.tensor(values), 5, alpha=5e-4, beta=0.75, k=2.0)
    np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-12)
