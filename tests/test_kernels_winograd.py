"""Winograd convolution: the Numba tile transforms against the NumPy reference, the
matrices against the correlation they compute, the algorithm through conv2d against
im2col, and the rule that picks it.

The transforms add up to alpha*t products per value in another order than the
reference's einsum, so in float32 they may differ by that sum's rounding: at most
``alpha*t * eps`` times the same transform of the absolute values.

Winograd in float32 is held to a bound per tile against float64 im2col,
``EPS_BOUND`` eps times the scale of the terms summed (the same convolution of
|x|, |w|, |gy|: the form of the usual dot-product error bound; a few outputs of
a small drawn shape can cancel to nearly nothing, so the output's own scale is
no yardstick there). The worst seen over 1,400 random draws and the ci
profile's (float32 against float64): F(2x2, 3x3) 5 eps, F(4x4, 3x3) 40 (a
single-pixel image), F(2x2, 5x5) 24, F(4x4, 5x5) 141; im2col 1-6. The bounds
leave about two and a half times that: they allow the digits each tile is
known to lose and no more (a wrong transform point or a dropped tile is off
by O(1)).
On network layers the error relative to the output's scale is 9-39 eps for
F(4x4, 3x3), 11-36 for F(2x2, 5x5) and 32-80 for F(4x4, 5x5)
(``benchmarks/winograd_error.py``).
"""

import contextlib

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import minidl as md
from minidl.functional import conv_algorithms
from minidl.kernels.cpu import winograd as cpu
from minidl.kernels.reference import winograd as reference
from minidl.testing import strategies as mst

F = md.functional
TILES = sorted(reference.POINTS)  # (m, r)
EPS_BOUND = {(2, 3): 16, (4, 3): 96, (2, 5): 64, (4, 5): 384}  # see the module docstring
DTYPES = st.sampled_from([np.float32, np.float64])


