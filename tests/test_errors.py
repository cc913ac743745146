"""Bad input raises ValueError/TypeError naming the op, the argument and the shapes:
never a crash from deep inside a kernel, a hang, or a silently wrong result."""

import re

import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

import minidl as md
from minidl.testing import strategies as mst

F = md.functional


def _t(shape, requires_grad=False):
    return md.tensor(np.ones(shape), requires_grad=requires_grad)


def _mentions(message, *parts):
    for part in parts:
        assert str(part) in message, f"{part!r} is not in the message: {message}"


# ---- the cases of issue 2, item 7 ------------------------------------------------

def test_conv_with_the_wrong_channel_count():
    with pytest.raises(ValueError) as error:
        F.conv2d(_t((1, 3, 5, 5)), _t((4, 2, 3, 3)))
    _mentions(str(error.value), "conv2d", "channels", (1, 3, 5, 5), (4, 2, 3, 3))


def test_conv_kernel_larger_than_the_padded_input():
    with pytest.raises(ValueError) as error:
        F.conv2d(_t((1, 1, 2, 3)), _t((1, 1, 5, 5)), padding=1)
    _mentions(str(error.value), "conv2d", "kernel", "padded input", (1, 1, 2, 3), (1, 1, 5, 5))


def test_conv_dilated_kernel_larger_than_the_padded_input():
    with pytest.raises(ValueError) as error:
        F.conv2d(_t((1, 1, 4, 4)), _t((1, 1, 3, 3)), dilation=2)
    _mentions(str(error.value), "conv2d", "dilated to 5", (1, 1, 4, 4))


@pytest.mark.parametrize("op, call", [
    ("conv2d", lambda **kw: F.conv2d(_t((1, 1, 4, 4)), _t((1, 1, 3, 3)), **kw)),
    ("max_pool2d", lambda **kw: F.max_pool2d(_t((1, 1, 4, 4)), 2, **kw)),
    ("avg_pool2d", lambda **kw: F.avg_pool2d(_t((1, 1, 4, 4)), 2, **kw)),
])
@pytest.mark.parametrize("argument, value", [("padding", -1), ("padding", (0, -2)), ("stride", 0),
                                             ("stride", (1, 0))])
def test_negative_padding_and_zero_stride(op, call, argument, value):
    with pytest.raises(ValueError) as error:
        call(**{argument: value})
    _mentions(str(error.value), f"{op}:", argument, value, (1, 1, 4, 4))


def test_groups_that_do_not_divide_the_channels():
    with pytest.raises(ValueError) as error:
        F.conv2d(_t((1, 4, 5, 5)), _t((6, 2, 3, 3)), groups=3)
    _mentions(str(error.value), "conv2d", "groups=3", "divide", (1, 4, 5, 5), (6, 2, 3, 3))


def test_conv_groups_zero():
    with pytest.raises(ValueError) as error:
        F.conv2d(_t((1, 4, 5, 5)), _t((6, 2, 3, 3)), groups=0)
    _mentions(str(error.value), "conv2d", "groups", (1, 4, 5, 5))


@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
def test_add_and_the_other_binary_ops_with_shapes_that_do_not_broadcast(op):
    with pytest.raises(ValueError) as error:
        getattr(F, op)(_t((2, 3)), _t((4,)))
    _mentions(str(error.value), f"{op}:", (2, 3), (4,), "broadcast")


def test_concat_with_mismatched_shapes():
    with pytest.raises(ValueError) as error:
        F.concat([_t((2, 3, 4)), _t((2, 5, 3))], axis=1)
    _mentions(str(error.value), "concat", "axis 1", (2, 3, 4), (2, 5, 3))


def test_concat_with_different_ranks_and_a_bad_axis():
    with pytest.raises(ValueError, match=r"concat:.*\(2, 3\).*\(2, 3, 1\)"):
        F.concat([_t((2, 3)), _t((2, 3, 1))], axis=0)
    with pytest.raises(ValueError, match="concat: axis 2 is out of range for 2-D"):
        F.concat([_t((2, 3))], axis=2)
    with pytest.raises(ValueError, match="concat: needs at least one tensor"):
        F.concat([], axis=0)


