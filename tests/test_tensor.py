"""Tensor: dtype rules, array facts, conversions, and the methods that wrap ops."""

import numpy as np
import pytest

import minidl as md

F = md.functional


# ---- dtype rules --------------------------------------------------------------

@pytest.mark.parametrize("data", [[1.0, 2.0], [1, 2], 3.5, 7, [[True, False]], (0.5,)])
def test_lists_and_python_scalars_become_float32(data):
    assert md.tensor(data).dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_arrays_keep_their_float_dtype(dtype):
    assert md.tensor(np.zeros(3, dtype=dtype)).dtype == dtype


def test_integer_arrays_keep_their_dtype_and_cannot_require_grad():
    labels = md.tensor(np.array([1, 2], dtype=np.int64))
    assert labels.dtype == np.int64
    with pytest.raises(TypeError, match="only floating-point tensors can require grad.*int64"):
        md.tensor(np.array([1, 2]), requires_grad=True)


def test_an_explicit_dtype_wins():
    assert md.tensor([1, 2], dtype=np.float64).dtype == np.float64
    assert md.tensor(np.zeros(2), dtype=np.float32).dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", [
    lambda x: x * 0.5, lambda x: 0.5 * x, lambda x: x + 1, lambda x: 2 - x, lambda x: 1 / x,
    lambda x: x / 3, lambda x: x ** 2, lambda x: x * np.float64(0.5), lambda x: -x, lambda x: x.exp(),
])
def test_python_numbers_take_the_tensors_dtype(op, dtype):
    x = md.tensor(np.array([1.0, 2.0], dtype=dtype), requires_grad=True)
    y = op(x)
    assert y.dtype == dtype
    y.backward(np.ones(2, dtype=dtype))
    assert x.grad.dtype == dtype


def test_md_tensor_copies_a_tensor_but_wraps_an_array():
    a = np.array([1.0, 2.0])
    t = md.tensor(a)
    assert t.data is a
    u = md.tensor(t)
    assert u.data is not t.data
    np.testing.assert_array_equal(u.numpy(), a)


# ---- facts and conversions ----------------------------------------------------

def test_shape_ndim_size_len_and_device():
    x = md.tensor(np.zeros((2, 3, 4)))
    assert (x.shape, x.ndim, x.size, len(x), x.device) == ((2, 3, 4), 3, 24, 2, "cpu")
    with pytest.raises(TypeError, match="0-d"):
        len(md.tensor(np.array(1.0)))


def test_numpy_item_and_array_protocol():
    x = md.tensor(np.array([[2.5]]))
    assert x.item() == 2.5 and isinstance(x.item(), float)
    assert isinstance(x.numpy(), np.ndarray)
    np.testing.assert_array_equal(np.asarray(x, dtype=np.float32), [[2.5]])
    with pytest.raises(ValueError, match=r"item: only a one-element tensor.*\(2,\)"):
        md.tensor([1.0, 2.0]).item()


def test_to_cpu_returns_the_same_tensor_and_unknown_devices_are_errors():
    x = md.tensor([1.0], requires_grad=True)
    assert x.to("cpu") is x and x.cpu() is x
    with pytest.raises(ValueError, match="unknown device 'tpu'"):
        x.to("tpu")
    with pytest.raises(TypeError, match="device must be a string"):
        x.to(0)


def test_repr_shows_values_and_grad_state():
    assert repr(md.tensor([1.0])) == "tensor([1.], dtype=float32)"
    assert "requires_grad=True" in repr(md.tensor([1.0], requires_grad=True))
    assert "grad_fn=Mul" in repr(md.tensor([1.0], requires_grad=True) * 2)


def test_requires_grad_cannot_be_switched_off_on_a_non_leaf():
    y = md.tensor([1.0], requires_grad=True) * 2
    with pytest.raises(ValueError, match="detach"):
        y.requires_grad = False


def test_zero_grad_clears_the_gradient():
    x = md.tensor([1.0], requires_grad=True)
    (x * 2).backward(np.ones(1, dtype=np.float32))
    x.zero_grad()
    assert x.grad is None


# ---- methods that wrap ops ------------------------------------------------------

def test_astype_double_and_float_are_differentiable_casts():
    x = md.tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    y = x.double()
    assert y.dtype == np.float64 and y.float().dtype == np.float32
    (y * y).backward(np.ones(2))
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])


def test_reshape_and_transpose_accept_tuples_or_varargs():
    x = md.tensor(np.arange(6.0))
    assert x.reshape(2, 3).shape == x.reshape((2, 3)).shape == (2, 3)
    y = x.reshape(1, 2, 3)
    assert y.transpose(2, 0, 1).shape == y.transpose((2, 0, 1)).shape == (3, 1, 2)
    assert y.T.shape == y.transpose().shape == (3, 2, 1)
    assert y.flatten().shape == (6,)


def test_argmax_takes_the_first_maximum_and_does_not_require_grad():
    x = md.tensor(np.array([[1.0, 3.0, 3.0], [5.0, 5.0, 0.0]]), requires_grad=True)
    np.testing.assert_array_equal(x.argmax(axis=1).numpy(), [1, 0])
    assert not x.argmax().requires_grad


def test_indexing_with_a_list_a_tensor_and_a_tuple_of_tensors():
    x = md.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    np.testing.assert_array_equal(x[[1, 1]].numpy(), [[3.0, 4.0, 5.0]] * 2)
    index = md.tensor(np.array([2, 0]))
    np.testing.assert_array_equal(x[:, index].numpy(), [[2.0, 0.0], [5.0, 3.0]])
    x[(md.tensor(np.array([0, 1])), md.tensor(np.array([2, 2])))].backward(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(x.grad, [[0.0, 0.0, 1.0], [0.0, 0.0, 2.0]])


def test_a_numpy_array_on_the_left_calls_the_tensors_reflected_operators():
    x = md.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = np.array([3.0, 4.0]) * x
    assert isinstance(y, md.Tensor)
    y.backward(np.ones(2))
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])
