"""Gradient checks of conv2d over drawn shapes and parameters.

``strategies.conv2d_cases()`` covers N=1, C=1, odd and non-square sizes, 1x1
kernels, kernels as large as the (padded) input, strides larger than the
kernel, padding up to k-1, dilation and groups; the @examples pin each corner.
"""

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

import minidl as md
from minidl.testing import strategies as mst
from minidl.testing.strategies import ConvCase

F = md.functional


def direct_conv2d(x, w, b, stride, padding, dilation, groups):
    """The docstring's formula, one kernel tap at a time: an oracle independent of im2col."""
    n, c, h, width = x.shape
    out_c, c_per_group, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    oh = (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    ow = (width + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    y = np.zeros((n, out_c, oh, ow))
    per_group = out_c // groups
    for g in range(groups):
        xs = padded[:, g * c_per_group:(g + 1) * c_per_group]
        for i in range(kh):
            for j in range(kw):
                tap = xs[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw]
                y[:, g * per_group:(g + 1) * per_group] += np.einsum(
                    "nchw,oc->nohw", tap, w[g * per_group:(g + 1) * per_group, :, i, j]
                )
    return y if b is None else y + b.reshape(1, -1, 1, 1)


def _case(x_shape, w_shape, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    kernel = [d * (k - 1) + 1 for d, k in zip(dilation, w_shape[2:])]
    out = tuple(
        (size + 2 * p - span) // s + 1
        for size, p, span, s in zip(x_shape[2:], padding, kernel, stride)
    )
    return ConvCase(x_shape, w_shape, stride, padding, dilation, groups, (x_shape[0], w_shape[0]) + out)


CORNERS = {
    "1x1 kernel, N=1, C=1": _case((1, 1, 3, 5), (1, 1, 1, 1)),
    "kernel equal to the input": _case((2, 2, 3, 4), (3, 2, 3, 4)),
    "stride larger than the kernel": _case((1, 2, 7, 8), (2, 2, 2, 1), stride=(3, 4)),
    "padding k-1": _case((1, 1, 2, 3), (2, 1, 3, 3), padding=(2, 2)),
    "dilation, non-square": _case((1, 2, 7, 5), (1, 2, 3, 2), dilation=(2, 3), padding=(1, 0)),
    "groups = channels (depthwise)": _case((2, 3, 4, 4), (6, 1, 3, 3), padding=(1, 1), groups=3),
    "grouped, strided, padded": _case((1, 4, 5, 6), (6, 2, 2, 3), stride=(2, 1), padding=(1, 2), groups=2),
}


def _with_corners(test):
    for case in CORNERS.values():
        test = example(case=case, bias=True, requires=(True, True, True), seed=0)(test)
    return test


@given(case=mst.conv2d_cases(), bias=st.booleans(),
       requires=st.sampled_from([(True, True, True), (False, True, True), (True, False, False)]),
       seed=mst.seeds())
@_with_corners
def test_conv2d_gradcheck(case, bias, requires, seed, device):
    r = mst.rng(seed)
    x = md.tensor(r.uniform(-2, 2, case.x_shape), requires_grad=requires[0], device=device)
    w = md.tensor(r.uniform(-1, 1, case.w_shape), requires_grad=requires[1], device=device)
    b = None
    if bias:
        b = md.tensor(r.uniform(-1, 1, case.w_shape[:1]), requires_grad=requires[2], device=device)
    args = dict(stride=case.stride, padding=case.padding, dilation=case.dilation, groups=case.groups)

    y = F.conv2d(x, w, b, **args)
    assert y.shape == case.out_shape
    expected = direct_conv2d(x.numpy(), w.numpy(), None if b is None else b.numpy(), **args)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-10, atol=1e-10)
    if bias:
        md.testing.gradcheck(lambda *t: F.conv2d(*t, **args), x, w, b)
    else:
        md.testing.gradcheck(lambda *t: F.conv2d(*t, **args), x, w)


def test_conv2d_on_hand_picked_numbers():
    x = md.tensor(np.arange(9.0).reshape(1, 1, 3, 3), requires_grad=True)
    w = md.tensor(np.array([[[[1.0, 0.0], [0.0, -1.0]]]]), requires_grad=True)
    y = F.conv2d(x, w)
    np.testing.assert_array_equal(y.numpy(), [[[[-4.0, -4.0], [-4.0, -4.0]]]])
    y.backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    np.testing.assert_array_equal(x.grad, [[[[1.0, 2.0, 0.0], [3.0, 3.0, -2.0], [0.0, -3.0, -4.0]]]])
    np.testing.assert_array_equal(w.grad, [[[[27.0, 37.0], [57.0, 67.0]]]])
