"""deform_conv2d: gradient checks over drawn shapes and parameters, the reduction to
conv2d, hand-picked numbers, and its argument errors.

Offsets (``mst.off_grid_offsets``) are an integer shift in [-reach, reach]
(reach 3 on these small images: many taps sample partly or wholly outside) plus
a fraction at least ``MARGIN`` from 0 and 1. Bilinear interpolation has kinks
exactly where a sampling coordinate is an integer, and every sampling
coordinate is an integer grid position plus its offset, so each stays
``MARGIN`` from a kink: far more than gradcheck's eps of 1e-6.
"""

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import minidl as md
from minidl.kernels import reference
from minidl.testing import strategies as mst
from minidl.testing.strategies import ConvCase, DeformConvCase

F = md.functional

MARGIN = 0.05


def _args(case):
    return dict(stride=case.conv.stride, padding=case.conv.padding, dilation=case.conv.dilation)


def _case(x_shape, w_shape, offset_groups=1, stride=(1, 1), padding=(0, 0), dilation=(1, 1)):
    kernel = [d * (k - 1) + 1 for d, k in zip(dilation, w_shape[2:])]
    out = tuple((size + 2 * p - span) // s + 1 for size, p, span, s in zip(x_shape[2:], padding, kernel, stride))
    groups = x_shape[1] // w_shape[1]
    conv = ConvCase(x_shape, w_shape, stride, padding, dilation, groups, (x_shape[0], w_shape[0]) + out)
    return DeformConvCase(conv, offset_groups)


CORNERS = {
    "1x1 kernel, N=1, C=1": _case((1, 1, 3, 4), (1, 1, 1, 1)),
    "3x3, two offset groups, weight groups": _case((2, 4, 5, 5), (6, 2, 3, 3), 2, padding=(1, 1)),
    "strided, dilated, non-square": _case((1, 2, 7, 6), (2, 2, 2, 3), 1, stride=(2, 1), dilation=(2, 1)),
    "offset group per channel": _case((1, 3, 4, 4), (3, 3, 2, 2), 3, padding=(1, 0)),
}


def _with_corners(test):
    for case in CORNERS.values():
        test = example(case=case, modulated=True, bias=True, reach=3, seed=0)(test)
        test = example(case=case, modulated=False, bias=False, reach=3, seed=1)(test)
    return test


def _inputs(case, modulated, bias, reach, seed, device, requires=True):
    r = mst.rng(seed)
    x = md.tensor(r.uniform(-2, 2, case.conv.x_shape), requires_grad=requires, device=device)
    offset = md.tensor(mst.off_grid_offsets(r, case.offset_shape, reach, MARGIN), requires_grad=requires, device=device)
    w = md.tensor(r.uniform(-1, 1, case.conv.w_shape), requires_grad=requires, device=device)
    m = md.tensor(r.uniform(0, 1, case.mask_shape), requires_grad=requires, device=device) if modulated else None
    b = md.tensor(r.uniform(-1, 1, case.conv.w_shape[:1]), requires_grad=requires, device=device) if bias else None
    return x, offset, w, m, b


@given(case=mst.deform_conv2d_cases(), modulated=st.booleans(), bias=st.booleans(),
       reach=st.sampled_from([0, 1, 3]), seed=mst.seeds())
@_with_corners
def test_deform_conv2d_gradcheck(case, modulated, bias, reach, seed, device):
    x, offset, w, m, b = _inputs(case, modulated, bias, reach, seed, device)
    args = _args(case)

    def fn(x, offset, w, *rest):
        rest = list(rest)
        mask = rest.pop(0) if modulated else None
        bias_ = rest.pop(0) if bias else None
        return F.deform_conv2d(x, offset, w, bias_, mask=mask, **args)

    y = fn(x, offset, w, *(t for t in (m, b) if t is not None))
    assert y.shape == case.conv.out_shape
    md.testing.gradcheck(fn, x, offset, w, *(t for t in (m, b) if t is not None))


@given(case=mst.deform_conv2d_cases(), modulated=st.booleans(), seed=mst.seeds())
def test_forward_is_the_reference_columns_times_the_weight(case, modulated, seed, device):
    """An oracle for the forward pass independent of the GEMM slicing: the reference
    columns (NumPy) times the weight, group by group."""
    x, offset, w, m, b = _inputs(case, modulated, True, 3, seed, device, requires=False)
    y = F.deform_conv2d(x, offset, w, b, mask=m, **_args(case))
    conv = case.conv
    cols = reference.deform_im2col(x.numpy(), offset.numpy(), None if m is None else m.numpy(),
                                   conv.w_shape[2:], conv.stride, conv.padding, conv.dilation)
    g = conv.groups
    wg = w.numpy().reshape(g, conv.w_shape[0] // g, -1)
    expected = np.concatenate([wg[k] @ c for k, c in enumerate(np.split(cols, g))])
    n, out_c, oh, ow = conv.out_shape
    expected = expected.reshape(out_c, n, oh, ow).transpose(1, 0, 2, 3) + b.numpy()[None, :, None, None]
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-10, atol=1e-10)


@given(case=mst.deform_conv2d_cases(max_batch=4), bias=st.booleans(), dtype=st.sampled_from([np.float32, np.float64]),
       seed=mst.seeds())
def test_zero_offsets_and_a_ones_mask_are_exactly_conv2d(case, bias, dtype, seed, device):
    r = mst.rng(seed)
    conv = case.conv
    x = md.tensor(r.uniform(-2, 2, conv.x_shape).astype(dtype), device=device)
    w = md.tensor(r.uniform(-1, 1, conv.w_shape).astype(dtype), device=device)
    b = md.tensor(r.uniform(-1, 1, conv.w_shape[:1]).astype(dtype), device=device) if bias else None
    offset = md.tensor(np.zeros(case.offset_shape, dtype), device=device)
    mask = md.tensor(np.ones(case.mask_shape, dtype), device=device)
    args = _args(case)
    expected = F.conv2d(x, w, b, groups=conv.groups, **args).numpy()
    for m in (None, mask):
        np.testing.assert_array_equal(F.deform_conv2d(x, offset, w, b, mask=m, **args).numpy(), expected)


def test_deform_conv2d_on_hand_picked_numbers():
    """One 1x1 tap shifted half a pixel down and right: each output averages a 2x2
    block, corners past the image reading zero; gradients by hand."""
    x = md.tensor(np.arange(9.0).reshape(1, 1, 3, 3), requires_grad=True)
    w = md.tensor(np.ones((1, 1, 1, 1)), requires_grad=True)
    offset = md.tensor(np.full((1, 2, 3, 3), 0.5), requires_grad=True)
    y = F.deform_conv2d(x, offset, w)
    np.testing.assert_array_equal(y.numpy()[0, 0], [[2.0, 3.0, 1.75], [5.0, 6.0, 3.25], [3.25, 3.75, 2.0]])
    gy = np.zeros((1, 1, 3, 3))
    gy[0, 0, 0, 0] = 1.0
    y.backward(gy)
    # (0.5, 0.5) reads x[0:2, 0:2] with weight 1/4 each
    np.testing.assert_array_equal(x.grad[0, 0], [[0.25, 0.25, 0], [0.25, 0.25, 0], [0, 0, 0]])
    # d/dpy = (1-lx)(v10 - v00) + lx (v11 - v01) = 0.5*3 + 0.5*3; d/dpx = 0.5*1 + 0.5*1
    np.testing.assert_array_equal(offset.grad[0, :, 0, 0], [3.0, 1.0])
    assert w.grad[0, 0, 0, 0] == 2.0


def test_the_offset_gradient_at_an_integer_position_is_the_derivative_from_above():
    """The kink convention: at py = 1 exactly, floor(py) = 1, so dS/dpy = x[2] - x[1]."""
    x = md.tensor(np.array([[[[0.0], [1.0], [5.0]]]]))          # a 3x1 column: slopes 1, then 4
    w = md.tensor(np.ones((1, 1, 1, 1)))
    offset = md.tensor(np.zeros((1, 2, 3, 1)), requires_grad=True)
    gy = np.array([[[[0.0], [1.0], [0.0]]]])
    F.deform_conv2d(x, offset, w).backward(gy)
    assert offset.grad[0, 0, 1, 0] == 4.0


def test_inputs_are_not_mutated_and_gradients_accumulate():
    case = CORNERS["3x3, two offset groups, weight groups"]
    x, offset, w, m, b = _inputs(case, True, True, 3, 7, "cpu")
    before = [t.numpy().copy() for t in (x, offset, w, m, b)]
    gy = mst.rng(3).uniform(-1, 1, case.conv.out_shape)
    y = F.deform_conv2d(x, offset, w, b, mask=m, padding=1)
    y.backward(gy, retain_graph=True)
    first = [t.grad.copy() for t in (x, offset, w, m, b)]
    y.backward(gy)
    for t, g, old in zip((x, offset, w, m, b), first, before):
        np.testing.assert_array_equal(t.numpy(), old)
        np.testing.assert_allclose(t.grad, 2 * g, rtol=1e-12, atol=1e-12)


def _t(shape, dtype=np.float32):
    return md.tensor(np.zeros(shape, dtype))


def _mentions(message, *parts):
    for part in parts:
        assert str(part) in message, f"{part!r} missing from: {message}"


@pytest.mark.parametrize("offset_shape, words", [
    ((1, 17, 3, 3), ("offset", "multiple of 2*3*3 = 18", "17")),
    ((1, 18, 4, 3), ("offset", "(1, 18, 3, 3)", "(1, 18, 4, 3)")),
    ((2, 18, 3, 3), ("offset", "(1, 18, 3, 3)", "(2, 18, 3, 3)")),
    ((1, 18 * 3, 3, 3), ("offset_groups = 3", "divide", "input channels 4")),
    ((1, 18, 3), ("offset", "4-D", "(1, 18, 3)")),
])
def test_bad_offsets_are_named(offset_shape, words):
    with pytest.raises(ValueError) as error:
        F.deform_conv2d(_t((1, 4, 5, 5)), _t(offset_shape), _t((2, 4, 3, 3)))
    _mentions(str(error.value), "deform_conv2d", *words)


def test_a_mask_of_the_wrong_shape_is_named():
    with pytest.raises(ValueError) as error:
        F.deform_conv2d(_t((1, 4, 5, 5)), _t((1, 36, 3, 3)), _t((2, 4, 3, 3)), mask=_t((1, 9, 3, 3)))
    _mentions(str(error.value), "deform_conv2d", "mask", "(1, 18, 3, 3)", "(1, 9, 3, 3)")


def test_weight_groups_that_do_not_fit_are_named():
    with pytest.raises(ValueError) as error:
        F.deform_conv2d(_t((1, 4, 5, 5)), _t((1, 18, 3, 3)), _t((2, 3, 3, 3)))
    _mentions(str(error.value), "deform_conv2d", "weight", "(2, 3, 3, 3)", "4 channels")


def test_a_kernel_larger_than_the_input_is_named():
    with pytest.raises(ValueError) as error:
        F.deform_conv2d(_t((1, 1, 2, 2)), _t((1, 18, 1, 1)), _t((1, 1, 3, 3)))
    _mentions(str(error.value), "deform_conv2d", "kernel", "padded input")


@pytest.mark.parametrize("which", ["offset", "weight", "mask", "bias"])
def test_mixed_dtypes_are_named(which):
    tensors = dict(x=_t((1, 2, 4, 4)), offset=_t((1, 8, 3, 3)), weight=_t((3, 2, 2, 2)),
                   mask=_t((1, 4, 3, 3)), bias=_t((3,)))
    tensors[which] = _t(tensors[which].shape, np.float64)
    with pytest.raises(TypeError) as error:
        F.deform_conv2d(tensors["x"], tensors["offset"], tensors["weight"], tensors["bias"],
                        mask=tensors["mask"])
    _mentions(str(error.value), "deform_conv2d", which, "float64", "float32")


def test_integer_input_is_named():
    with pytest.raises(TypeError) as error:
        F.deform_conv2d(md.tensor(np.zeros((1, 1, 3, 3), np.int64)), _t((1, 2, 3, 3)), _t((1, 1, 1, 1)))
    _mentions(str(error.value), "deform_conv2d", "input")


@pytest.mark.parametrize("name, value, exc", [("stride", 0, ValueError), ("padding", -1, ValueError),
                                              ("dilation", (1, 2, 3), ValueError), ("stride", 1.5, TypeError)])
def test_bad_geometry_is_named(name, value, exc):
    with pytest.raises(exc) as error:
        F.deform_conv2d(_t((1, 1, 4, 4)), _t((1, 2, 4, 4)), _t((1, 1, 1, 1)), **{name: value})
    _mentions(str(error.value), "deform_conv2d", name)


def test_non_contiguous_inputs_give_the_contiguous_result():
    case = CORNERS["3x3, two offset groups, weight groups"]
    x, offset, w, m, b = _inputs(case, True, True, 3, 11, "cpu", requires=False)

    def strided(t):
        a = t.numpy()
        wide = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
        wide[..., ::2] = a
        return md.tensor(wide[..., ::2])

    expected = F.deform_conv2d(x, offset, w, b, mask=m, padding=1).numpy()
    views = [strided(t) for t in (x, offset, w, m)]
    assert not any(v.data.flags.c_contiguous for v in views)
    got = F.deform_conv2d(views[0], views[1], views[2], b, mask=views[3], padding=1).numpy()
    np.testing.assert_array_equal(got, expected)
