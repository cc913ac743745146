"""Deformable convolution kernels: the Numba kernels against the NumPy reference,
in float32 and float64, on their calling-thread and their parallel paths.

The kernels compute the same bilinear sums as the reference but may round
differently: the reference forms sampling points in the array's dtype and sums
the four corners in another order, and the scatter adds the entries of a pixel
in another order. The bounds are those roundings: a few ulps of the sum of the
magnitudes of what is added (the same sums taken over absolute values). The
offsets are kept ``MARGIN`` off integer positions, so that a float32 sampling
point never rounds across a pixel boundary, where the offset gradient jumps.

The input-gradient scatter is also checked to be deterministic (the same bits
on every run, threads or not) and to be the adjoint of the sampling. On a GPU
(MINIDL_TEST_DEVICE=cuda, as in tests/test_cuda_ops.py) the CUDA kernels are
held to the same bounds; elsewhere that test is skipped with its reason.
"""

import contextlib
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from minidl import backend
from minidl.kernels import cpu, reference
from minidl.kernels.cpu import deform_conv as cpu_deform
from minidl.testing import strategies as mst

DTYPES = st.sampled_from([np.float32, np.float64])
# Up to 12 images: more units than the kernels' thread blocks, so blocks of
# several units run as well as blocks of one.
CASES = mst.deform_conv2d_cases(max_batch=12, max_channels=3)
ULPS = 16


