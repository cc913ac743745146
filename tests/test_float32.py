"""Every op family in float32 against its float64 path, plus the structural checks.

For each op, ``md.testing.check_backward`` runs in both dtypes on the same
drawn values (rounded to float32) with the same upstream gradient: inputs
stay unchanged, gradients have the input's shape and dtype, and they
accumulate exactly (2g, then 3g). Then the float32 output must still be
float32 (no silent upcast), and outputs and gradients must match float64's.

Tolerance: float32 rounds at 2**-24 = 6e-8 relative. Rounding the inputs and
then accumulating sums of up to a few hundred terms (the largest reductions
drawn here) can reach a few 1e-6 of the magnitude of the values involved, in the
worst case ~2e-5; ``rtol = atol / scale = 1e-4`` leaves a 5x margin over that
while failing any real error (a wrong tap, a lost term, a float16-grade loss
of precision is 1e-3 or more).
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
from minidl.testing import strategies as mst

F = md.functional
TOLERANCE = 1e-4


def values(shape, low=-2.0, high=2.0):
    return mst.arrays(shape, low=low, high=high)


@st.composite
def binary(draw, op, positive_right=False):
    (a_shape, b_shape), _ = draw(mst.broadcastable_shapes())
    b_low = 0.5 if positive_right else -2.0
    return op, [draw(values(a_shape)), draw(values(b_shape, low=b_low))]


@st.composite
def unary(draw, fn, low=-2.0, high=2.0, min_dims=0, kinks=()):
    shape = draw(mst.shapes(min_dims=min_dims, max_dims=4))
    return fn, [draw(mst.off_kink_arrays(shape, kinks=kinks, low=low, high=high))]


@st.composite
def matmul(draw):
    (batch_a, batch_b), _ = draw(mst.broadcastable_shapes(max_dims=2, max_side=3))
    m, k, n = (draw(st.integers(1, 8)) for _ in range(3))
    return (lambda a, b: a @ b), [draw(values(batch_a + (m, k))), draw(values(batch_b + (k, n)))]


@st.composite
def reduction(draw, op):
    shape = draw(mst.shapes(min_dims=1, max_dims=4, max_side=6))
    axis, keepdims = draw(mst.axes(len(shape))), draw(st.booleans())
    array = draw(mst.distinct_arrays(shape) if op == "max" else values(shape))
    return (lambda t: getattr(t, op)(axis=axis, keepdims=keepdims)), [array]


@st.composite
def getitem(draw):
    shape = draw(mst.shapes(min_dims=1, max_dims=3))
    index = draw(mst.indices(shape))
    return (lambda t: t[index]), [draw(values(shape))]


@st.composite
def concat_and_reshape(draw):
    shape = draw(mst.shapes(min_dims=2, max_dims=4, max_side=3))
    a, b = draw(values(shape)), draw(values(shape))
    return (lambda s, t: F.concat([s, t, s], axis=1).transpose().reshape(-1)), [a, b]


@st.composite
def softmax_like(draw, fn):
    shape = draw(mst.shapes(min_dims=1, max_dims=3))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    return (lambda t: fn(t, axis)), [draw(values(shape, -5.0, 5.0))]


@st.composite
def linear(draw):
    n, i, o = draw(st.integers(1, 6)), draw(st.integers(1, 40)), draw(st.integers(1, 6))
    return F.linear, [draw(values((n, i))), draw(values((o, i))), draw(values((o,)))]


@st.composite
def cross_entropy(draw):
    n, k = draw(st.integers(1, 8)), draw(st.integers(1, 10))
    labels = np.asarray(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    fn = lambda t: F.cross_entropy(t, md.tensor(labels, device=t.device))  # noqa: E731
    return fn, [draw(values((n, k), -5.0, 5.0))]


@st.composite
def conv2d(draw):
    case = draw(mst.conv2d_cases())
    args = dict(stride=case.stride, padding=case.padding, dilation=case.dilation, groups=case.groups)
    arrays = [draw(values(case.x_shape)), draw(values(case.w_shape, -1.0, 1.0)),
              draw(values(case.w_shape[:1]))]
    return (lambda x, w, b: F.conv2d(x, w, b, **args)), arrays


@st.composite
def pool(draw, op):
    case = draw(mst.pool2d_cases())
    args = dict(kernel_size=case.kernel_size, stride=case.stride, padding=case.padding,
                ceil_mode=case.ceil_mode)
    array = draw(mst.distinct_arrays(case.x_shape) if op is F.max_pool2d else values(case.x_shape))
    return (lambda t: op(t, **args)), [array]


@st.composite
def adaptive_avg_pool(draw):
    shape = draw(mst.nchw_shapes(max_side=7))
    size = draw(st.one_of(st.just(1), st.tuples(st.integers(1, 4), st.integers(1, 4))))
    return (lambda t: F.adaptive_avg_pool2d(t, size)), [draw(values(shape))]


@st.composite
def batch_norm(draw, training):
    n, c, h, w = draw(mst.nchw_shapes(max_side=5))
    shape = (max(n, 2), c) if draw(st.booleans()) else (max(n, 2), c, h, w)
    # Distinct values keep each channel's variance away from zero.
    x = draw(mst.distinct_arrays(shape, gap=0.1))
    stats = (draw(values((c,))), draw(values((c,), 0.5, 2.0)))

    def fn(x, weight, bias):
        mean, var = (md.tensor(s.astype(x.dtype), device=x.device) for s in stats)
        return F.batch_norm(x, mean, var, weight, bias, training=training)

    return fn, [x, draw(values((c,), 0.5, 2.0)), draw(values((c,)))]


@st.composite
def local_response_norm(draw):
    shape = draw(mst.nchw_shapes(max_channels=8, max_side=4))
    size = draw(st.integers(1, 6))
    return (lambda t: F.local_response_norm(t, size, alpha=0.5, beta=0.75, k=1.0)), [draw(values(shape))]


@st.composite
def dropout(draw):
    shape = draw(mst.shapes(min_dims=1, max_dims=4))
    seed = draw(st.integers(0, 2**31))

    def fn(t):
        md.manual_seed(seed)
        return F.dropout(t, p=0.4)

    return fn, [draw(values(shape))]


CASES = {
    "add": binary(lambda a, b: a + b),
    "sub": binary(lambda a, b: a - b),
    "mul": binary(lambda a, b: a * b),
    "div": binary(lambda a, b: a / b, positive_right=True),
    "neg_pow_scalar_ops": unary(lambda t: (-t) ** 2 * 0.5 + 1.5 / (t * t + 1.0)),
    "exp": unary(lambda t: t.exp()),
    "log": unary(lambda t: t.log(), low=0.5, high=3.0),
    "matmul": matmul(),
    "sum": reduction("sum"),
    "mean": reduction("mean"),
    "max": reduction("max"),
    "getitem": getitem(),
    "concat_transpose_reshape": concat_and_reshape(),
    "relu": unary(F.relu, kinks=(0.0,)),
    "relu6": unary(F.relu6, low=-2.0, high=8.0, kinks=(0.0, 6.0)),
    "leaky_relu": unary(lambda t: F.leaky_relu(t, 0.1), kinks=(0.0,)),
    "sigmoid": unary(F.sigmoid, -6.0, 6.0),
    "tanh": unary(F.tanh),
    "silu": unary(F.silu, -6.0, 6.0),
    "softmax": softmax_like(F.softmax),
    "log_softmax": softmax_like(F.log_softmax),
    "linear": linear(),
    "cross_entropy": cross_entropy(),
    "conv2d": conv2d(),
    "max_pool2d": pool(F.max_pool2d),
    "avg_pool2d": pool(F.avg_pool2d),
    "adaptive_avg_pool2d": adaptive_avg_pool(),
    "batch_norm_train": batch_norm(training=True),
    "batch_norm_eval": batch_norm(training=False),
    "local_response_norm": local_response_norm(),
    "dropout": dropout(),
}


def _close(got, reference, what):
    scale = max(1.0, float(np.abs(reference).max(initial=0.0)))
    np.testing.assert_allclose(got, reference, rtol=TOLERANCE, atol=TOLERANCE * scale, err_msg=what)


@pytest.mark.parametrize("name", sorted(CASES))
@given(data=st.data())
def test_float32_matches_float64_and_keeps_its_dtype(name, data, device):
    fn, arrays = data.draw(CASES[name])
    results = {}
    for dtype in (np.float64, np.float32):
        inputs = [md.tensor(a.astype(dtype), requires_grad=True, device=device) for a in arrays]
        results[dtype] = md.testing.check_backward(fn, *inputs)
    single, double = results[np.float32], results[np.float64]

    assert single.output.dtype == np.float32, f"{name} turned float32 input into {single.output.dtype}"
    _close(single.output.numpy(), double.output.numpy(), f"{name}: output")
    for i, (g32, g64) in enumerate(zip(single.grads, double.grads)):
        assert g32.dtype == np.float32, f"{name}: gradient of input {i} is {g32.dtype}"
        _close(md.tensor(g32).numpy(), md.tensor(g64).numpy(), f"{name}: gradient of input {i}")