def test_linear_with_mismatched_shapes():
    with pytest.raises(ValueError) as error:
        F.linear(_t((4, 3)), _t((2, 5)))
    _mentions(str(error.value), "linear", (4, 3), (2, 5), "features")
    with pytest.raises(ValueError) as error:
        F.linear(_t((4, 3)), _t((2, 3)), _t((3,)))
    _mentions(str(error.value), "linear", "bias", (2,), (3,))


def test_matmul_with_mismatched_inner_dimensions():
    with pytest.raises(ValueError) as error:
        F.matmul(_t((2, 3)), _t((4, 5)))
    _mentions(str(error.value), "matmul", (2, 3), (4, 5))


@pytest.mark.parametrize("labels", [[0, 3], [-1, 0]])
def test_cross_entropy_labels_out_of_range(labels):
    with pytest.raises(ValueError) as error:
        F.cross_entropy(_t((2, 3)), np.array(labels))
    _mentions(str(error.value), "cross_entropy", "labels", "[0, 3)", (2, 3))


def test_cross_entropy_labels_of_the_wrong_shape_or_type():
    with pytest.raises(ValueError, match=r"cross_entropy: labels must have shape \(2,\).*\(2, 3\).*\(3,\)"):
        F.cross_entropy(_t((2, 3)), np.array([0, 1, 2]))
    with pytest.raises(TypeError, match="cross_entropy: labels must be integers.*float"):
        F.cross_entropy(_t((2, 3)), np.array([0.0, 1.0]))


def test_backward_on_a_non_scalar_without_a_gradient():
    y = _t((2, 3), requires_grad=True) * 2
    with pytest.raises(ValueError) as error:
        y.backward()
    _mentions(str(error.value), "backward", "scalar", (2, 3), "grad=")


def test_backward_with_a_gradient_of_the_wrong_shape():
    y = _t((2, 3), requires_grad=True) * 2
    with pytest.raises(ValueError) as error:
        y.backward(np.ones((3, 2)))
    _mentions(str(error.value), "backward", (3, 2), (2, 3))


def test_a_second_backward_through_a_freed_graph():
    x = _t((2,), requires_grad=True)
    loss = (x * x).sum()
    loss.backward()
    with pytest.raises(ValueError) as error:
        loss.backward()
    _mentions(str(error.value), "backward", "Sum", "freed", "retain_graph=True")


def test_backward_on_a_tensor_that_does_not_require_grad():
    with pytest.raises(ValueError, match="backward: this tensor does not require grad"):
        _t((1,)).backward()


def test_ops_refuse_tensors_on_different_devices_or_of_mixed_float_dtypes():
    with pytest.raises(TypeError, match=r"conv2d: inputs must share one dtype.*float32.*float64"):
        F.conv2d(md.tensor(np.ones((1, 1, 3, 3), np.float32)), _t((1, 1, 1, 1)))
    with pytest.raises(TypeError, match=r"linear: inputs must share one dtype"):
        F.linear(md.tensor(np.ones((1, 2), np.float32)), _t((3, 2)))


def test_wrong_ranks_name_the_expected_layout():
    with pytest.raises(ValueError, match=r"conv2d: input must be 4-D \(N, C, H, W\), got shape \(3, 5, 5\)"):
        F.conv2d(_t((3, 5, 5)), _t((1, 3, 3, 3)))
    with pytest.raises(ValueError, match=r"max_pool2d: input must be 4-D.*\(5, 5\)"):
        F.max_pool2d(_t((5, 5)), 2)
    with pytest.raises(ValueError, match=r"batch_norm: input must be 2-D or 4-D.*\(2, 3, 4\)"):
        F.batch_norm(_t((2, 3, 4)), None, None, training=True)
    with pytest.raises(ValueError, match=r"cross_entropy: logits must be 2-D.*\(6,\)"):
        F.cross_entropy(_t((6,)), np.zeros(6, dtype=np.int64))


