"""The CUDA backend: every CUDA kernel against the CPU kernels, float64 gradient
checks on the GPU, the device API, and a short LeNet-5 training run.

The GPU tests are marked ``cuda`` and run when MINIDL_TEST_DEVICE=cuda (the
README's command, on a machine with an NVIDIA GPU and ``minidl[cuda12]``):

    MINIDL_TEST_DEVICE=cuda .venv/bin/python -m pytest tests -m "cuda or not slow" -ra

Elsewhere they are skipped with the reason "no CUDA device". When
MINIDL_TEST_DEVICE=cuda is set but CuPy or the GPU is missing they fail with the
backend's error instead: a GPU run that tests nothing must not look green.
The last tests run everywhere: without CuPy, asking for "cuda" raises a clear
error, and the CUDA kernel package imports without CuPy.
"""

import os
import re
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minidl as md
from minidl import backend
from minidl.functional.arguments import pool_output_size
from minidl.kernels import cpu as cpu_kernels
from minidl.kernels import reference
from minidl.testing import strategies as mst

F = md.functional
DTYPES = (np.float32, np.float64)
GRADCHECK_EXAMPLES = max(5, settings().max_examples // 4)

needs_gpu = pytest.mark.skipif(
    os.environ.get("MINIDL_TEST_DEVICE", "cpu") != "cuda",
    reason="no CUDA device (set MINIDL_TEST_DEVICE=cuda on a machine with an NVIDIA GPU and CuPy)",
)


def gpu_test(test):
    return pytest.mark.cuda(needs_gpu(test))


@pytest.fixture(scope="module")
def cp():
    """CuPy, or the backend's error (MINIDL_TEST_DEVICE=cuda without a usable GPU)."""
    return backend.require_cupy("tests/test_cuda_ops.py with MINIDL_TEST_DEVICE=cuda")


@pytest.fixture(scope="module")
def gpu_kernels(cp):
    import minidl.kernels.cuda as kernels
    return kernels


def host(array):
    return backend.to_device(array, "cpu")


def assert_matches(gpu, cpu, dtype, what, scale=0.0):
    """GPU result == CPU result up to rounding: float32 to ~1e-5, float64 to ~1e-10,
    relative to the result's magnitude or ``scale``, the size of the terms it was
    computed from (where they cancel, their rounding is what both sides carry)."""
    gpu = host(gpu)
    assert gpu.shape == cpu.shape, f"{what}: shape {gpu.shape} on the GPU, {cpu.shape} on the CPU"
    assert gpu.dtype == cpu.dtype, f"{what}: dtype {gpu.dtype} on the GPU, {cpu.dtype} on the CPU"
    tol = 1e-5 if np.dtype(dtype) == np.float32 else 1e-10
    scale = max(1.0, scale, float(np.abs(cpu).max()) if cpu.size else 0.0)
    np.testing.assert_allclose(gpu, cpu, rtol=tol, atol=tol * scale, err_msg=what)


def draw_array(seed, shape, dtype, low=-2.0, high=2.0):
    return np.random.default_rng(seed).uniform(low, high, shape).astype(dtype)


# ---- each CUDA kernel equals the CPU kernel ---------------------------------

@gpu_test
@pytest.mark.parametrize("dtype", DTYPES)
@given(case=mst.conv2d_cases(max_batch=3, max_channels=4), seed=mst.seeds())
def test_im2col_and_col2im_match_cpu(cp, gpu_kernels, dtype, case, seed):
    x = draw_array(seed, case.x_shape, dtype)
    kernel = case.w_shape[2:]
    args = (kernel, case.stride, case.padding, case.dilation)
    cols = cpu_kernels.im2col(x, *args)
    np.testing.assert_array_equal(host(gpu_kernels.im2col(cp.asarray(x), *args)), cols)
    g = draw_array(seed + 1, cols.shape, dtype)
    assert_matches(gpu_kernels.col2im(cp.asarray(g), x.shape, *args),
                   cpu_kernels.col2im(g, x.shape, *args), dtype, "col2im")


def pool_case_arrays(case, seed, dtype):
    """x on a coarse grid of values (so windows hold ties: both sides must pick the
    first maximum), the output size the op would pass, and an upstream gradient."""
    x = np.round(draw_array(seed, case.x_shape, dtype) * 2) / 2
    output_size = tuple(
        pool_output_size(size, k, s, p, case.ceil_mode, "test", "side")
        for size, k, s, p in zip(case.x_shape[2:], case.kernel_size, case.stride, case.padding)
    )
    gy = draw_array(seed + 1, case.x_shape[:2] + output_size, dtype)
    return x.astype(dtype), output_size, gy


@gpu_test
@pytest.mark.parametrize("dtype", DTYPES)
@given(case=mst.pool2d_cases(), seed=mst.seeds())
def test_max_pool_matches_cpu(cp, gpu_kernels, dtype, case, seed):
    x, output_size, gy = pool_case_arrays(case, seed, dtype)
    window = (case.kernel_size, case.stride, case.padding)
    y, argmax = cpu_kernels.max_pool2d_forward(x, *window, output_size)
    gpu_y, gpu_argmax = gpu_kernels.max_pool2d_forward(cp.asarray(x), *window, output_size)
    np.testing.assert_array_equal(host(gpu_y), y)
    np.testing.assert_array_equal(host(gpu_argmax), argmax)
    assert host(gpu_argmax).dtype == np.int32
    assert_matches(
        gpu_kernels.max_pool2d_backward(cp.asarray(gy), gpu_argmax, x.shape, *window),
        cpu_kernels.max_pool2d_backward(gy, argmax, x.shape, *window), dtype, "max_pool2d_backward",
    )


@gpu_test
@pytest.mark.parametrize("dtype", DTYPES)
def test_max_pool_propagates_nan_like_cpu(cp, gpu_kernels, dtype):
    """A NaN wins over every number; the argmax names the window's first NaN."""
    x = np.array([[[[1.0, np.nan, 3.0, 0.0],
                    [np.nan, 2.0, 5.0, 4.0]]]], dtype=dtype)
    window = ((2, 2), (2, 2), (0, 0), (1, 2))
    y, argmax = cpu_kernels.max_pool2d_forward(x, *window)
    gpu_y, gpu_argmax = gpu_kernels.max_pool2d_forward(cp.asarray(x), *window)
    np.testing.assert_array_equal(host(gpu_y), y)
    np.testing.assert_array_equal(host(gpu_argmax), argmax)
    np.testing.assert_array_equal(host(gpu_y), np.array([[[[np.nan, 5.0]]]], dtype))
    np.testing.assert_array_equal(host(gpu_argmax), [[[[1, 2]]]])


@gpu_test
@pytest.mark.parametrize("dtype", DTYPES)
@given(case=mst.pool2d_cases(), seed=mst.seeds())
def test_avg_pool_matches_cpu(cp, gpu_kernels, dtype, case, seed):
    x, output_size, gy = pool_case_arrays(case, seed, dtype)
    window = (case.kernel_size, case.stride, case.padding)
    assert_matches(gpu_kernels.avg_pool2d_forward(cp.asarray(x), *window, output_size),
                   cpu_kernels.avg_pool2d_forward(x, *window, output_size), dtype, "avg_pool2d_forward")
    assert_matches(gpu_kernels.avg_pool2d_backward(cp.asarray(gy), x.shape, *window),
                   cpu_kernels.avg_pool2d_backward(gy, x.shape, *window), dtype, "avg_pool2d_backward")


@gpu_test
@pytest.mark.parametrize("dtype", DTYPES)
@given(shape=mst.nchw_shapes(max_side=9), out=st.tuples(st.integers(1, 12), st.integers(1, 12)), seed=mst.seeds())
def test_adaptive_avg_pool_matches_cpu(cp, gpu_kernels, dtype, shape, out, seed):
    x, gy = draw_array(seed, shape, dtype), draw_array(seed + 1, shape[:2] + out, dtype)
    assert_matches(gpu_kernels.adaptive_avg_pool2d_forward(cp.asarray(x), out),
                   cpu_kernels.adaptive_avg_pool2d_forward(x, out), dtype, "adaptive_avg_pool2d_forward")
    assert_matches(gpu_kernels.adaptive_avg_pool2d_backward(cp.asarray(gy), shape),
                   cpu_kernels.adaptive_avg_pool2d_backward(gy, shape), dtype, "adaptive_avg_pool2d_backward")


@st.composite
def batch_norm_shapes(draw):
    """(N, C, L) with at least two values per channel; L up to 300 so a channel
    spans several blocks of the GPU reduction."""
    n = draw(st.integers(1, 6))
    length = draw(st.integers(1 if n > 1 else 2, 300))
    return n, draw(st.integers(1, 5)), length


@gpu_test
@pytest.mark.parametrize("dtype", DTYPES)
@given(shape=batch_norm_shapes(), seed=mst.seeds(), offset=st.sampled_from([0.0, 100.0]))
def test_batch_norm_matches_cpu(cp, gpu_kernels, dtype, shape, seed, offset):
    # offset 100 puts the mean far from 0 against a spread of ~1: a naive
    # E[x^2] - E[x]^2 in float32 would lose the variance there.
    x = draw_array(seed, shape, dtype) + dtype(offset)
    gamma = draw_array(seed + 1, shape[1], dtype, 0.5, 1.5)
    beta = draw_array(seed + 2, shape[1], dtype)
    gy = draw_array(seed + 3, shape, dtype)
    eps = 1e-5
    # x - mean carries the rounding of x's magnitude, through gamma / std.
    scale = float(np.abs(x).max() * gamma.max() / np.sqrt(x.var(axis=(0, 2)).min() + eps))
    y, mean, var = cpu_kernels.batch_norm_forward_train(x, gamma, beta, eps)
    gpu = gpu_kernels.batch_norm_forward_train(*(cp.asarray(a) for a in (x, gamma, beta)), eps)
    for name, got, want in zip(("y", "mean", "var"), gpu, (y, mean, var)):
        assert_matches(got, want, dtype, f"batch_norm_forward_train {name}", scale)
    exact_var = np.var(x.astype(np.float64), axis=(0, 2))
    np.testing.assert_allclose(host(gpu[2]), exact_var, rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=1e-6, err_msg="GPU variance against the float64 two-pass one")
    grads = cpu_kernels.batch_norm_backward(gy, x, gamma, mean, var, eps)
    gpu_grads = gpu_kernels.batch_norm_backward(
        *(cp.asarray(a) for a in (gy, x, gamma, mean, var)), eps
    )
    for name, got, want in zip(("gx", "ggamma", "gbeta"), gpu_grads, grads):
        assert_matches(got, want, dtype, f"batch_norm_backward {name}", scale * np.abs(gy).max())


@gpu_test
@pytest.mark.parametrize("dtype", DTYPES)
@given(shape=mst.nchw_shapes(max_channels=9), size=st.integers(1, 7), seed=mst.seeds(),
       alpha=st.floats(0.0, 0.5), beta=st.floats(0.25, 1.0), k=st.floats(0.5, 2.0))
def test_lrn_matches_cpu(cp, gpu_kernels, dtype, shape, size, seed, alpha, beta, k):
    x = draw_array(seed, shape, dtype)
    gy = draw_array(seed + 1, shape, dtype)
    y, scale = cpu_kernels.lrn_forward(x, size, alpha, beta, k)
    gpu_y, gpu_scale = gpu_kernels.lrn_forward(cp.asarray(x), size, alpha, beta, k)
    assert_matches(gpu_y, y, dtype, "lrn_forward y")
    assert_matches(gpu_scale, scale, dtype, "lrn_forward scale")
    # gx is a difference of two terms; each is at most this large.
    terms = max(float(np.abs(gy * scale ** -beta).max()),
                2 * alpha * beta * size * float(np.abs(x).max() * np.abs(gy * y / scale).max()))
    assert_matches(
        gpu_kernels.lrn_backward(cp.asarray(x), gpu_y, gpu_scale, cp.asarray(gy), size, alpha, beta),
        cpu_kernels.lrn_backward(x, y, scale, gy, size, alpha, beta), dtype, "lrn_backward", terms,
    )


@gpu_test
@pytest.mark.parametrize("dtype", DTYPES)
@given(shape=mst.shapes(max_dims=4, max_side=9), p=st.floats(0.0, 0.99),
       seed=st.integers(0, 2**63 - 1))
def test_dropout_mask_is_bit_identical_to_cpu(cp, gpu_kernels, dtype, shape, p, seed):
    mask = gpu_kernels.dropout_mask(shape, p, seed, dtype)
    np.testing.assert_array_equal(host(mask), cpu_kernels.dropout_mask(shape, p, seed, dtype))
    assert host(mask).dtype == np.dtype(dtype)


@gpu_test
@pytest.mark.parametrize("dtype", DTYPES)
@given(rows=st.integers(1, 6), classes=st.integers(1, 70), seed=mst.seeds(),
       spread=st.sampled_from([1.0, 50.0]))
def test_cross_entropy_matches_cpu(cp, gpu_kernels, dtype, rows, classes, seed, spread):
    logits = draw_array(seed, (rows, classes), dtype) * dtype(spread)
    labels = np.random.default_rng(seed + 1).integers(0, classes, rows)
    gloss = draw_array(seed + 2, rows, dtype)
    loss, log_prob = cpu_kernels.softmax_cross_entropy_forward(logits, labels)
    gpu_loss, gpu_log_prob = gpu_kernels.softmax_cross_entropy_forward(cp.asarray(logits), cp.asarray(labels))
    assert_matches(gpu_loss, loss, dtype, "softmax_cross_entropy_forward loss")
    assert_matches(gpu_log_prob, log_prob, dtype, "softmax_cross_entropy_forward log_prob")
    assert_matches(
        gpu_kernels.softmax_cross_entropy_backward(gpu_log_prob, cp.asarray(labels), cp.asarray(gloss)),
        cpu_kernels.softmax_cross_entropy_backward(log_prob, labels, gloss), dtype,
        "softmax_cross_entropy_backward",
    )


@gpu_test
def test_kernels_read_non_contiguous_input(cp, gpu_kernels):
    """Launchers copy strided views to C order: a transposed array gives the same result."""
    x = draw_array(0, (3, 2, 5, 4), np.float64)
    view = cp.asarray(x.transpose(1, 0, 2, 3).copy()).transpose(1, 0, 2, 3)
    assert not view.flags.c_contiguous
    args = ((2, 3), (1, 2), (1, 1), (1, 1))
    np.testing.assert_array_equal(host(gpu_kernels.im2col(view, *args)), reference.im2col(x, *args))
    y, _ = gpu_kernels.lrn_forward(view, 3, 0.1, 0.75, 2.0)
    assert_matches(y, reference.lrn_forward(x, 3, 0.1, 0.75, 2.0)[0], np.float64, "lrn_forward")


@gpu_test
def test_kernels_reject_other_dtypes(cp, gpu_kernels):
    with pytest.raises(TypeError, match="im2col.*float16"):
        gpu_kernels.im2col(cp.zeros((1, 1, 3, 3), np.float16), (2, 2), (1, 1), (0, 0), (1, 1))
    with pytest.raises(TypeError, match="dropout_mask.*int32"):
        gpu_kernels.dropout_mask((3,), 0.5, 0, np.int32)


# ---- float64 gradient checks of the ops on the GPU ----------------------------

def gpu_tensor(array):
    return md.tensor(array, requires_grad=True, device="cuda")


@gpu_test
@settings(max_examples=GRADCHECK_EXAMPLES)
@given(case=mst.conv2d_cases(max_batch=2, max_channels=2), seed=mst.seeds(), bias=st.booleans())
def test_conv2d_gradcheck_on_gpu(cp, case, seed, bias):
    x = gpu_tensor(draw_array(seed, case.x_shape, np.float64))
    w = gpu_tensor(draw_array(seed + 1, case.w_shape, np.float64))
    b = gpu_tensor(draw_array(seed + 2, case.w_shape[0], np.float64)) if bias else None
    md.testing.gradcheck(
        lambda x, w, b=None: F.conv2d(x, w, b, case.stride, case.padding, case.dilation, case.groups),
        *((x, w, b) if bias else (x, w)),
    )


@gpu_test
@settings(max_examples=GRADCHECK_EXAMPLES)
@given(case=mst.pool2d_cases(), data=st.data())
def test_pool_gradcheck_on_gpu(cp, case, data):
    x = gpu_tensor(data.draw(mst.distinct_arrays(case.x_shape)))
    window = dict(kernel_size=case.kernel_size, stride=case.stride, padding=case.padding,
                  ceil_mode=case.ceil_mode)
    md.testing.gradcheck(lambda t: F.max_pool2d(t, **window), x)
    md.testing.gradcheck(lambda t: F.avg_pool2d(t, **window), x)


@gpu_test
@settings(max_examples=GRADCHECK_EXAMPLES)
@given(shape=mst.nchw_shapes(max_batch=3, max_channels=3, max_side=4), seed=mst.seeds())
def test_batch_norm_gradcheck_on_gpu(cp, shape, seed):
    if shape[0] * shape[2] * shape[3] < 2:
        shape = (2,) + shape[1:]
    x = gpu_tensor(draw_array(seed, shape, np.float64))
    gamma = gpu_tensor(draw_array(seed + 1, shape[1], np.float64, 0.5, 1.5))
    beta = gpu_tensor(draw_array(seed + 2, shape[1], np.float64))
    md.testing.gradcheck(lambda x, g, b: F.batch_norm(x, None, None, g, b, training=True), x, gamma, beta)


@gpu_test
@settings(max_examples=GRADCHECK_EXAMPLES)
@given(shape=mst.nchw_shapes(max_channels=7, max_side=3), size=st.integers(1, 6), seed=mst.seeds())
def test_lrn_gradcheck_on_gpu(cp, shape, size, seed):
    x = gpu_tensor(draw_array(seed, shape, np.float64))
    md.testing.gradcheck(lambda t: F.local_response_norm(t, size, alpha=0.1, beta=0.75, k=2.0), x)


@gpu_test
@settings(max_examples=GRADCHECK_EXAMPLES)
@given(shape=mst.shapes(max_dims=3), p=st.floats(0.1, 0.9), seed=mst.seeds())
def test_dropout_gradcheck_on_gpu(cp, shape, p, seed):
    x = gpu_tensor(draw_array(seed, shape, np.float64))

    def same_mask_dropout(t):  # gradcheck calls fn many times: reseed for one mask
        md.manual_seed(seed)
        return F.dropout(t, p)

    md.testing.gradcheck(same_mask_dropout, x)


@gpu_test
@settings(max_examples=GRADCHECK_EXAMPLES)
@given(rows=st.integers(1, 4), classes=st.integers(1, 40), seed=mst.seeds(),
       reduction=st.sampled_from(["mean", "sum", "none"]))
def test_cross_entropy_gradcheck_on_gpu(cp, rows, classes, seed, reduction):
    logits = gpu_tensor(draw_array(seed, (rows, classes), np.float64, -5.0, 5.0))
    labels = cp.asarray(np.random.default_rng(seed).integers(0, classes, rows))
    md.testing.gradcheck(lambda t: F.cross_entropy(t, labels, reduction=reduction), logits)


# ---- the device API -------------------------------------------------------------

@gpu_test
def test_tensor_moves_to_cuda_and_back(cp):
    x = md.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    g = x.to("cuda")
    assert g.device == "cuda" and isinstance(g.data, cp.ndarray)
    assert g.requires_grad and g.is_leaf and g.dtype == np.float64
    assert g.to("cuda") is g and g.to("cuda:0") is g
    np.testing.assert_array_equal(g.numpy(), x.numpy())
    back = g.to("cpu")
    assert back.device == "cpu" and isinstance(back.data, np.ndarray)
    (g * g).sum().backward()
    assert isinstance(g.grad, cp.ndarray)
    np.testing.assert_array_equal(host(g.grad), 2 * x.numpy())
    assert x.grad is None  # the copy is a new leaf


@gpu_test
def test_a_cupy_array_made_before_minidl_loads_cupy_is_a_cuda_tensor():
    code = (
        "import cupy, minidl as md\n"
        "t = md.tensor(cupy.ones(3))\n"
        "assert t.device == 'cuda', t.device\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@gpu_test
def test_module_to_cuda_moves_parameters_buffers_and_gradients(cp):
    md.manual_seed(0)
    net = md.models.resnet20()
    x = md.tensor(draw_array(0, (2, 3, 32, 32), np.float32))
    F.cross_entropy(net(x), np.array([1, 2])).backward()
    assert net.to("cuda") is net
    for name, p in net.named_parameters():
        assert isinstance(p.data, cp.ndarray), name
        assert isinstance(p.grad, cp.ndarray), name
    buffers = dict(net.named_buffers())
    assert buffers and all(isinstance(b.data, cp.ndarray) for b in buffers.values())
    y = net(x.to("cuda"))
    assert y.device == "cuda" and y.shape == (2, 10)
    net.to("cpu")
    assert all(isinstance(p.data, np.ndarray) for p in net.parameters())


@gpu_test
def test_mixing_devices_is_a_clear_error(cp):
    a = md.tensor(np.ones(3))
    b = md.tensor(np.ones(3)).to("cuda")
    with pytest.raises(ValueError, match="cpu.*cuda|cuda.*cpu"):
        a + b
    x = md.tensor(np.ones((1, 1, 4, 4)))
    w = md.tensor(np.ones((1, 1, 2, 2))).to("cuda")
    with pytest.raises(ValueError, match="one device"):
        F.conv2d(x, w)
    net = md.nn.Linear(3, 2).to("cuda")
    with pytest.raises(ValueError, match="one device"):
        net(md.tensor(np.ones((1, 3), np.float32)))


def synthetic_fashion(count, seed):
    """Ten noisy 28x28 templates: learnable in a few steps, no dataset needed."""
    rng = np.random.default_rng(seed)
    templates = rng.uniform(0, 1, (10, 1, 28, 28))
    labels = np.arange(count) % 10
    images = templates[labels] + 0.3 * rng.standard_normal((count, 1, 28, 28))
    return images.astype(np.float32), labels


@gpu_test
def test_lenet5_trains_on_the_gpu(cp):
    images, labels = synthetic_fashion(64, seed=0)
    md.manual_seed(0)
    cpu_net = md.models.lenet5()
    md.manual_seed(0)
    net = md.models.lenet5().to("cuda")
    x, y = md.tensor(images).to("cuda"), cp.asarray(labels)
    first_cpu_loss = F.cross_entropy(cpu_net(md.tensor(images)), labels).item()
    optimizer = md.optim.SGD(net.parameters(), lr=0.02, momentum=0.9)
    losses = []
    for _ in range(40):  # on the CPU this run goes 2.30 -> 1.11, smoothly
        loss = F.cross_entropy(net(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(isinstance(p.data, cp.ndarray) for p in net.parameters())
    np.testing.assert_allclose(losses[0], first_cpu_loss, rtol=1e-4,
                               err_msg="same weights, same batch: the first loss agrees with the CPU")
    assert np.isfinite(losses).all()
    assert np.mean(losses[-5:]) < 0.7 * losses[0], f"loss did not fall: {np.round(losses, 3)}"


# ---- everywhere: the CUDA backend without CuPy --------------------------------

def test_minidl_and_the_cuda_kernels_import_without_cupy():
    code = (
        "import sys; sys.modules['cupy'] = None\n"
        "import minidl, minidl.kernels.cuda, minidl.commands.bench\n"
        "assert sys.modules['cupy'] is None\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.fixture
def without_cupy(monkeypatch):
    """minidl as it is on a machine where ``import cupy`` fails."""
    monkeypatch.setitem(sys.modules, "cupy", None)
    backend.cupy_state.cache_clear()
    yield
    backend.cupy_state.cache_clear()


def test_asking_for_cuda_without_cupy_raises_a_clear_error(without_cupy):
    import minidl.kernels.cuda as cuda_kernels

    attempts = {
        "Tensor.to": lambda: md.tensor(np.ones(2)).to("cuda"),
        "md.tensor(device=)": lambda: md.tensor(np.ones(2), device="cuda"),
        "Module.to": lambda: md.nn.Linear(2, 2).to("cuda"),
        "kernels('cuda')": lambda: backend.kernels("cuda"),
        "a CUDA kernel": lambda: cuda_kernels.dropout_mask((2,), 0.5, 0, np.float32),
    }
    for what, attempt in attempts.items():
        with pytest.raises(RuntimeError, match="CuPy.*" + re.escape(backend.cuda_install_hint())) as error:
            attempt()
        assert "not importable" in str(error.value), what
    assert md.tensor(np.ones(2)).to("cpu").device == "cpu"
