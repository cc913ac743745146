"""Batch norm kernels: the Numba kernels agree with the NumPy reference, and the
running statistics follow the documented rule, checked on numbers worked by hand.

Tolerance. The oracle is the reference run in float64 on the same (exact)
input values. The Numba kernel sums each row of L values of one image in x's
dtype and adds the rows' totals in float64 (its module docstring): a row's sum
is off by at most (L + 2) * eps(dtype) times the sum of its terms' sizes
(the rounding of each difference, product and partial sum), a result mixes a
few such sums (the variance: the squares and the mean's square; the input
gradient: both gradient sums), and the elementwise pass rounds three or four
times in x's dtype. Hence ``4 * (L + 2) * eps(dtype) * scale``, plus the
float64 part (both sides sum m terms in different orders, each term at most
``scale``: ``32 * m * eps64 * scale``), plus the final rounding to x's dtype,
``eps(dtype) * |expected|``, where ``scale`` bounds the terms' size. That bound
is what ``close`` checks.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
from minidl.kernels import cpu, reference
from minidl.testing import strategies as mst

F = md.functional
DTYPES = [np.float32, np.float64]
EPS64 = np.finfo(np.float64).eps


@st.composite
def bn_inputs(draw, dtype):
    """x (N, C, L) with m = N*L >= 2, an offset and a spread, gamma, beta, gy and eps."""
    n = draw(st.integers(1, 5))
    c = draw(st.integers(1, 4))
    length = draw(st.integers(1 if n > 1 else 2, 12))
    rng = mst.rng(draw(mst.seeds()))
    offset = draw(st.sampled_from([0.0, 3.0, -50.0, 1000.0]))
    spread = draw(st.sampled_from([1e-2, 1.0, 30.0]))
    x = offset + spread * rng.standard_normal((n, c, length))
    gamma, beta = rng.uniform(-2, 2, c), rng.uniform(-2, 2, c)
    gy = rng.standard_normal((n, c, length))
    eps = draw(st.sampled_from([1e-5, 1e-3, 0.1]))
    return tuple(a.astype(dtype) for a in (x, gamma, beta, gy)) + (eps,)


def close(actual, expected, scale, m, length):
    """|actual - expected| <= eps(dtype) * (|expected| + 4 * (length + 2) * scale) + 32 * m * eps64 * scale
    (module docstring)."""
    eps = np.finfo(actual.dtype).eps
    bound = eps * (np.abs(expected) + 4 * (length + 2) * scale) + 32 * m * EPS64 * scale
    error = np.abs(actual.astype(np.float64) - expected)
    assert (error <= bound).all(), f"worst error {error.max():.3g}, bound there {bound.flat[error.argmax()]:.3g}"


def per_channel(values, reduce):
    return reduce(values, axis=(0, 2))


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data())
def test_forward_train_matches_reference(dtype, data):
    x, gamma, beta, _, eps = data.draw(bn_inputs(dtype))
    y, mean, var = cpu.batch_norm_forward_train(x, gamma, beta, eps)
    assert y.dtype == mean.dtype == var.dtype == dtype
    x, gamma, beta = (a.astype(np.float64) for a in (x, gamma, beta))
    y_ref, mean_ref, var_ref = reference.batch_norm_forward_train(x, gamma, beta, eps)
    m = x.shape[0] * x.shape[2]
    spread = per_channel(x, np.max) - per_channel(x, np.min)
    size = per_channel(np.abs(x), np.max)
    close(mean, mean_ref, size, m, x.shape[2])
    close(var, var_ref, spread * (spread + size), m, x.shape[2])
    scale = np.abs(gamma) / np.sqrt(var_ref + eps)
    close(y, y_ref, (np.abs(x) + size[:, None]) * scale[:, None] + np.abs(beta)[:, None], m, x.shape[2])


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data())
def test_backward_matches_reference(dtype, data):
    x, gamma, beta, gy, eps = data.draw(bn_inputs(dtype))
    _, mean, var = reference.batch_norm_forward_train(x, gamma, beta, eps)
    gx, ggamma, gbeta = cpu.batch_norm_backward(gy, x, gamma, mean, var, eps)
    assert gx.dtype == ggamma.dtype == gbeta.dtype == dtype
    gy, x, gamma, mean, var = (a.astype(np.float64) for a in (gy, x, gamma, mean, var))
    gx_ref, ggamma_ref, gbeta_ref = reference.batch_norm_backward(gy, x, gamma, mean, var, eps)
    m = x.shape[0] * x.shape[2]
    invstd = 1 / np.sqrt(var + eps)
    centred = (np.abs(x) + np.abs(mean)[:, None]) * invstd[:, None]  # bounds |xhat| and its error
    g_total = per_channel(np.abs(gy), np.sum)
    g_moment = per_channel(np.abs(gy) * centred, np.sum)
    close(gbeta, gbeta_ref, g_total, m, x.shape[2])
    close(ggamma, ggamma_ref, g_moment, m, x.shape[2])
    scale = (np.abs(gamma) * invstd / m)[:, None] * (
        m * np.abs(gy) + g_total[:, None] + centred * g_moment[:, None])
    close(gx, gx_ref, scale, m, x.shape[2])


def off_the_kink(x, gamma, mean, var, eps):
    """A beta per channel in the middle of the widest gap between neighbouring values of
    gamma * xhat, so that no y = gamma * xhat + beta lies near relu's kink at 0."""
    z = np.sort((gamma[:, None] * (x - mean[:, None]).transpose(1, 0, 2).reshape(x.shape[1], -1)
                 / np.sqrt(var + eps)[:, None]).astype(np.float64), axis=1)
    z = np.concatenate([z[:, :1] - 1.0, z, z[:, -1:] + 1.0], axis=1)  # gaps beyond the ends too
    widest = np.argmax(np.diff(z, axis=1), axis=1)
    rows = np.arange(z.shape[0])
    return -(z[rows, widest] + z[rows, widest + 1]) / 2


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data())
def test_fused_relu_matches_the_reference(dtype, data):
    x, gamma, _, gy, eps = data.draw(bn_inputs(dtype))
    _, mean, var = reference.batch_norm_forward_train(x.astype(np.float64), gamma.astype(np.float64),
                                                      np.zeros_like(gamma, np.float64), eps)
    beta = off_the_kink(x, gamma, mean, var, eps).astype(dtype)
    y, mean, var = cpu.batch_norm_forward_train(x, gamma, beta, eps, relu=True)
    grads = cpu.batch_norm_backward(gy, x, gamma, mean, var, eps, relu=True, beta=beta)
    x64, gamma64, beta64, gy64, mean64, var64 = (a.astype(np.float64) for a in (x, gamma, beta, gy, mean, var))
    y_ref, _, _ = reference.batch_norm_forward_train(x64, gamma64, beta64, eps, relu=True)
    m, length = x.shape[0] * x.shape[2], x.shape[2]
    size = per_channel(np.abs(x64), np.max)
    scale = np.abs(gamma64) / np.sqrt(var64 + eps)
    close(y, y_ref, (np.abs(x64) + size[:, None]) * scale[:, None] + np.abs(beta64)[:, None], m, length)
    assert (y >= 0).all()
    # The backward is the plain one given gy masked where y_ref > 0 (none lies near 0).
    masked = np.where(y_ref > 0, gy64, 0.0)
    expected = reference.batch_norm_backward(masked, x64, gamma64, mean64, var64, eps)
    fused = reference.batch_norm_backward(gy64, x64, gamma64, mean64, var64, eps,
                                                           relu=True, beta=beta64)
    for ref_fused, ref_masked in zip(fused, expected):
        np.testing.assert_allclose(ref_fused, ref_masked, rtol=1e-12, atol=1e-12)
    invstd = 1 / np.sqrt(var64 + eps)
    centred = (np.abs(x64) + np.abs(mean64)[:, None]) * invstd[:, None]
    g_total = per_channel(np.abs(masked), np.sum)
    g_moment = per_channel(np.abs(masked) * centred, np.sum)
    gx_scale = (np.abs(gamma64) * invstd / m)[:, None] * (m * np.abs(masked) + g_total[:, None]
                                                         + centred * g_moment[:, None])
    for got, want, bound in zip(grads, expected, (gx_scale, g_moment, g_total)):
        assert got.dtype == dtype
        close(got, want, bound, m, length)