@contextlib.contextmanager
def kernel_threads(parallel):
    """Force the kernels' parallel path (whatever the job size) or their calling-thread path."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cpu_deform, "PARALLEL_BYTES", 0 if parallel else 2**62)
        yield


def geometry(case):
    return case.conv.w_shape[2:], case.conv.stride, case.conv.padding, case.conv.dilation


def column_shape(case):
    (n, c), (kh, kw), (oh, ow) = case.conv.x_shape[:2], case.conv.w_shape[2:], case.conv.out_shape[2:]
    return c * kh * kw, n * oh * ow


def draw_inputs(case, seed, dtype, modulated):
    r = mst.rng(seed)
    x = r.uniform(-2, 2, case.conv.x_shape).astype(dtype)
    offset = mst.off_grid_offsets(r, case.offset_shape, dtype=dtype)
    mask = r.uniform(0, 1, case.mask_shape).astype(dtype) if modulated else None
    cols = r.uniform(-2, 2, column_shape(case)).astype(dtype)
    return x, offset, mask, cols


def assert_close(got, expected, magnitude, dtype):
    assert got.dtype == dtype and got.shape == expected.shape
    bound = ULPS * np.finfo(dtype).eps * magnitude
    assert (np.abs(got.astype(np.float64) - expected) <= bound).all(), np.abs(got - expected).max()


def _abs(a):
    return None if a is None else np.abs(a)


def coord_magnitudes(case, cols, x, mask):
    """Bounds on the sizes of the terms of the offset and mask gradients: over the
    group's channels, sum |gcol| * m * 2 max|x| (a derivative of the sample is at most
    twice the largest corner) and sum |gcol| * max|x|, in offset's and mask's layouts."""
    n, _, oh, ow = case.conv.out_shape
    groups, taps = case.offset_groups, case.conv.w_shape[2] * case.conv.w_shape[3]
    per_tap = np.abs(cols.astype(np.float64)).reshape(groups, -1, taps, n, oh, ow).sum(axis=1)
    per_tap = per_tap.transpose(2, 0, 1, 3, 4) * np.abs(x).max()      # (N, G, K, oh, ow)
    scale = 1.0 if mask is None else mask.reshape(per_tap.shape)
    offset = np.repeat((2 * scale * per_tap)[:, :, :, None], 2, axis=3).reshape(case.offset_shape)
    return offset, per_tap.reshape(case.mask_shape)


@given(case=CASES, dtype=DTYPES, modulated=st.booleans(), seed=mst.seeds(), parallel=st.booleans())
def test_deform_im2col_matches_the_reference(case, dtype, modulated, seed, parallel):
    x, offset, mask, _ = draw_inputs(case, seed, dtype, modulated)
    inputs = [a.copy() for a in (x, offset) if a is not None]
    expected = reference.deform_im2col(x.astype(np.float64), offset.astype(np.float64),
                                       None if mask is None else mask.astype(np.float64), *geometry(case))
    with kernel_threads(parallel):
        cols = cpu.deform_im2col(x, offset, mask, *geometry(case))
    magnitude = reference.deform_im2col(np.abs(x).astype(np.float64), offset.astype(np.float64),
                                        _abs(mask), *geometry(case))
    assert_close(cols, expected, magnitude, dtype)
    for before, after in zip(inputs, (x, offset)):
        np.testing.assert_array_equal(before, after)


@given(case=CASES, dtype=DTYPES, modulated=st.booleans(), seed=mst.seeds(), parallel=st.booleans())
def test_deform_col2im_matches_the_reference(case, dtype, modulated, seed, parallel):
    x, offset, mask, cols = draw_inputs(case, seed, dtype, modulated)
    before = cols.copy()
    f64 = [None if a is None else a.astype(np.float64) for a in (offset, mask)]
    expected = reference.deform_col2im(cols.astype(np.float64), x.shape, *f64, *geometry(case))
    with kernel_threads(parallel):
        gx = cpu.deform_col2im(cols, x.shape, offset, mask, *geometry(case))
    np.testing.assert_array_equal(cols, before)
    magnitude = reference.deform_col2im(np.abs(cols).astype(np.float64), x.shape, f64[0],
                                        _abs(f64[1]), *geometry(case))
    assert_close(gx, expected, magnitude, dtype)


@given(case=CASES, dtype=DTYPES, modulated=st.booleans(), seed=mst.seeds(), parallel=st.booleans())
def test_deform_col2im_coord_matches_the_reference(case, dtype, modulated, seed, parallel):
    x, offset, mask, cols = draw_inputs(case, seed, dtype, modulated)
    f64 = [None if a is None else a.astype(np.float64) for a in (cols, x, offset, mask)]
    expected_offset, expected_mask = reference.deform_col2im_coord(*f64, *geometry(case))
    with kernel_threads(parallel):
        g_offset, g_mask = cpu.deform_col2im_coord(cols, x, offset, mask, *geometry(case))
    bound_offset, bound_mask = coord_magnitudes(case, cols, x, mask)
    assert_close(g_offset, expected_offset, bound_offset, dtype)
    if modulated:
        assert_close(g_mask, expected_mask, bound_mask, dtype)
    else:
        assert g_mask is None and expected_mask is None


@given(case=CASES, seed=mst.seeds())
def test_the_input_gradient_is_deterministic_threads_or_not(case, seed):
    x, offset, mask, cols = draw_inputs(case, seed, np.float32, True)
    runs = []
    for parallel in (False, True, True):
        with kernel_threads(parallel):
            runs.append(cpu.deform_col2im(cols, x.shape, offset, mask, *geometry(case)))
    for run in runs[1:]:
        np.testing.assert_array_equal(run, runs[0])


@given(case=CASES, modulated=st.booleans(), seed=mst.seeds())
def test_deform_col2im_is_the_adjoint_of_deform_im2col(case, modulated, seed):
    """<im2col(x), cols> = <x, col2im(cols)> for fixed offsets: an oracle with no reference."""
    x, offset, mask, cols = draw_inputs(case, seed, np.float64, modulated)
    left = np.vdot(cpu.deform_im2col(x, offset, mask, *geometry(case)), cols)
    right = np.vdot(x, cpu.deform_col2im(cols, x.shape, offset, mask, *geometry(case)))
    assert abs(left - right) <= 1e-10 * (1 + np.abs(cols).sum() * 2)


@pytest.mark.cuda
@pytest.mark.skipif(os.environ.get("MINIDL_TEST_DEVICE", "cpu") != "cuda",
                    reason="no CUDA device (set MINIDL_TEST_DEVICE=cuda on a machine with an NVIDIA GPU and CuPy)")
@given(case=CASES, dtype=DTYPES, modulated=st.booleans(), seed=mst.seeds())
def test_the_cuda_kernels_match_the_reference(case, dtype, modulated, seed):
    cp = backend.require_cupy("tests/test_kernels_deform_conv.py with MINIDL_TEST_DEVICE=cuda")
    import minidl.kernels.cuda as gpu

    x, offset, mask, cols = draw_inputs(case, seed, dtype, modulated)
    on_gpu = [None if a is None else cp.asarray(a) for a in (x, offset, mask, cols)]
    f64 = [None if a is None else a.astype(np.float64) for a in (x, offset, mask, cols)]

    expected = reference.deform_im2col(*f64[:3], *geometry(case))
    magnitude = reference.deform_im2col(np.abs(f64[0]), f64[1], _abs(f64[2]), *geometry(case))
    assert_close(cp.asnumpy(gpu.deform_im2col(*on_gpu[:3], *geometry(case))), expected, magnitude, dtype)

    expected = reference.deform_col2im(f64[3], x.shape, f64[1], f64[2], *geometry(case))
    magnitude = reference.deform_col2im(np.abs(f64[3]), x.shape, f64[1], _abs(f64[2]), *geometry(case))
    gx = gpu.deform_col2im(on_gpu[3], x.shape, on_gpu[1], on_gpu[2], *geometry(case))
    assert_close(cp.asnumpy(gx), expected, magnitude, dtype)

    expected_offset, expected_mask = reference.deform_col2im_coord(f64[3], *f64[:3], *geometry(case))
    bound_offset, bound_mask = coord_magnitudes(case, cols, x, mask)
    g_offset, g_mask = gpu.deform_col2im_coord(on_gpu[3], *on_gpu[:3], *geometry(case))
    assert_close(cp.asnumpy(g_offset), expected_offset, bound_offset, dtype)
    if modulated:
        assert_close(cp.asnumpy(g_mask), expected_mask, bound_mask, dtype)
    else:
        assert g_mask is None
