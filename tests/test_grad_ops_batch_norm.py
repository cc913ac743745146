"""Gradient checks of batch_norm: training and evaluation, 2-D and 4-D input,
with and without weight and bias; and the running statistics it keeps."""

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import minidl as md
from minidl.testing import strategies as mst

F = md.functional


@st.composite
def batch_norm_shapes(draw):
    """(N, C) or (N, C, H, W) with at least two values per channel (training needs them)."""
    n, c = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    if draw(st.booleans()):
        return (max(n, 2), c)
    h, w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    if n * h * w < 2:
        w = 2
    return (n, c, h, w)


def _values(shape, seed):
    # A per-channel offset and scale, so channels differ; distinct ranks keep
    # every batch variance well above zero (no near-singular 1/sqrt(var)).
    r = mst.rng(seed)
    count = int(np.prod(shape))
    values = ((r.permutation(count) - count / 2) / count * 4 + r.uniform(0, 0.01, count)).reshape(shape)
    channel = (1, shape[1]) + (1,) * (len(shape) - 2)
    return values * r.uniform(0.5, 2.0, channel) + r.uniform(-1, 1, channel)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@given(shape=batch_norm_shapes(), affine=st.sampled_from(["both", "weight", "bias", "none"]),
       seed=mst.seeds())
@example(shape=(2, 1), affine="both", seed=0)
@example(shape=(1, 1, 1, 2), affine="both", seed=0)
@example(shape=(3, 2, 2, 3), affine="none", seed=0)
def test_batch_norm_gradcheck(training, shape, affine, seed, device):
    r = mst.rng(seed + 1)
    c = shape[1]
    x = md.tensor(_values(shape, seed), requires_grad=True, device=device)
    weight = bias = None
    if affine in ("both", "weight"):
        weight = md.tensor(r.uniform(0.5, 2.0, c), requires_grad=True, device=device)
    if affine in ("both", "bias"):
        bias = md.tensor(r.uniform(-1, 1, c), requires_grad=True, device=device)
    stats = (r.uniform(-1, 1, c), r.uniform(0.5, 2.0, c))

    def fn(x, weight, bias):
        # Fresh statistics at every call: training updates them in place.
        mean, var = (md.tensor(s.copy(), device=device) for s in stats)
        return F.batch_norm(x, mean, var, weight, bias, training=training, eps=1e-5)

    md.testing.gradcheck(fn, x, weight, bias)


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 2, 5)])
def test_batch_norm_training_normalises_each_channel_and_updates_running_statistics(shape):
    values = _values(shape, 0)
    axes = (0,) if len(shape) == 2 else (0, 2, 3)
    mean, var = md.tensor(np.full(shape[1], 0.5)), md.tensor(np.full(shape[1], 2.0))
    y = F.batch_norm(md.tensor(values), mean, var, training=True, momentum=0.25, eps=1e-3).numpy()
    batch_mean, batch_var = values.mean(axis=axes), values.var(axis=axes)
    expected = (values - batch_mean.reshape((1, -1) + (1,) * (len(shape) - 2))) / np.sqrt(
        batch_var.reshape((1, -1) + (1,) * (len(shape) - 2)) + 1e-3)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)
    m = values.size // shape[1]
    np.testing.assert_allclose(mean.numpy(), 0.75 * 0.5 + 0.25 * batch_mean, rtol=1e-12)
    # The running variance takes the unbiased variance, and eps is never stored in it.
    np.testing.assert_allclose(var.numpy(), 0.75 * 2.0 + 0.25 * batch_var * m / (m - 1), rtol=1e-12)