def test_relu_gradient_at_zero_is_zero():
    # Channel values -1, 1 normalise to -1, 1; beta = 1 puts y at 0 and 2: relu'(0) = 0.
    x = np.array([-1.0, 1.0]).reshape(2, 1, 1)
    gamma, beta = np.ones(1), np.ones(1)
    for kernels in (cpu, reference):
        y, mean, var = kernels.batch_norm_forward_train(x, gamma, beta, 0.0, relu=True)
        np.testing.assert_array_equal(y.ravel(), [0.0, 2.0])
        gx, ggamma, gbeta = kernels.batch_norm_backward(np.array([5.0, 1.0]).reshape(2, 1, 1), x, gamma,
                                                        mean, var, 0.0, relu=True, beta=beta)
        assert gbeta.item() == 1.0 and ggamma.item() == 1.0  # only the second value's gradient


@pytest.mark.parametrize("kernels", [cpu, reference], ids=["numba", "reference"])
@pytest.mark.parametrize("relu", [False, True])
def test_channel_slices_written_into_out_equal_the_whole_call(kernels, relu):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 7, 5)).astype(np.float32)
    gamma, beta, gy = rng.uniform(0.5, 2, 7), rng.uniform(-1, 1, 7), rng.standard_normal(x.shape)
    gamma, beta, gy = gamma.astype(np.float32), beta.astype(np.float32), gy.astype(np.float32)
    whole = kernels.batch_norm_forward_train(x, gamma, beta, 1e-5, relu=relu)
    out = (np.full_like(x, np.nan), np.full(7, np.nan, np.float32), np.full(7, np.nan, np.float32))
    for part in (slice(0, 2), slice(2, 3), slice(3, 7)):
        returned = kernels.batch_norm_forward_train(x, gamma, beta, 1e-5, relu=relu, out=out, channels=part)
        assert all(a is b for a, b in zip(returned, out))
    for a, b in zip(whole, out):
        assert a.tobytes() == b.tobytes()
    _, mean, var = whole
    whole = kernels.batch_norm_backward(gy, x, gamma, mean, var, 1e-5, relu=relu, beta=beta)
    out = tuple(np.full_like(a, np.nan) for a in whole)
    for part in (slice(0, 4), slice(4, 7)):
        kernels.batch_norm_backward(gy, x, gamma, mean, var, 1e-5, relu=relu, beta=beta, out=out, channels=part)
    for a, b in zip(whole, out):
        assert a.tobytes() == b.tobytes()


