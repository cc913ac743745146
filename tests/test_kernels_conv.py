"""Convolution kernels: the Numba im2col/col2im against the NumPy reference, and
conv2d's own paths (1x1 without im2col, groups, the batch cut into slices)
against a direct NumPy convolution.

im2col only moves values, so it must equal the reference exactly. col2im adds
up to kh*kw column entries into each pixel; it may add them in another order
than the reference, so it may differ by the rounding of that sum: at most
``kh*kw * eps * sum(|entries|)``.
"""

import contextlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
from minidl.functional import conv as conv_op
from minidl.kernels import cpu, reference
from minidl.kernels.cpu import conv as cpu_conv
from minidl.testing import strategies as mst

F = md.functional

DTYPES = st.sampled_from([np.float32, np.float64])

# Up to 12 images of 12 channels: more planes than the kernels' thread blocks,
# so blocks of several planes are exercised as well as blocks of one.
CASES = mst.conv2d_cases(max_batch=12, max_channels=4)


def kernel_args(case):
    return case.w_shape[2:], case.stride, case.padding, case.dilation


def column_shape(case):
    (n, c), (kh, kw), (oh, ow) = case.x_shape[:2], case.w_shape[2:], case.out_shape[2:]
    return c * kh * kw, n * oh * ow


@contextlib.contextmanager
def kernel_threads(parallel):
    """Force the kernels' parallel path (whatever the job size) or their calling-thread path."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cpu_conv, "PARALLEL_BYTES", 0 if parallel else 2**62)
        yield


@given(case=CASES, dtype=DTYPES, seed=mst.seeds(), parallel=st.booleans())
def test_im2col_equals_the_reference(case, dtype, seed, parallel):
    x = mst.rng(seed).uniform(-2, 2, case.x_shape).astype(dtype)
    expected = reference.im2col(x, *kernel_args(case))
    with kernel_threads(parallel):
        cols = cpu.im2col(x, *kernel_args(case))
    assert cols.dtype == dtype and cols.shape == column_shape(case) == expected.shape
    np.testing.assert_array_equal(cols, expected)


@given(case=CASES, dtype=DTYPES, seed=mst.seeds(), parallel=st.booleans())
def test_col2im_matches_the_reference(case, dtype, seed, parallel):
    cols = mst.rng(seed).uniform(-2, 2, column_shape(case)).astype(dtype)
    before = cols.copy()
    expected = reference.col2im(cols, case.x_shape, *kernel_args(case))
    with kernel_threads(parallel):
        x = cpu.col2im(cols, case.x_shape, *kernel_args(case))
    np.testing.assert_array_equal(cols, before)
    assert x.dtype == dtype and x.shape == case.x_shape
    magnitude = reference.col2im(np.abs(cols), case.x_shape, *kernel_args(case))
    taps = case.w_shape[2] * case.w_shape[3]
    assert (np.abs(x - expected) <= taps * np.finfo(dtype).eps * magnitude).all()


@given(case=CASES, seed=mst.seeds())
def test_col2im_is_the_adjoint_of_im2col(case, seed):
    """<im2col(x), cols> = <x, col2im(cols)>, an oracle that needs no reference."""
    rng = mst.rng(seed)
    x = rng.uniform(-2, 2, case.x_shape)
    cols = rng.uniform(-2, 2, column_shape(case))
    left = np.vdot(cpu.im2col(x, *kernel_args(case)), cols)
    right = np.vdot(x, cpu.col2im(cols, case.x_shape, *kernel_args(case)))
    assert left == pytest.approx(right, rel=1e-12, abs=1e-12)


def test_im2col_takes_a_non_contiguous_input():
    x = np.arange(2 * 3 * 5 * 4, dtype=np.float32).reshape(2, 3, 4, 5).transpose(0, 1, 3, 2)
    args = (3, 2), (2, 1), (1, 1), (1, 2)
    np.testing.assert_array_equal(cpu.im2col(x, *args), reference.im2col(x, *args))


@pytest.mark.parametrize("parallel", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernels_on_a_network_layer(dtype, parallel):
    """A ResNet stage-1 layer: 3x3, padding 1, 16 channels of 32x32, and its strided twin."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 16, 32, 32)).astype(dtype)
    for stride in (1, 2):
        args = (3, 3), (stride, stride), (1, 1), (1, 1)
        with kernel_threads(parallel):
            cols = cpu.im2col(x, *args)
            x_back = cpu.col2im(cols, x.shape, *args)
        np.testing.assert_array_equal(cols, reference.im2col(x, *args))
        np.testing.assert_allclose(x_back, reference.col2im(cols, x.shape, *args),
                                   rtol=10 * np.finfo(dtype).eps, atol=0)