def test_batch_norm_eval_uses_the_running_statistics_and_leaves_them_alone():
    x = md.tensor(np.array([[1.0, 2.0], [3.0, 6.0]]))
    mean, var = md.tensor(np.array([1.0, 2.0])), md.tensor(np.array([4.0, 16.0]))
    w, b = md.tensor(np.array([2.0, 1.0])), md.tensor(np.array([0.0, 1.0]))
    y = F.batch_norm(x, mean, var, w, b, training=False, eps=0.0)
    np.testing.assert_array_equal(y.numpy(), [[0.0, 1.0], [2.0, 2.0]])
    np.testing.assert_array_equal(mean.numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(var.numpy(), [4.0, 16.0])


def _bias_off_the_kink(x, weight, shape):
    """Per channel, the bias in the middle of the widest gap between neighbouring values of
    weight * xhat (ends included), so that no output of batch_norm_relu lies near 0."""
    axes = (0,) if len(shape) == 2 else (0, 2, 3)
    moved = np.moveaxis(x, 1, 0).reshape(shape[1], -1)
    z = np.sort(weight[:, None] * (moved - moved.mean(axis=1, keepdims=True))
                / np.sqrt(x.var(axis=axes) + 1e-5)[:, None], axis=1)
    z = np.concatenate([z[:, :1] - 1.0, z, z[:, -1:] + 1.0], axis=1)
    widest = np.argmax(np.diff(z, axis=1), axis=1)
    rows = np.arange(shape[1])
    return -(z[rows, widest] + z[rows, widest + 1]) / 2


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@given(shape=batch_norm_shapes(), seed=mst.seeds())
@example(shape=(2, 1), seed=0)
@example(shape=(3, 2, 2, 3), seed=0)
def test_batch_norm_relu_gradcheck(training, shape, seed, device):
    r = mst.rng(seed + 1)
    c = shape[1]
    values = _values(shape, seed)
    w = r.uniform(0.5, 2.0, c)
    stats = (r.uniform(-1, 1, c), r.uniform(0.5, 2.0, c))
    if training:
        b = _bias_off_the_kink(values, w, shape)
    else:  # y = w * (x - running_mean) / sqrt(running_var + eps) + b: the same repair, other statistics
        moved = np.moveaxis(values, 1, 0).reshape(c, -1)
        z = np.sort(w[:, None] * (moved - stats[0][:, None]) / np.sqrt(stats[1] + 1e-5)[:, None], axis=1)
        z = np.concatenate([z[:, :1] - 1.0, z, z[:, -1:] + 1.0], axis=1)
        widest = np.argmax(np.diff(z, axis=1), axis=1)
        b = -(z[np.arange(c), widest] + z[np.arange(c), widest + 1]) / 2
    x, weight, bias = (md.tensor(a, requires_grad=True, device=device) for a in (values, w, b))

    def fn(x, weight, bias):
        mean, var = (md.tensor(s.copy(), device=device) for s in stats)
        return F.batch_norm_relu(x, mean, var, weight, bias, training=training, eps=1e-5)

    md.testing.gradcheck(fn, x, weight, bias)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 2, 5)])
def test_batch_norm_relu_is_relu_of_batch_norm(training, shape):
    r = np.random.default_rng(4)
    x = r.standard_normal(shape).astype(np.float32)
    w, b = r.uniform(0.5, 2, shape[1]).astype(np.float32), r.uniform(-1, 1, shape[1]).astype(np.float32)
    gy = r.standard_normal(shape).astype(np.float32)
    results = []
    for fused in (True, False):
        xt, wt, bt = (md.tensor(a, requires_grad=True) for a in (x, w, b))
        stats = [md.tensor(np.full(shape[1], 0.5, np.float32)), md.tensor(np.full(shape[1], 2.0, np.float32))]
        if fused:
            y = F.batch_norm_relu(xt, *stats, wt, bt, training=training)
        else:
            y = F.relu(F.batch_norm(xt, *stats, wt, bt, training=training))
        y.backward(gy)
        results.append([y.numpy(), xt.grad, wt.grad, bt.grad] + [s.numpy() for s in stats])
    for fused, plain in zip(*results):
        assert fused.dtype == np.float32
        np.testing.assert_allclose(fused, plain, rtol=2e-5, atol=2e-6)


def test_batch_norm_module_fuses_relu_on_request():
    bn = md.nn.BatchNorm2d(2)
    x = md.tensor(np.random.default_rng(5).standard_normal((3, 2, 2, 2)).astype(np.float32))
    fused = bn(x, relu=True).numpy()
    bn.running_mean.data[...], bn.running_var.data[...] = 0.0, 1.0
    np.testing.assert_array_equal(fused, np.maximum(bn(x).numpy(), 0))
