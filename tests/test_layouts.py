"""Every op in minidl.functional is blind to memory layout.

For each op, inputs (and the upstream gradient) are drawn in the layouts of
``mst.layouts``: transposed, Fortran order, negative strides, step-sliced with
NaN in the skipped cells, read-only, broadcast. The op's output and every
gradient must equal, bit for bit, those of the same op on C-contiguous copies,
and no input may be changed. A 1x1 convolution once returned uninitialised
memory as the gradient of a transposed input.

``CASES`` holds one case per public op; ``test_every_op_has_a_layout_case``
fails naming any op of ``minidl.functional`` that has none.
"""

import inspect

import numpy as np
import pytest
from hypothesis import given, note
from hypothesis import strategies as st

import minidl as md
from minidl.kernels import cpu, reference
from minidl.testing import strategies as mst

F = md.functional

# Public names of minidl.functional that are not checked here, and why.
EXCLUDED = {}


def _values(data, shape, low=-2.0, high=2.0):
    return data.draw(mst.arrays(tuple(shape), low=low, high=high))


def _unary(fn, low=-2.0, high=2.0, min_dims=0):
    def case(data):
        shape = data.draw(mst.shapes(min_dims=min_dims, max_dims=4, max_side=4)) if min_dims else \
            data.draw(st.one_of(st.just(()), mst.shapes(max_dims=4, max_side=4)))
        return fn, [_values(data, shape, low, high)]
    return case


def _binary(fn, b_low=-2.0):
    def case(data):
        (a_shape, b_shape), _ = data.draw(mst.broadcastable_shapes(2, max_dims=3, max_side=3))
        return fn, [_values(data, a_shape), _values(data, b_shape, low=b_low, high=2.0)]
    return case


def _with_axis(fn):
    def case(data):
        shape = data.draw(mst.shapes(max_dims=4, max_side=4))
        axis = data.draw(st.integers(-len(shape), len(shape) - 1))
        return (lambda x: fn(x, axis=axis)), [_values(data, shape)]
    return case


def _reduction(fn):
    def case(data):
        shape = data.draw(mst.shapes(max_dims=4, max_side=4))
        axis = data.draw(mst.axes(len(shape)))
        keepdims = data.draw(st.booleans())
        return (lambda x: fn(x, axis=axis, keepdims=keepdims)), [_values(data, shape)]
    return case


def _matmul(data):
    n, k, m = (data.draw(st.integers(1, 4)) for _ in range(3))
    batch = data.draw(st.sampled_from([(), (2,), (2, 1)]))
    b_batch = data.draw(st.sampled_from([(), batch[-1:]]))
    return F.matmul, [_values(data, batch + (n, k)), _values(data, b_batch + (k, m))]


def _sum_to(data):
    (shape, _), full = data.draw(mst.broadcastable_shapes(2, max_dims=3, max_side=3))
    return (lambda g: md.tensor(F.sum_to(g.data, shape))), [_values(data, full)]


def _reshape(data):
    shape = data.draw(mst.shapes(max_dims=4, max_side=4))
    target = data.draw(st.sampled_from([tuple(reversed(shape)), (-1,), (1, -1)]))
    return (lambda x: F.reshape(x, target)), [_values(data, shape)]


def _transpose(data):
    shape = data.draw(mst.shapes(max_dims=4, max_side=4))
    axes = tuple(data.draw(st.permutations(range(len(shape)))))
    return (lambda x: F.transpose(x, axes)), [_values(data, shape)]


def _flatten(data):
    shape = data.draw(mst.shapes(min_dims=2, max_dims=4, max_side=4))
    start = data.draw(st.integers(0, len(shape) - 1))
    return (lambda x: F.flatten(x, start)), [_values(data, shape)]


def _getitem(data):
    shape = data.draw(mst.shapes(max_dims=3, max_side=4))
    index = data.draw(mst.indices(shape))
    return (lambda x: F.getitem(x, index)), [_values(data, shape)]


def _concat(data):
    shape = data.draw(mst.shapes(max_dims=3, max_side=3))
    axis = data.draw(st.integers(0, len(shape) - 1))
    sizes = data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=3))
    shapes = [shape[:axis] + (size,) + shape[axis + 1:] for size in sizes]
    return (lambda *xs: F.concat(list(xs), axis=axis)), [_values(data, s) for s in shapes]