def test_pool_padding_over_half_the_kernel():
    with pytest.raises(ValueError) as error:
        F.max_pool2d(_t((1, 1, 6, 6)), 3, padding=2)
    _mentions(str(error.value), "max_pool2d", "padding", "half", (1, 1, 6, 6))


def test_reduction_axes_out_of_range_or_repeated():
    with pytest.raises(ValueError, match="sum: axis 2 is out of range"):
        _t((2, 3)).sum(axis=2)
    with pytest.raises(ValueError, match=r"mean: axis \(0, -2\) repeats an axis"):
        _t((2, 3)).mean(axis=(0, -2))
    with pytest.raises(ValueError, match=r"max: cannot reduce an empty tensor of shape \(0, 3\)"):
        _t((0, 3)).max()


# ---- hypothesis: drawn parameters, valid or not ----------------------------------
#
# Each test draws parameters over a range that includes invalid values and wrong
# types, decides validity with its own statement of the rule, then requires a
# ValueError/TypeError naming the op for invalid ones, and the right output shape
# for valid ones. Any other exception fails the test: that is a crash.

BAD_TYPES = st.sampled_from([1.5, "2", None, True, (1, 2, 3), [1.0, 1]])


def _int_or_pair(low, high):
    values = st.integers(low, high)
    return st.one_of(values, st.tuples(values, values), BAD_TYPES)


def _pair(value):
    if isinstance(value, bool) or value is None or isinstance(value, (str, float)):
        return None
    if isinstance(value, (tuple, list)):
        if len(value) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return None
        return tuple(value)
    return (value, value)


def _expect(op, call, valid, expected_shape):
    event("valid arguments" if valid else "invalid arguments")  # see --hypothesis-show-statistics
    try:
        y = call()
    except (ValueError, TypeError) as error:
        assert not valid, f"valid arguments were rejected: {error}"
        assert str(error).startswith(f"{op}:"), f"the message does not name {op}: {error}"
        return
    assert valid, f"{op} accepted invalid arguments and returned shape {y.shape}"
    assert y.shape == expected_shape


@st.composite
def conv2d_arguments(draw):
    """A valid configuration with, two times in three, one argument redrawn over a range
    that includes invalid values and wrong types."""
    case = draw(mst.conv2d_cases())
    x_shape, w_shape = list(case.x_shape), list(case.w_shape)
    args = dict(stride=case.stride, padding=case.padding, dilation=case.dilation, groups=case.groups)
    changed = draw(st.sampled_from([None, None, None, "stride", "padding", "dilation", "groups", "channels",
                                    "kernel"]))
    if changed in ("stride", "dilation"):
        args[changed] = draw(_int_or_pair(-1, 3))
    elif changed == "padding":
        args[changed] = draw(_int_or_pair(-2, 3))
    elif changed == "groups":
        args[changed] = draw(st.one_of(st.integers(-1, 4), BAD_TYPES))
    elif changed == "channels":
        x_shape[1] = draw(st.integers(1, 9))
    elif changed == "kernel":
        w_shape[2:] = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    return tuple(x_shape), tuple(w_shape), args