def test_float32_statistics_are_accurate_for_a_large_mean():
    # One channel of 10^6 values around 1000 with spread 0.01: a float32 running sum
    # or E[x^2] - E[x]^2 in float32 would lose the variance entirely.
    rng = np.random.default_rng(0)
    x = (1000.0 + 0.01 * rng.standard_normal((1000, 1, 1000))).astype(np.float32)
    _, mean, var = cpu.batch_norm_forward_train(x, np.ones(1, np.float32), np.zeros(1, np.float32), 1e-5)
    exact = x.astype(np.float64)
    np.testing.assert_allclose(mean, exact.mean(), rtol=1e-7)
    np.testing.assert_allclose(var, exact.var(), rtol=1e-6)


@pytest.mark.parametrize("kernels", [cpu, reference], ids=["numba", "reference"])
def test_statistics_use_the_biased_variance_and_eps_once(kernels):
    x = np.array([1.0, 2.0, 3.0, 6.0]).reshape(4, 1, 1)  # mean 3, squared deviations 4, 1, 0, 9
    y, mean, var = kernels.batch_norm_forward_train(x, np.array([2.0]), np.array([0.5]), 0.5)
    assert mean.item() == 3.0 and var.item() == 3.5
    np.testing.assert_allclose(y.ravel(), 2.0 * (x.ravel() - 3.0) / np.sqrt(4.0) + 0.5, rtol=1e-15)