def _linear(data):
    batch = data.draw(st.sampled_from([(), (3,), (2, 3)]))
    n_in, n_out = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    arrays = [_values(data, batch + (n_in,)), _values(data, (n_out, n_in))]
    if data.draw(st.booleans()):
        arrays.append(_values(data, (n_out,)))
    return F.linear, arrays


def _conv2d(data):
    case = data.draw(mst.conv2d_cases())
    arrays = [_values(data, case.x_shape), _values(data, case.w_shape)]
    if data.draw(st.booleans()):
        arrays.append(_values(data, case.w_shape[:1]))

    def conv(x, w, b=None):
        return F.conv2d(x, w, b, case.stride, case.padding, case.dilation, case.groups)
    return conv, arrays


def _pool(fn):
    def case(data):
        c = data.draw(mst.pool2d_cases())
        return (lambda x: fn(x, c.kernel_size, c.stride, c.padding, c.ceil_mode)), [_values(data, c.x_shape)]
    return case


def _adaptive_avg_pool2d(data):
    n, c, h, w = data.draw(mst.nchw_shapes())
    out = (data.draw(st.integers(1, h + 2)), data.draw(st.integers(1, w + 2)))
    return (lambda x: F.adaptive_avg_pool2d(x, out)), [_values(data, (n, c, h, w))]


def _batch_norm(fn):
    def case(data):
        shape = data.draw(st.one_of(st.tuples(st.integers(2, 4), st.integers(1, 3)), mst.nchw_shapes(min_side=2)))
        training = data.draw(st.booleans())
        channels = shape[1]
        mean, var = _values(data, (channels,)), _values(data, (channels,), low=0.5, high=2.0)

        def bn(x, weight, bias):
            running_mean, running_var = md.tensor(mean.copy()), md.tensor(var.copy())
            y = fn(x, running_mean, running_var, weight, bias, training=training)
            return y, [running_mean.data, running_var.data]
        return bn, [_values(data, shape), _values(data, (channels,)), _values(data, (channels,))]
    return case


def _add_relu(data):
    shape = data.draw(mst.shapes(max_dims=4, max_side=4))
    return F.add_relu, [_values(data, shape), _values(data, shape)]


def _sync_batch_norm(data):
    """In a world of one process (no process group) it is training-mode batch_norm."""
    shape = data.draw(st.one_of(st.tuples(st.integers(2, 4), st.integers(1, 3)), mst.nchw_shapes(min_side=2)))
    channels = shape[1]
    mean, var = _values(data, (channels,)), _values(data, (channels,), low=0.5, high=2.0)

    def bn(x, weight, bias):
        running_mean, running_var = md.tensor(mean.copy()), md.tensor(var.copy())
        y = F.sync_batch_norm(x, running_mean, running_var, weight, bias)
        return y, [running_mean.data, running_var.data]
    return bn, [_values(data, shape), _values(data, (channels,)), _values(data, (channels,))]


def _local_response_norm(data):
    shape = data.draw(mst.nchw_shapes())
    size = data.draw(st.sampled_from([1, 3, 5]))
    return (lambda x: F.local_response_norm(x, size, 0.1, 0.75, 2.0)), [_values(data, shape)]


def _dropout(data):
    shape = data.draw(mst.shapes(max_dims=4, max_side=4))
    p = data.draw(st.sampled_from([0.0, 0.3, 0.5]))
    return (lambda x: F.dropout(x, p, training=True)), [_values(data, shape)]


def _cross_entropy(data):
    n, classes = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    labels = np.random.default_rng(data.draw(mst.seeds())).integers(0, classes, n)
    reduction = data.draw(st.sampled_from(["mean", "sum", "none"]))
    return (lambda x, y: F.cross_entropy(x, y, reduction)), [_values(data, (n, classes)), labels]