@st.composite
def tile_jobs(draw):
    """(m, r, matrix name, grid, offset, image size, batch-last length) of one transform."""
    m, r = draw(st.sampled_from(TILES))
    out = (draw(st.integers(1, 9)), draw(st.integers(1, 9)))
    padding = tuple(draw(st.integers(0, min(r - 1, (o + r - 2) // 2))) for o in out)
    size = tuple(o + r - 1 - 2 * p for o, p in zip(out, padding))
    length = draw(st.integers(1, 300))  # past one CHUNK of the kernels, sometimes
    return m, r, draw(st.sampled_from(["input", "output"])), out, padding, size, length


def job_args(job):
    """(mat, grid, offset, image size) of a job: the input transform (B^T, padded
    input) or the output gradient's (A, the output itself)."""
    m, r, which, out, padding, size, _ = job
    at, _, bt = reference.winograd_matrices(m, r)
    grid = reference.tile_grid(*out, m)
    return (bt, grid, padding, size) if which == "input" else (at.T.copy(), grid, (0, 0), out)


@given(job=tile_jobs(), dtype=DTYPES, seed=mst.seeds())
def test_tiles_to_points_matches_the_reference(job, dtype, seed):
    mat, grid, offset, size = job_args(job)
    m, length = job[0], job[-1]
    image = mst.rng(seed).uniform(-2, 2, size + (length,)).astype(dtype)
    expected = reference.tiles_to_points(image, mat, m, grid, offset)
    got = cpu.tiles_to_points(image, mat, m, grid, offset)
    assert got.dtype == dtype and got.shape == expected.shape
    bound = reference.tiles_to_points(np.abs(image), np.abs(mat), m, grid, offset)
    assert (np.abs(got - expected) <= mat.size * np.finfo(dtype).eps * bound).all()


@given(job=tile_jobs(), dtype=DTYPES, seed=mst.seeds())
def test_points_to_tiles_matches_the_reference(job, dtype, seed):
    mat, grid, offset, size = job_args(job)
    m, length = job[0], job[-1]
    points = mst.rng(seed).uniform(-2, 2, (mat.shape[0] ** 2, grid[0] * grid[1], length)).astype(dtype)
    before = points.copy()
    expected = reference.points_to_tiles(points, mat, m, grid, offset, size)
    got = cpu.points_to_tiles(points, mat, m, grid, offset, size)
    np.testing.assert_array_equal(points, before)
    assert got.dtype == dtype and got.shape == expected.shape == size + (length,)
    bound = reference.points_to_tiles(np.abs(points), np.abs(mat), m, grid, offset, size)
    assert (np.abs(got - expected) <= 2 * mat.size * np.finfo(dtype).eps * bound).all()


@given(job=tile_jobs(), seed=mst.seeds())
def test_points_to_tiles_is_the_adjoint_of_tiles_to_points(job, seed):
    """<T(image), points> = <image, T^T(points)>: an oracle that needs no reference."""
    mat, grid, offset, size = job_args(job)
    m, length = job[0], job[-1]
    rng = mst.rng(seed)
    image = rng.uniform(-2, 2, size + (length,))
    points = rng.uniform(-2, 2, (mat.shape[0] ** 2, grid[0] * grid[1], length))
    left = np.vdot(cpu.tiles_to_points(image, mat, m, grid, offset), points)
    right = np.vdot(image, cpu.points_to_tiles(points, mat, m, grid, offset, size))
    assert left == pytest.approx(right, rel=1e-11, abs=1e-9)


@given(tile=st.sampled_from(TILES), k=st.integers(1, 9), c=st.integers(1, 9), dtype=DTYPES, seed=mst.seeds(),
       transposed=st.booleans())
def test_the_kernel_transforms_match_the_reference(tile, k, c, dtype, seed, transposed):
    """U = G w G^T and its transpose gw = G^T gU G: the kernels' two GEMMs against the
    reference's einsum, within the rounding of a sum of r*r (or alpha*alpha) products."""
    m, r = tile
    _, g, _ = reference.winograd_matrices(m, r)
    g = g.astype(dtype)
    alpha = g.shape[0]
    rng = mst.rng(seed)
    w = rng.uniform(-2, 2, (k, c, r, r)).astype(dtype)
    gu = rng.uniform(-2, 2, (alpha * alpha, c, k)).astype(dtype).transpose(0, 2, 1)  # as conv passes it
    if transposed:
        w = np.ascontiguousarray(w.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)
    eps = np.finfo(dtype).eps
    got, expected = cpu.kernel_to_points(w, g), reference.kernel_to_points(w, g)
    assert got.dtype == dtype and got.shape == expected.shape == (alpha * alpha, k, c)
    bound = reference.kernel_to_points(np.abs(w), np.abs(g))
    assert (np.abs(got - expected) <= 2 * r * r * eps * bound).all()
    got, expected = cpu.points_to_kernel(gu, g), reference.points_to_kernel(gu, g)
    assert got.dtype == dtype and got.shape == expected.shape == (k, c, r, r)
    bound = reference.points_to_kernel(np.abs(gu), np.abs(g))
    assert (np.abs(got - expected) <= 2 * alpha * alpha * eps * bound).all()


@given(job=tile_jobs(), dtype=DTYPES, seed=mst.seeds(), batch=st.integers(1, 3), transposed=st.booleans())
def test_the_nchw_transforms_match_the_reference(job, dtype, seed, batch, transposed):
    """nchw_to_points and points_to_nchw: the transforms with the layout change folded
    in, on NCHW images, contiguous or not (the channels are L // batch, at least one)."""
    mat, grid, offset, size = job_args(job)
    m, channels = job[0], max(1, job[-1] // 40)
    rng = mst.rng(seed)
    images = rng.uniform(-2, 2, (batch, channels) + size[::-1]).astype(dtype).transpose(0, 1, 3, 2)
    if not transposed:
        images = np.ascontiguousarray(images)
    expected = reference.nchw_to_points(images, mat, m, grid, offset)
    got = cpu.nchw_to_points(images, mat, m, grid, offset)
    bound = reference.nchw_to_points(np.abs(images), np.abs(mat), m, grid, offset)
    assert got.shape == expected.shape and (np.abs(got - expected) <= mat.size * np.finfo(dtype).eps * bound).all()
    points = rng.uniform(-2, 2, expected.shape).astype(dtype)
    want = reference.points_to_nchw(points, mat, m, grid, offset, np.empty((batch, channels) + size, dtype))
    out = np.full((batch, channels) + size, np.nan, dtype)
    assert cpu.points_to_nchw(points, mat, m, grid, offset, out) is out
    bound = reference.points_to_nchw(np.abs(points), np.abs(mat), m, grid, offset, np.empty_like(out))
    assert (np.abs(out - want) <= 2 * mat.size * np.finfo(dtype).eps * bound).all()


def test_tiles_to_points_reads_an_nchw_view():
    """conv2d hands the transform x.transpose(2, 3, 0, 1), an (H, W, N, C) view."""
    x = np.random.default_rng(0).standard_normal((3, 5, 6, 7)).astype(np.float32)
    at, _, bt = reference.winograd_matrices(2, 3)
    view = x.transpose(2, 3, 0, 1)
    got = cpu.tiles_to_points(view, bt, 2, (3, 4), (1, 1))
    np.testing.assert_array_equal(got, cpu.tiles_to_points(np.ascontiguousarray(view).reshape(6, 7, 15),
                                                           bt, 2, (3, 4), (1, 1)))


@pytest.mark.parametrize("terms", cpu.TERMS)
def test_a_transform_row_adds_its_terms_left_to_right_after_dst(terms):
    """The order of the per-term axpys the kernels had: training runs stay bit for bit.
    At 2^24 float32 counts in steps of 2, so each +1 added alone is lost."""
    src, starts, coefs = np.ones(terms, np.float32), np.arange(terms), np.ones(terms, np.float32)
    dst = np.array([2.0**24], np.float32)
    cpu._dot(dst, 0, src, starts, coefs, 1, True)
    assert dst[0] == 2.0**24  # ((2^24 + 1) + 1) ..., not 2^24 + (1 + 1 + ...)
    cpu._dot(dst, 0, src, starts, coefs, 1, False)
    assert dst[0] == terms


@pytest.mark.parametrize("m, r", TILES)
def test_the_matrices_compute_a_correlation(m, r):
    """A^T [(G g) (.) (B^T d)] = sum_k g_k d_(i+k), in one dimension, to float64 rounding."""
    at, g, bt = reference.winograd_matrices(m, r)
    assert at.shape == (m, m + r - 1) and g.shape == (m + r - 1, r) and bt.shape == (m + r - 1,) * 2
    rng = np.random.default_rng(m * 10 + r)
    for _ in range(20):
        kernel, data = rng.standard_normal(r), rng.standard_normal(m + r - 1)
        expected = np.correlate(data, kernel, mode="valid")
        np.testing.assert_allclose(at @ ((g @ kernel) * (bt @ data)), expected, rtol=1e-12, atol=1e-12)


def test_the_f2x3_matrices_are_lavin_and_grays():
    at, g, bt = reference.winograd_matrices(2, 3)
    np.testing.assert_array_equal(at, [[1, 1, 1, 0], [0, 1, -1, 1]])
    np.testing.assert_array_equal(g, [[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])


@st.composite
def winograd_cases(draw, max_batch=3, max_channels=3, max_out=7):
    """Stride-1 square 3x3 or 5x5 convolutions, padding 0 .. r-1, built from the output size."""
    r = draw(st.sampled_from([3, 5]))
    n, c, k = draw(st.integers(1, max_batch)), draw(st.integers(1, max_channels)), draw(st.integers(1, max_channels))
    out = (draw(st.integers(1, max_out)), draw(st.integers(1, max_out)))
    padding = tuple(draw(st.integers(0, min(r - 1, (o + r - 2) // 2))) for o in out)
    size = tuple(o + r - 1 - 2 * p for o, p in zip(out, padding))
    return mst.ConvCase((n, c) + size, (k, c, r, r), (1, 1), padding, (1, 1), 1, (n, k) + out)


@contextlib.contextmanager
def winograd_everywhere():
    """The rule with no channel threshold, so small drawn shapes take Winograd too."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(conv_algorithms, "WINOGRAD_MIN_CHANNELS", 1)
        yield


def run_conv(case, x, w, b, gy, algorithm=None, transpose_x=False):
    """(y, gx, gw, gb) through F.conv2d, with ``algorithm`` forced if given."""
    chosen = conv_algorithms.choose_algorithm
    if algorithm is not None:
        conv_algorithms.choose_algorithm = lambda *args: algorithm
    try:
        if transpose_x:  # the same values, in a non-contiguous (N, C, W, H)-ordered array
            x = np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
        tensors = [md.tensor(a, requires_grad=True) for a in (x, w, b)]
        y = F.conv2d(*tensors, padding=case.padding)
        y.backward(gy)
    finally:
        conv_algorithms.choose_algorithm = chosen
    return [y.numpy()] + [t.grad for t in tensors]


def drawn_arrays(case, seed, dtype=np.float64):
    rng = mst.rng(seed)
    return [rng.uniform(-1, 1, shape).astype(dtype)
            for shape in (case.x_shape, case.w_shape, case.w_shape[:1], case.out_shape)]


@given(case=winograd_cases(), seed=mst.seeds(), transpose_x=st.booleans())
@example(case=mst.ConvCase((2, 3, 9, 9), (4, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1, (2, 4, 9, 9)),
         seed=0, transpose_x=True)
def test_winograd_equals_im2col_in_float64(case, seed, transpose_x):
    """Every Winograd tile on every drawn shape, a non-contiguous input among them."""
    x, w, b, gy = drawn_arrays(case, seed)
    expected = run_conv(case, x, w, b, gy, "im2col")
    for tile in (2, 4):
        got = run_conv(case, x, w, b, gy, f"winograd_{tile}x{tile}", transpose_x)
        for g, e in zip(got, expected):
            assert g.shape == e.shape and g.flags.c_contiguous
            np.testing.assert_allclose(g, e, rtol=1e-9, atol=1e-9 * max(1.0, np.abs(e).max()))


@given(case=winograd_cases(max_channels=8), seed=mst.seeds())
def test_winograd_float32_is_within_its_bound_of_float64(case, seed):
    x, w, b, gy = drawn_arrays(case, seed)
    exact = run_conv(case, x, w, b, gy, "im2col")
    magnitude = run_conv(case, *(np.abs(a) for a in (x, w, b, gy)), "im2col")
    with winograd_everywhere():
        assert conv_algorithms.choose_algorithm(case.x_shape, case.w_shape, (1, 1), case.padding, (1, 1), 1,
                                                "cpu").startswith("winograd")
        got_by_rule = run_conv(case, *(a.astype(np.float32) for a in (x, w, b, gy)))
    for m in (2, 4):
        got = run_conv(case, *(a.astype(np.float32) for a in (x, w, b, gy)), f"winograd_{m}x{m}")
        if m == conv_algorithms.WINOGRAD_TILE[case.w_shape[2]]:
            for g, by_rule in zip(got, got_by_rule):
                np.testing.assert_array_equal(g, by_rule)
        bound = EPS_BOUND[(m, case.w_shape[2])] * np.finfo(np.float32).eps
        for g, e, scale in zip(got, exact, magnitude):
            assert g.dtype == np.float32
            assert np.abs(g - e).max() <= bound * np.abs(scale).max()


@pytest.mark.parametrize("case", [
    mst.ConvCase((8, 64, 8, 8), (64, 64, 3, 3), (1, 1), (1, 1), (1, 1), 1, (8, 64, 8, 8)),  # ResNet-20 stage 3
    mst.ConvCase((4, 64, 15, 15), (64, 64, 5, 5), (1, 1), (2, 2), (1, 1), 1, (4, 64, 15, 15)),  # AlexNet-LRN conv2
], ids=["resnet20-stage3", "alexnet-lrn-conv2"])
def test_network_layers_in_float32_are_within_128_eps(case):
    """Layers as the rule serves them, at their channel counts: within 128 eps of
    the output's own scale (measured: 9-80, see the module docstring)."""
    x, w, b, gy = drawn_arrays(case, 7)
    w *= np.sqrt(6 / (w.shape[1] * w.shape[2] * w.shape[3]))  # He-scaled, as in a network
    exact = run_conv(case, x, w, b, gy, "im2col")
    got = run_conv(case, *(a.astype(np.float32) for a in (x, w, b, gy)))
    for g, e in zip(got, exact):
        assert np.abs(g - e).max() <= 128 * np.finfo(np.float32).eps * np.abs(e).max()


def test_the_weight_gradient_reuses_the_forward_input_points(monkeypatch):
    """Backward takes V from forward (one input transform per slice, not two), keeps it
    while the graph is kept (retain_graph), counts it in saved_bytes, and frees it with
    the graph; the gradients are those of im2col."""
    case = mst.ConvCase((8, 16, 12, 12), (16, 16, 3, 3), (1, 1), (1, 1), (1, 1), 1, (8, 16, 12, 12))
    x, w, b, gy = drawn_arrays(case, 3)
    expected = run_conv(case, x, w, b, gy, "im2col")
    transforms = []
    original = conv_algorithms.Winograd._input_points
    monkeypatch.setattr(conv_algorithms.Winograd, "_input_points",
                        lambda self, part: transforms.append(len(part)) or original(self, part))
    tensors = [md.tensor(a, requires_grad=True) for a in (x, w, b)]
    y = F.conv2d(*tensors, padding=1)
    assert y.creator.algorithm == "winograd_4x4"
    assert sum(transforms) == 8 and md.viz.saved_bytes(y.creator) > x.nbytes + w.nbytes
    y.backward(gy, retain_graph=True)
    y.backward(gy)
    assert sum(transforms) == 8  # none made again in either backward
    for t, e in zip(tensors, expected[1:]):
        np.testing.assert_allclose(t.grad, 2 * e, rtol=1e-9, atol=1e-9 * np.abs(e).max())
    with pytest.raises(ValueError, match="saved values are gone"):
        _ = y.creator.saved_tensors
    frozen = md.tensor(w)  # no weight gradient wanted: no points kept
    z = F.conv2d(md.tensor(x, requires_grad=True), frozen, padding=1)
    assert md.viz.saved_bytes(z.creator) == x.nbytes + w.nbytes


LAYERS = {  # (x shape, w shape, stride, padding, dilation, groups, device) -> algorithm
    "LeNet-5 conv1, 1 channel": (((128, 1, 28, 28), (20, 1, 5, 5), (1, 1), (2, 2), (1, 1), 1, "cpu"),
                                 "im2col_images"),
    "LeNet-5 conv2, 20->50 5x5": (((128, 20, 14, 14), (50, 20, 5, 5), (1, 1), (2, 2), (1, 1), 1, "cpu"),
                                  "winograd_2x2"),
    "ResNet-20 stem, 3 channels": (((128, 3, 32, 32), (16, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1, "cpu"),
                                   "im2col_images"),
    "ResNet-50 stem, 7x7 stride 2": (((16, 3, 224, 224), (64, 3, 7, 7), (2, 2), (3, 3), (1, 1), 1, "cpu"),
                                     "im2col_images"),
    "3 channels, 256 output pixels": (((128, 3, 32, 32), (16, 3, 3, 3), (2, 2), (1, 1), (1, 1), 1, "cpu"), "im2col"),
    "3 channels, grouped": (((128, 3, 32, 32), (3, 1, 3, 3), (1, 1), (1, 1), (1, 1), 3, "cpu"), "im2col"),
    "3 channels on the GPU": (((128, 3, 32, 32), (16, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1, "cuda"), "im2col"),
    "ResNet-50 3x3 stride 2, 128 channels at 56x56": (((16, 128, 56, 56), (128, 128, 3, 3), (2, 2), (1, 1), (1, 1),
                                                       1, "cpu"), "im2col"),
    "ResNet-20 stage 1, 16 channels": (((128, 16, 32, 32), (16, 16, 3, 3), (1, 1), (1, 1), (1, 1), 1, "cpu"),
                                       "winograd_4x4"),
    "15 channels": (((128, 15, 32, 32), (16, 15, 3, 3), (1, 1), (1, 1), (1, 1), 1, "cpu"), "im2col_images"),
    "ResNet-20 stage 2, 32 channels": (((128, 32, 16, 16), (32, 32, 3, 3), (1, 1), (1, 1), (1, 1), 1, "cpu"),
                                       "winograd_4x4"),
    "ResNet-20 stage 3, 64 channels": (((128, 64, 8, 8), (64, 64, 3, 3), (1, 1), (1, 1), (1, 1), 1, "cpu"),
                                       "winograd_4x4"),
    "stride 2": (((128, 32, 16, 16), (64, 32, 3, 3), (2, 2), (1, 1), (1, 1), 1, "cpu"), "im2col"),
    "1x1 shortcut, stride 2": (((128, 16, 32, 32), (32, 16, 1, 1), (2, 2), (0, 0), (1, 1), 1, "cpu"), "im2col"),
    "1x1, stride 1": (((128, 64, 8, 8), (256, 64, 1, 1), (1, 1), (0, 0), (1, 1), 1, "cpu"), "pointwise"),
    "AlexNet-LRN conv2, 64 5x5": (((128, 64, 15, 15), (64, 64, 5, 5), (1, 1), (2, 2), (1, 1), 1, "cpu"),
                                  "winograd_2x2"),
    "dilated 3x3": (((8, 64, 16, 16), (64, 64, 3, 3), (1, 1), (2, 2), (2, 2), 1, "cpu"), "im2col"),
    "grouped 3x3": (((8, 64, 16, 16), (64, 32, 3, 3), (1, 1), (1, 1), (1, 1), 2, "cpu"), "im2col"),
    "7x7": (((8, 64, 16, 16), (64, 64, 7, 7), (1, 1), (3, 3), (1, 1), 1, "cpu"), "im2col"),
    "3x5": (((8, 64, 16, 16), (64, 64, 3, 5), (1, 1), (1, 2), (1, 1), 1, "cpu"), "im2col"),
    "on the GPU": (((128, 64, 8, 8), (64, 64, 3, 3), (1, 1), (1, 1), (1, 1), 1, "cuda"), "im2col"),
}


@pytest.mark.parametrize("layer", LAYERS)
def test_the_rule_pins_its_choices(layer):
    args, expected = LAYERS[layer]
    assert conv_algorithms.choose_algorithm(*args) == expected