@given(arguments=conv2d_arguments())
def test_conv2d_with_drawn_arguments(arguments):
    x_shape, w_shape, args = arguments
    s, p, d = _pair(args["stride"]), _pair(args["padding"]), _pair(args["dilation"])
    g = args["groups"] if isinstance(args["groups"], int) and not isinstance(args["groups"], bool) else None
    n, c, h, w = x_shape
    out_c, c_per_group, kh, kw = w_shape
    valid = (
        s is not None and p is not None and d is not None and g is not None
        and min(s) >= 1 and min(p) >= 0 and min(d) >= 1 and g >= 1
        and c % g == 0 and out_c % g == 0 and c_per_group * g == c
        and all(dd * (k - 1) + 1 <= size + 2 * pp for dd, k, size, pp in zip(d, (kh, kw), (h, w), p))
    )
    expected = None
    if valid:
        expected = (n, out_c) + tuple(
            (size + 2 * pp - dd * (k - 1) - 1) // ss + 1
            for size, pp, dd, k, ss in zip((h, w), p, d, (kh, kw), s)
        )
    _expect("conv2d", lambda: F.conv2d(_t(x_shape), _t(w_shape), **args), valid, expected)


@st.composite
def pool_arguments(draw):
    """A valid pooling configuration with, three times in four, one argument redrawn."""
    case = draw(mst.pool2d_cases())
    args = dict(kernel_size=case.kernel_size, stride=case.stride, padding=case.padding,
                ceil_mode=case.ceil_mode)
    changed = draw(st.sampled_from([None, "kernel_size", "stride", "padding"]))
    if changed == "kernel_size":
        args[changed] = draw(_int_or_pair(-1, 9))
    elif changed == "stride":
        args[changed] = draw(st.one_of(st.none(), _int_or_pair(-1, 4)))
    elif changed == "padding":
        args[changed] = draw(_int_or_pair(-1, 3))
    return case.x_shape, args