def _deform_conv2d(data):
    """The contract of ARCHITECTURE.md: offset (N, 2*kh*kw, oh, ow), mask (N, kh*kw, oh, ow)."""
    case = data.draw(mst.conv2d_cases())
    n, oh, ow = case.out_shape[0], case.out_shape[2], case.out_shape[3]
    taps = case.w_shape[2] * case.w_shape[3]
    arrays = [_values(data, case.x_shape), _values(data, (n, 2 * taps, oh, ow)),
              _values(data, case.w_shape), _values(data, case.w_shape[:1]), _values(data, (n, taps, oh, ow))]

    def deform(x, offset, w, b, mask):
        return F.deform_conv2d(x, offset, w, b, case.stride, case.padding, case.dilation, mask=mask)
    return deform, arrays


CASES = {
    "add": _binary(F.add), "sub": _binary(F.sub), "mul": _binary(F.mul),
    "div": _binary(F.div, b_low=0.5),
    "neg": _unary(F.neg), "exp": _unary(F.exp), "log": _unary(F.log, low=0.1),
    "pow": _unary(lambda x: F.pow(x, 2.5), low=0.1),
    "matmul": _matmul,
    "cast": _unary(lambda x: F.cast(x, np.float32)),
    "sum_to": _sum_to,
    "sum": _reduction(F.sum), "mean": _reduction(F.mean), "max": _reduction(F.max),
    "reshape": _reshape, "transpose": _transpose, "flatten": _flatten, "getitem": _getitem,
    "concat": _concat,
    "relu": _unary(F.relu), "add_relu": _add_relu, "relu6": _unary(F.relu6, low=-1.0, high=7.0),
    "leaky_relu": _unary(lambda x: F.leaky_relu(x, 0.1)),
    "sigmoid": _unary(F.sigmoid), "tanh": _unary(F.tanh), "silu": _unary(F.silu),
    "softmax": _with_axis(F.softmax), "log_softmax": _with_axis(F.log_softmax),
    "linear": _linear, "conv2d": _conv2d,
    "max_pool2d": _pool(F.max_pool2d), "avg_pool2d": _pool(F.avg_pool2d),
    "adaptive_avg_pool2d": _adaptive_avg_pool2d,
    "batch_norm": _batch_norm(F.batch_norm), "batch_norm_relu": _batch_norm(F.batch_norm_relu),
    "sync_batch_norm": _sync_batch_norm, "local_response_norm": _local_response_norm,
    "dropout": _dropout, "cross_entropy": _cross_entropy,
    "deform_conv2d": _deform_conv2d,
}


def public_ops():
    """The functions minidl.functional offers: its __all__ and every public function it holds."""
    held = {name for name, value in vars(F).items()
            if not name.startswith("_") and inspect.isfunction(value)}
    return set(F.__all__) | held


def test_every_op_has_a_layout_case():
    missing = sorted(public_ops() - CASES.keys() - EXCLUDED.keys())
    assert not missing, (
        f"minidl.functional ops without a layout case: {missing}; add each to CASES in "
        "tests/test_layouts.py (or to EXCLUDED, saying why)"
    )


def _draw_layouts(data, arrays, others=tuple(kind for kind in mst.LAYOUTS if kind != "read_only")):
    """Each array in a drawn layout, the kinds ``others`` for all arrays but one. Numba
    compiles a kernel anew for each combination of read-only (or, called directly,
    strided) arguments, seconds each: one such argument at a time tests the same
    thing for a fraction of the compiles."""
    read_only = data.draw(st.integers(0, len(arrays) - 1), label="the array that may be read-only")
    views = [data.draw(mst.layouts(a, kinds=mst.LAYOUTS if i == read_only else others), label=f"array {i}")
             for i, a in enumerate(arrays)]
    for i, view in enumerate(views):
        note(f"array {i}: shape {view.shape}, strides {view.strides}, writeable {view.flags.writeable}")
    return views


def _bits(array):
    array = np.asarray(array)
    return array.dtype, array.shape, np.ascontiguousarray(array).tobytes()