def test_running_statistics_after_one_step_by_hand():
    x = md.tensor(np.array([[1.0, 10.0], [2.0, 10.0], [3.0, 10.0], [6.0, 14.0]]))
    running_mean = md.tensor(np.array([1.0, -1.0]))
    running_var = md.tensor(np.array([2.0, 0.5]))
    y = F.batch_norm(x, running_mean, running_var, training=True, momentum=0.25, eps=0.0)
    # Channel 0: mean 3, squared deviations 4, 1, 0, 9: biased variance 14/4, unbiased 14/3.
    # Channel 1: mean 11, squared deviations 1, 1, 1, 9: biased 12/4 = 3, unbiased 12/3 = 4.
    np.testing.assert_allclose(running_mean.numpy(), [0.75 * 1.0 + 0.25 * 3.0, 0.75 * -1.0 + 0.25 * 11.0], rtol=1e-15)
    np.testing.assert_allclose(running_var.numpy(), [0.75 * 2.0 + 0.25 * 14 / 3, 0.75 * 0.5 + 0.25 * 4.0], rtol=1e-15)
    np.testing.assert_allclose(y.numpy()[:, 0], (np.array([1, 2, 3, 6]) - 3) / np.sqrt(3.5), rtol=1e-14)
    np.testing.assert_allclose(y.numpy()[:, 1], (np.array([10, 10, 10, 14]) - 11) / np.sqrt(3.0), rtol=1e-14)


def test_running_statistics_of_a_4d_input_count_every_pixel():
    x = np.arange(2 * 2 * 1 * 3, dtype=np.float32).reshape(2, 2, 1, 3)
    bn = md.nn.BatchNorm2d(2, momentum=1.0)
    bn(md.tensor(x))
    values = x.transpose(1, 0, 2, 3).reshape(2, -1)  # per channel, m = N*H*W = 6 values
    np.testing.assert_allclose(bn.running_mean.numpy(), values.mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(bn.running_var.numpy(), values.var(axis=1, ddof=1), rtol=1e-6)


def test_evaluation_uses_the_running_statistics():
    x = np.array([[1.0, -2.0], [3.0, 4.0]])
    mean, var = np.array([0.5, 1.0]), np.array([4.0, 0.25])
    gamma, beta = np.array([2.0, -1.0]), np.array([0.0, 3.0])
    y = F.batch_norm(md.tensor(x), md.tensor(mean.copy()), md.tensor(var.copy()), md.tensor(gamma),
                     md.tensor(beta), training=False, eps=0.0)
    np.testing.assert_allclose(y.numpy(), (x - mean) / np.sqrt(var) * gamma + beta, rtol=1e-15)


def test_training_without_running_statistics_tracks_nothing():
    x = md.tensor(np.array([[1.0], [3.0]]))
    y = F.batch_norm(x, None, None, training=True, eps=0.0)
    np.testing.assert_array_equal(y.numpy().ravel(), [-1.0, 1.0])


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        (dict(training=True, momentum=1.5), ValueError, "momentum"),
        (dict(training=True, eps=-1e-5), ValueError, "eps"),
        (dict(training=True, eps="small"), TypeError, "eps"),
        (dict(running_mean=md.tensor(np.zeros(3))), ValueError, "running_mean must have shape (2,)"),
        (dict(running_var=np.zeros(2, dtype=np.int64)), TypeError, "running_var"),
        (dict(weight=md.tensor(np.ones(3))), ValueError, "weight must have shape (2,)"),
    ],
)
def test_bad_arguments_name_the_op_and_the_argument(kwargs, error, words):
    args = dict(running_mean=md.tensor(np.zeros(2)), running_var=md.tensor(np.ones(2)))
    args.update(kwargs)
    with pytest.raises(error, match="batch_norm") as info:
        F.batch_norm(md.tensor(np.ones((4, 2))), **args)
    assert words in str(info.value)


def test_training_on_one_value_per_channel_is_an_error():
    with pytest.raises(ValueError, match=r"batch_norm: training needs more than one value.*\(1, 3\)"):
        F.batch_norm(md.tensor(np.ones((1, 3))), None, None, training=True)


def test_dtypes_without_kernels_are_refused():
    with pytest.raises(TypeError, match="batch_norm: input must be float32 or float64, got float16"):
        F.batch_norm(md.tensor(np.ones((4, 2), np.float16)), None, None, training=True)
