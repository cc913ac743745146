"""conv2d's "im2col_images" algorithm (im2col with a GEMM per image, for first layers
on the CPU): gradient checks in float64 through the public F.conv2d, and the same
results as one GEMM per slice ("im2col"), bit for bit apart from the order in which
the weight gradient adds its images.

The pixel threshold is lifted so that shapes small enough for finite differences
take it too. In float32 the weight gradient sums n*oh*ow products in another
order than im2col's: the two may differ by that sum's rounding, at most
n*oh*ow * eps times the same sum of absolute values.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
from minidl.functional import conv_algorithms
from minidl.testing import strategies as mst

F = md.functional


@st.composite
def first_layers(draw):
    """(x shape, w shape, stride, padding, dilation) of an ungrouped layer with 1-3 input
    channels (not a 1x1, stride-1, unpadded one: that is "pointwise")."""
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1 if (kh, kw) != (1, 1) else 2, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, kh // 2)), draw(st.integers(0, kw // 2)))
    size = tuple(dilation[k] * ((kh, kw)[k] - 1) + 1 - 2 * padding[k] + draw(st.integers(0, 4)) for k in (0, 1))
    size = tuple(max(1, s) for s in size)
    # batches past conv2d's 4 slices (MIN_SLICES): a slice of several images sums their GEMMs
    n, c, k = draw(st.integers(1, 9)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    return (n, c) + size, (k, c, kh, kw), stride, padding, dilation


def conv(algorithm, x, w, b, layer, gy):
    """y and the gradients of x, w, b (those that want one) with ``algorithm`` forced."""
    _, _, stride, padding, dilation = layer
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(conv_algorithms, "choose_algorithm", lambda *args: algorithm)
        tensors = [md.tensor(a, requires_grad=True) if a is not None else None for a in (x, w, b)]
        y = F.conv2d(*tensors, stride=stride, padding=padding, dilation=dilation)
        assert y.creator.algorithm == algorithm
        y.backward(gy)
    return [y.numpy()] + [t.grad for t in tensors if t is not None]


@given(layer=first_layers(), bias=st.booleans(), seed=mst.seeds(),
       requires=st.sampled_from([(True, True), (False, True), (True, False)]))
def test_conv2d_gradcheck_on_im2col_images(layer, bias, seed, requires):
    x_shape, w_shape, stride, padding, dilation = layer
    r = mst.rng(seed)
    x = md.tensor(r.uniform(-2, 2, x_shape), requires_grad=requires[0])
    w = md.tensor(r.uniform(-1, 1, w_shape), requires_grad=requires[1])
    b = md.tensor(r.uniform(-1, 1, w_shape[:1]), requires_grad=True) if bias else None
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(conv_algorithms, "PER_IMAGE_MIN_PIXELS", 1)
        assert conv_algorithms.choose_algorithm(x_shape, w_shape, stride, padding, dilation, 1, "cpu") == (
            "im2col_images")
        inputs = (x, w) if b is None else (x, w, b)
        md.testing.gradcheck(lambda *t: F.conv2d(*t, stride=stride, padding=padding, dilation=dilation), *inputs)


@given(layer=first_layers(), seed=mst.seeds(), dtype=st.sampled_from([np.float32, np.float64]),
       transposed=st.booleans())
def test_im2col_images_matches_im2col(layer, seed, dtype, transposed):
    x_shape, w_shape = layer[:2]
    r = mst.rng(seed)
    x = r.uniform(-2, 2, x_shape).astype(dtype)
    w, b = r.uniform(-1, 1, w_shape).astype(dtype), r.uniform(-1, 1, w_shape[0]).astype(dtype)
    _, _, stride, padding, dilation = layer
    y_shape = F.conv2d(md.tensor(x), md.tensor(w), stride=stride, padding=padding, dilation=dilation).shape
    gy = r.uniform(-1, 1, y_shape).astype(dtype)
    if transposed:  # non-contiguous x and gy, as a transposing op would hand them on
        x = np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
        gy = np.ascontiguousarray(gy.transpose(1, 0, 2, 3)).transpose(1, 0, 2, 3)
    one_gemm = conv("im2col", x, w, b, layer, gy)
    per_image = conv("im2col_images", x, w, b, layer, gy)
    for name, got, want in zip(["y", "gx", "gb"], [per_image[k] for k in (0, 1, 3)], [one_gemm[k] for k in (0, 1, 3)]):
        assert got.dtype == dtype and got.shape == want.shape, name
        np.testing.assert_allclose(got, want, rtol=8 * np.finfo(dtype).eps, atol=8 * np.finfo(dtype).eps * 16,
                                   err_msg=name)
    terms = gy.shape[0] * gy.shape[2] * gy.shape[3]
    magnitude = conv("im2col", np.abs(x), np.abs(w), np.abs(b), layer, np.abs(gy))[2]
    assert (np.abs(per_image[2] - one_gemm[2]) <= 2 * terms * np.finfo(dtype).eps * magnitude).all()


def test_the_first_layers_of_the_zoo_take_it_and_match_float64():
    """ResNet-20's stem at batch 8 (1,024 pixels an image): float32 within 16 eps of the
    float64 result relative to the scale of its terms."""
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((8, 3, 32, 32)), rng.standard_normal((16, 3, 3, 3))
    b = rng.standard_normal(16)
    layer = (x.shape, w.shape, (1, 1), (1, 1), (1, 1))
    assert conv_algorithms.choose_algorithm(*layer, 1, "cpu") == "im2col_images"
    gy = rng.standard_normal((8, 16, 32, 32))
    exact = conv("im2col", x, w, b, layer, gy)
    magnitude = conv("im2col", np.abs(x), np.abs(w), np.abs(b), layer, np.abs(gy))
    got = conv("im2col_images", *(a.astype(np.float32) for a in (x, w, b)), layer, gy.astype(np.float32))
    for name, g, e, m in zip(["y", "gx", "gw", "gb"], got, exact, magnitude):
        assert (np.abs(g - e) <= 16 * np.finfo(np.float32).eps * m).all(), name