def _run(fn, arrays, gy_draw):
    """(output, extra arrays, gradients) of fn on arrays; the float ones require grad."""
    md.manual_seed(0)
    tensors = [md.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    result = fn(*tensors)
    out, extras = result if isinstance(result, tuple) else (result, [])
    if out.requires_grad:
        out.backward(gy_draw(out))
    return out.numpy().copy(), [e.copy() for e in extras], [t.grad for t in tensors if t.requires_grad]


@pytest.mark.parametrize("name", [name for name in sorted(CASES) if hasattr(F, name)])
@given(data=st.data())
def test_op_result_is_independent_of_layout(name, data):
    fn, arrays = CASES[name](data)
    views = _draw_layouts(data, arrays)
    copies = [np.array(v, order="C") for v in views]
    gy = {}

    def draw_gy(out):
        # One upstream gradient per example: drawn once (in some layout), given
        # as that view to the run on views and as a C copy to the run on copies.
        if "view" not in gy:
            values = np.random.default_rng(data.draw(mst.seeds())).uniform(-1, 1, out.shape).astype(out.dtype)
            gy["view"] = data.draw(mst.layouts(values), label="upstream gradient")
            gy["copy"] = np.array(gy["view"], order="C")
            note(f"upstream gradient: strides {gy['view'].strides}")
            return gy["view"]
        return gy["copy"]

    got = _run(fn, views, draw_gy)
    expected = _run(fn, copies, draw_gy)
    assert _bits(got[0]) == _bits(expected[0]), f"{name}: the output depends on the inputs' layout"
    for k, (a, b) in enumerate(zip(got[1], expected[1])):
        assert _bits(a) == _bits(b), f"{name}: side result {k} depends on the inputs' layout"
    for k, (a, b) in enumerate(zip(got[2], expected[2])):
        assert _bits(a) == _bits(b), f"{name}: the gradient of input {k} depends on the inputs' layout"
    for i, (view, copy) in enumerate(zip(views, copies)):
        assert _bits(view) == _bits(copy), f"{name}: input {i} was changed"


def test_pointwise_conv_gradient_of_transposed_input():
    """The case that started this file: exact numbers, no uninitialised memory."""
    x = md.tensor(np.ones((2, 6, 5, 5), np.float32).transpose(0, 1, 3, 2), requires_grad=True)
    w = md.tensor(np.ones((4, 6, 1, 1), np.float32))
    F.conv2d(x, w).sum().backward()
    np.testing.assert_array_equal(x.grad, np.full((2, 6, 5, 5), 4.0, np.float32))


def test_pointwise_conv_gradient_through_transpose():
    x = md.tensor(np.ones((2, 6, 5, 5), np.float32), requires_grad=True)
    w = md.tensor(np.ones((4, 6, 1, 1), np.float32))
    F.conv2d(F.transpose(x, (0, 1, 3, 2)), w).sum().backward()
    np.testing.assert_array_equal(x.grad, np.full((2, 6, 5, 5), 4.0, np.float32))


# ---- the CPU kernels, called directly, are blind to layout too -------------------

def _kernel_arrays(seed):
    rng = mst.rng(seed)
    x = rng.uniform(-2, 2, (2, 3, 5, 6))
    # kernel (2, 3), stride (1, 2), padding (1, 0), dilation (1, 2): 6x1 outputs, 6 taps
    deform_geometry = ((2, 3), (1, 2), (1, 0), (1, 2))
    offset, mask = rng.uniform(-1.5, 1.5, (2, 12, 6, 1)), rng.uniform(0, 1, (2, 6, 6, 1))
    deform_cols = rng.uniform(-2, 2, (3 * 2 * 3, 2 * 6 * 1))
    return {
        "im2col": ([x], lambda x: ((x, (2, 3), (1, 2), (1, 0), (1, 2)))),
        "col2im": ([rng.uniform(-2, 2, (3 * 2 * 3, 2 * 6 * 1))],
                   lambda c: (c, (2, 3, 5, 6), (2, 3), (1, 2), (1, 0), (1, 2))),
        "max_pool2d_forward": ([x], lambda x: (x, (3, 2), (2, 2), (1, 1), (3, 4))),
        "max_pool2d_backward": ([rng.uniform(-2, 2, (2, 3, 3, 4)), rng.integers(0, 6, (2, 3, 3, 4)).astype(np.int32)],
                                lambda g, a: (g, a, (2, 3, 5, 6), (3, 2), (2, 2), (1, 1))),
        "avg_pool2d_forward": ([x], lambda x: (x, (3, 2), (2, 2), (1, 1), (3, 4))),
        "avg_pool2d_backward": ([rng.uniform(-2, 2, (2, 3, 3, 4))],
                                lambda g: (g, (2, 3, 5, 6), (3, 2), (2, 2), (1, 1))),
        "adaptive_avg_pool2d_forward": ([x], lambda x: (x, (3, 4))),
        "adaptive_avg_pool2d_backward": ([rng.uniform(-2, 2, (2, 3, 3, 4))], lambda g: (g, (2, 3, 5, 6))),
        "batch_norm_forward_train": ([x.reshape(2, 3, 30), rng.uniform(0.5, 2, 3), rng.uniform(-1, 1, 3)],
                                     lambda x, g, b: (x, g, b, 1e-5)),
        "batch_norm_backward": ([rng.uniform(-2, 2, (2, 3, 30)), x.reshape(2, 3, 30), rng.uniform(0.5, 2, 3),
                                 rng.uniform(-1, 1, 3), rng.uniform(0.5, 2, 3)],
                                lambda gy, x, g, m, v: (gy, x, g, m, v, 1e-5)),
        "relu_backward": ([rng.uniform(-2, 2, x.shape), rng.uniform(-2, 2, x.shape)], lambda g, y: (g, y)),
        "deform_im2col": ([x, offset, mask], lambda x, o, m: (x, o, m) + deform_geometry),
        "deform_col2im": ([deform_cols, offset, mask], lambda c, o, m: (c, x.shape, o, m) + deform_geometry),
        "deform_col2im_coord": ([deform_cols, x, offset, mask], lambda c, x, o, m: (c, x, o, m) + deform_geometry),
        "lrn_forward": ([x], lambda x: (x, 3, 0.1, 0.75, 2.0)),
        "lrn_backward": ([x, rng.uniform(-1, 1, x.shape), rng.uniform(2, 3, x.shape), rng.uniform(-1, 1, x.shape)],
                         lambda x, y, s, g: (x, y, s, g, 3, 0.1, 0.75)),
        "softmax_cross_entropy_forward": ([rng.uniform(-2, 2, (4, 5)), rng.integers(0, 5, 4)], lambda z, y: (z, y)),
        "softmax_cross_entropy_backward": (
            [rng.uniform(-3, -0.1, (4, 5)), rng.integers(0, 5, 4), rng.uniform(-1, 1, 4)],
            lambda p, y, g: (p, y, g)),
    }


# Kernels that take no array.
KERNELS_WITHOUT_ARRAYS = {"dropout_mask": "takes a shape and a seed, no array"}


def test_every_kernel_has_a_layout_case():
    missing = sorted(set(reference.__all__) - _kernel_arrays(0).keys() - KERNELS_WITHOUT_ARRAYS.keys())
    assert not missing, f"kernels without a layout case in tests/test_layouts.py: {missing}"


@pytest.mark.parametrize("name", sorted(_kernel_arrays(0)))
@given(data=st.data(), seed=mst.seeds())
def test_cpu_kernel_is_independent_of_layout(name, data, seed):
    arrays, arguments = _kernel_arrays(seed)[name]
    views = _draw_layouts(data, arrays, others=("contiguous",))
    copies = [np.array(v, order="C") for v in views]
    kernel = getattr(cpu, name)
    got, expected = kernel(*arguments(*views)), kernel(*arguments(*copies))
    got, expected = (got, expected) if isinstance(got, tuple) else ((got,), (expected,))
    for k, (a, b) in enumerate(zip(got, expected)):
        assert _bits(a) == _bits(b), f"{name}: result {k} depends on the inputs' layout"
    for i, (view, copy) in enumerate(zip(views, copies)):
        assert _bits(view) == _bits(copy), f"{name}: array {i} was changed"


def test_cross_entropy_keeps_its_own_labels():
    # Labels live outside the graph's arrays: changing the caller's array between
    # forward and backward once changed the gradient.
    logits = md.tensor(np.zeros((2, 3)), requires_grad=True)
    labels = np.array([0, 2])
    loss = F.cross_entropy(logits, labels)
    labels[:] = 1
    loss.backward()
    np.testing.assert_allclose(logits.grad, [[-1 / 3, 1 / 6, 1 / 6], [1 / 6, 1 / 6, -1 / 3]], rtol=1e-15)