@pytest.mark.parametrize("op", ["max_pool2d", "avg_pool2d"])
@given(arguments=pool_arguments())
def test_pools_with_drawn_arguments(op, arguments):
    x_shape, args = arguments
    k, p = _pair(args["kernel_size"]), _pair(args["padding"])
    s = k if args["stride"] is None else _pair(args["stride"])
    valid = (
        k is not None and s is not None and p is not None
        and min(k) >= 1 and min(s) >= 1 and min(p) >= 0
        and all(pp <= kk // 2 for pp, kk in zip(p, k))
        # PyTorch's rule: at least one window (with ceil_mode, a kernel larger than the padded input makes one)
        and all(mst.pool_output_side(size, kk, ss, pp, args["ceil_mode"]) >= 1
                for size, kk, ss, pp in zip(x_shape[2:], k, s, p))
    )
    expected = None
    if valid:
        expected = x_shape[:2] + tuple(
            mst.pool_output_side(size, kk, ss, pp, args["ceil_mode"])
            for size, kk, ss, pp in zip(x_shape[2:], k, s, p)
        )
    _expect(op, lambda: getattr(F, op)(_t(x_shape), **args), valid, expected)


@given(x_shape=mst.shapes(min_dims=1, max_dims=3, max_side=4),
       w_shape=mst.shapes(min_dims=1, max_dims=3, max_side=4),
       bias_shape=st.one_of(st.none(), mst.shapes(min_dims=0, max_dims=2, max_side=4)))
def test_linear_with_drawn_shapes(x_shape, w_shape, bias_shape):
    valid = len(w_shape) == 2 and x_shape[-1] == w_shape[1] and bias_shape in (None, w_shape[:1])
    expected = x_shape[:-1] + w_shape[:1] if valid else None
    bias = None if bias_shape is None else _t(bias_shape)
    _expect("linear", lambda: F.linear(_t(x_shape), _t(w_shape), bias), valid, expected)


@given(shapes=st.lists(mst.shapes(min_dims=0, max_dims=3, max_side=3), min_size=0, max_size=3),
       axis=st.one_of(st.integers(-4, 4), BAD_TYPES))
def test_concat_with_drawn_shapes(shapes, axis):
    ndims = {len(s) for s in shapes}
    valid = isinstance(axis, int) and not isinstance(axis, bool) and len(ndims) == 1
    if valid:
        ndim = ndims.pop()
        valid = -ndim <= axis < ndim and len({s[:axis % ndim] + s[axis % ndim + 1:] for s in shapes}) == 1
    expected = None
    if valid:
        a = axis % ndim
        expected = shapes[0][:a] + (sum(s[a] for s in shapes),) + shapes[0][a + 1:]
    _expect("concat", lambda: F.concat([_t(s) for s in shapes], axis=axis), valid, expected)


@given(shape=mst.shapes(min_dims=0, max_dims=3, max_side=4),
       target=st.one_of(st.lists(st.integers(-2, 8), max_size=4).map(tuple), st.integers(-2, 30),
                        st.tuples(st.integers(1, 4), BAD_TYPES)))
def test_reshape_with_drawn_targets(shape, target):
    try:
        expected = np.zeros(shape).reshape(target).shape  # NumPy's rule is the oracle
        valid = not any(isinstance(v, bool) for v in np.atleast_1d(target).tolist())
    except (ValueError, TypeError):
        valid, expected = False, None
    _expect("reshape", lambda: _t(shape).reshape(target), valid, expected)


@given(shape=mst.shapes(min_dims=1, max_dims=3, max_side=4), start=st.one_of(st.integers(-4, 4), BAD_TYPES))
def test_flatten_with_drawn_start_dims(shape, start):
    valid = isinstance(start, int) and not isinstance(start, bool) and -len(shape) <= start < len(shape)
    expected = None
    if valid:
        s = start % len(shape)
        expected = shape[:s] + (int(np.prod(shape[s:])),)
    _expect("flatten", lambda: F.flatten(_t(shape), start), valid, expected)


def test_messages_name_the_op_first():
    # The format every error here follows: "<op>: <argument> ..., got <what came>".
    with pytest.raises(TypeError) as error:
        F.conv2d(_t((1, 1, 3, 3)), _t((1, 1, 2, 2)), stride=1.5)
    assert re.match(r"conv2d: stride must be an int or a pair of ints, got 1\.5", str(error.value))


# ---- the cases of issue 8, section 3 ----------------------------------------------

@pytest.mark.parametrize("build", [
    lambda: md.nn.Sequential(md.nn.Linear(4, 3), md.nn.ReLU),
    lambda: md.nn.Sequential(md.nn.Linear(4, 3)).append(md.nn.ReLU),
    lambda: md.nn.Sequential(md.nn.Linear(4, 3)).append("relu"),
])
def test_sequential_refuses_what_is_not_a_module(build):
    with pytest.raises(TypeError, match="Sequential: child '1' must be a Module") as error:
        build()
    if "relu" not in str(error.value):
        _mentions(str(error.value), "write ReLU()")


@pytest.mark.parametrize("groups", [
    lambda p, q: [p, q, p],
    lambda p, q: [{"params": [p, p]}],
])
def test_optimizer_refuses_a_parameter_given_twice(groups):
    p, q = md.nn.Parameter(np.ones(2)), md.nn.Parameter(np.ones(3))
    with pytest.raises(ValueError, match="SGD: the parameter of shape .* at position .* is the one at position 0"):
        md.optim.SGD(groups(p, q), lr=0.1)


@pytest.mark.parametrize("make, error, message", [
    (lambda p: md.optim.SGD([p], lr="0.1"), TypeError, "SGD: lr must be a number, got '0.1'"),
    (lambda p: md.optim.SGD([p], lr=None), TypeError, "SGD: lr must be a number, got None"),
    (lambda p: md.optim.SGD([p], lr=0.1, momentum=-1), ValueError, "SGD: momentum must be >= 0"),
    (lambda p: md.optim.Adam([p], betas=0.9), TypeError, r"Adam: betas must be a pair of numbers .*got 0\.9"),
    (lambda p: md.optim.Adam([p], betas=(0.9, "x")), TypeError, "Adam: betas must be a number, got 'x'"),
    (lambda p: md.optim.Adam([p], lr=float("nan")), ValueError, "Adam: lr must be >= 0"),
])
def test_optimizer_hyperparameters_are_checked_by_name(make, error, message):
    with pytest.raises(error, match=message):
        make(md.nn.Parameter(np.ones(2)))


@pytest.mark.parametrize("dtype", [np.float16, np.int32])
def test_conv2d_refuses_dtypes_its_kernels_lack(dtype):
    x, w = md.tensor(np.ones((1, 1, 3, 3), dtype)), md.tensor(np.ones((1, 1, 2, 2), dtype))
    with pytest.raises(TypeError, match="conv2d: input must be"):
        F.conv2d(x, w)


@pytest.mark.parametrize("call, argument", [
    (lambda: F.conv2d(_t((1, 1, 3, 3)), _t((1, 1, 1, 1)), stride=2**63), "stride"),
    (lambda: F.conv2d(_t((1, 1, 3, 3)), _t((1, 1, 1, 1)), padding=(0, 2**64)), "padding"),
    (lambda: F.max_pool2d(_t((1, 1, 3, 3)), 2, stride=2**63), "stride"),
    (lambda: F.local_response_norm(_t((1, 1, 3, 3)), size=2**63), "size"),
])
def test_huge_integers_are_refused_before_any_kernel(call, argument):
    with pytest.raises(ValueError, match=f"{argument} must be at most 2\\*\\*31 - 1"):
        call()


@pytest.mark.parametrize("call, message", [
    (lambda: F.softmax(_t((2, 3)), axis=1.0), "softmax: axis must be an int, got 1.0"),
    (lambda: F.log_softmax(_t((2, 3)), axis=None), "log_softmax: axis must be an int, got None"),
    (lambda: F.leaky_relu(_t((2,)), "0.1"), "leaky_relu: negative_slope must be a number, got '0.1'"),
])
def test_activation_arguments_are_named(call, message):
    with pytest.raises(TypeError, match=re.escape(message)):
        call()


@pytest.mark.parametrize("state, message", [
    ([1, 2], "Linear.load_state_dict: state_dict must be a mapping of names to arrays, got list"),
    ({"weight": np.full((3, 4), None), "bias": np.zeros(3)},
     "Linear.load_state_dict: 'weight' must be a numeric array"),
    ({"weight": [["a"] * 4] * 3, "bias": np.zeros(3)}, "Linear.load_state_dict: 'weight' must be a numeric array"),
])
def test_load_state_dict_refuses_what_is_not_numbers(state, message):
    layer = md.nn.Linear(4, 3)
    before = layer.weight.numpy().copy()
    with pytest.raises(TypeError, match=re.escape(message)):
        layer.load_state_dict(state)
    np.testing.assert_array_equal(layer.weight.numpy(), before)


@pytest.mark.parametrize("data", ["abc", ["a", "b"], [None], {"a": 1}])
def test_tensor_of_what_is_not_numbers(data):
    with pytest.raises(TypeError, match="Tensor: data must be numbers"):
        md.tensor(data)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"num_classes": 0}, ValueError, "models.get('lenet5'): num_classes must be >= 1, got 0"),
    ({"num_classes": 2.0}, TypeError, "models.get('lenet5'): num_classes must be an int, got 2.0"),
    ({"in_channels": 0}, ValueError, "models.get('lenet5'): in_channels must be >= 1, got 0"),
])
def test_model_sizes_are_named(kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)):
        md.models.get("lenet5", **kwargs)


@pytest.mark.parametrize("argv, message", [
    (["train", "lenet5", "--limit-train", "0"], "--limit-train must be >= 1, got 0"),
    (["train", "lenet5", "--limit-test", "-1"], "--limit-test must be >= 1, got -1"),
    (["evaluate", "lenet5", "--checkpoint", "x.npz", "--limit-test", "0"], "--limit-test must be >= 1, got 0"),
])
def test_cli_limits_are_named(tmp_path, capsys, argv, message):
    from minidl import cli

    assert cli.main(argv + ["--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert message in err and "head" not in err and "Traceback" not in err