def direct_conv2d(x, w, b, stride, padding, dilation, groups, gy):
    """y, and the gradients gx, gw, gb for the upstream gradient gy, one kernel tap
    at a time with einsum over shifted slices of the padded input: no im2col."""
    n, c, h, width = x.shape
    out_c, c_per_group, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    oh, ow = gy.shape[2:]
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    y, gx_padded, gw = np.zeros(gy.shape), np.zeros_like(padded), np.zeros_like(w)
    per_group = out_c // groups
    for g in range(groups):
        cs = slice(g * c_per_group, (g + 1) * c_per_group)
        os = slice(g * per_group, (g + 1) * per_group)
        for i in range(kh):
            for j in range(kw):
                tap = (slice(None), cs, slice(i * dh, i * dh + sh * (oh - 1) + 1, sh),
                       slice(j * dw, j * dw + sw * (ow - 1) + 1, sw))
                y[:, os] += np.einsum("nchw,oc->nohw", padded[tap], w[os, :, i, j])
                gw[os, :, i, j] = np.einsum("nohw,nchw->oc", gy[:, os], padded[tap])
                gx_padded[tap] += np.einsum("nohw,oc->nchw", gy[:, os], w[os, :, i, j])
    gx = gx_padded[:, :, ph:ph + h, pw:pw + width]
    return y + b.reshape(1, -1, 1, 1), gx, gw, gy.sum(axis=(0, 2, 3))


def check_against_direct(case, seed):
    rng = mst.rng(seed)
    x = md.tensor(rng.uniform(-2, 2, case.x_shape), requires_grad=True)
    w = md.tensor(rng.uniform(-1, 1, case.w_shape), requires_grad=True)
    b = md.tensor(rng.uniform(-1, 1, case.w_shape[0]), requires_grad=True)
    gy = rng.uniform(-1, 1, case.out_shape)
    y = F.conv2d(x, w, b, case.stride, case.padding, case.dilation, case.groups)
    y.backward(gy)
    expected = direct_conv2d(x.numpy(), w.numpy(), b.numpy(), case.stride, case.padding,
                             case.dilation, case.groups, gy)
    for got, want in zip((y.numpy(), x.grad, w.grad, b.grad), expected):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@st.composite
def pointwise_cases(draw):
    """1x1, stride 1, unpadded, ungrouped: the path with no im2col."""
    n, c, out_c, h, w = (draw(st.integers(1, 5)) for _ in range(5))
    return mst.ConvCase(x_shape=(n, c, h, w), w_shape=(out_c, c, 1, 1), stride=(1, 1),
                        padding=(0, 0), dilation=(1, 1), groups=1, out_shape=(n, out_c, h, w))


def no_columns(*args):
    raise AssertionError("a 1x1 stride-1 convolution built im2col columns")


@given(case=pointwise_cases(), seed=mst.seeds())
def test_pointwise_conv_skips_im2col_and_matches_direct(case, seed):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cpu, "im2col", no_columns)
        patch.setattr(cpu, "col2im", no_columns)
        check_against_direct(case, seed)


@given(case=CASES, seed=mst.seeds())
def test_conv2d_matches_direct(case, seed):
    """Every path, grouped ones included (two thirds of the drawn cases have groups > 1)."""
    check_against_direct(case, seed)


@given(case=CASES, seed=mst.seeds())
def test_conv2d_in_one_image_slices_matches_direct(case, seed):
    """A column budget of one byte cuts the batch into slices of one image."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(conv_op.COLUMN_BYTES, "cpu", 1)
        check_against_direct(case, seed)


def test_batch_slices_cover_the_batch_in_order():
    assert conv_op.batch_slices(5, 100, 250) == [slice(0, 2), slice(2, 5)]
    assert conv_op.batch_slices(128, 100, 5000) == [slice(0, 42), slice(42, 85), slice(85, 128)]
    assert conv_op.batch_slices(3, 100, 1) == [slice(0, 1), slice(1, 2), slice(2, 3)]
    assert conv_op.batch_slices(3, 100, 10**6) == [slice(0, 3)]
    assert conv_op.batch_slices(3, 100, 10**6, at_least=2) == [slice(0, 1), slice(1, 3)]
    # 6 slices would fit; a multiple of 4 is taken, so 2 or 4 threads share them equally
    assert conv_op.batch_slices(128, 100, 2500, at_least=4) == [slice(16 * k, 16 * (k + 1)) for k in range(8)]


def test_kernel_blocks_cover_every_plane():
    """More planes than blocks, and a count that does not divide evenly among them."""
    n, c = 7, cpu_conv.BLOCKS // 3 + 1
    x = np.random.default_rng(1).standard_normal((n, c, 5, 6))
    args = (2, 3), (1, 2), (1, 0), (2, 1)
    with kernel_threads(parallel=True):
        cols = cpu.im2col(x, *args)
        x_back = cpu.col2im(cols, x.shape, *args)
    np.testing.assert_array_equal(cols, reference.im2col(x, *args))
    np.testing.assert_allclose(x_back, reference.col2im(cols, x.shape, *args), rtol=1e-14, atol=0)
