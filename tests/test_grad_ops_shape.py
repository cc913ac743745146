"""Gradient checks of the ops that move values: reshape, transpose, flatten, indexing, concat."""

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

import minidl as md
from minidl.testing import strategies as mst

F = md.functional


def _tensor(values, device):
    return md.tensor(np.asarray(values, dtype=np.float64), requires_grad=True, device=device)


def _prime_factors(n):
    factors, p = [], 2
    while n > 1:
        while n % p == 0:
            factors.append(p)
            n //= p
        p += 1
    return factors


@st.composite
def reshape_cases(draw):
    """(shape, target): the target regroups the size's prime factors, with 1s and maybe a -1."""
    shape = draw(mst.shapes(min_dims=0, max_dims=4))
    factors = draw(st.permutations(_prime_factors(int(np.prod(shape)))))
    cuts = sorted(draw(st.lists(st.integers(0, len(factors)), max_size=3)))
    bounds = [0] + cuts + [len(factors)]
    target = [int(np.prod(factors[a:b])) for a, b in zip(bounds, bounds[1:])]
    if draw(st.booleans()):
        target[draw(st.integers(0, len(target) - 1))] = -1
    return shape, tuple(target)


@given(case=reshape_cases(), seed=mst.seeds())
@example(case=((2, 3), (3, 2)), seed=0)
@example(case=((2, 3, 4), (-1, 4)), seed=0)
@example(case=((1,), ()), seed=0)
@example(case=((), (1, 1)), seed=0)
def test_reshape_gradcheck(case, seed, device):
    shape, target = case
    values = np.asarray(mst.rng(seed).uniform(-2, 2, shape))
    x = _tensor(values, device)
    assert x.reshape(target).shape == values.reshape(target).shape
    md.testing.gradcheck(lambda t: t.reshape(target), x)


@st.composite
def transpose_cases(draw):
    shape = draw(mst.shapes(min_dims=0, max_dims=4))
    if draw(st.booleans()):
        return shape, None
    axes = draw(st.permutations(range(len(shape))))
    return shape, tuple(a - len(shape) if draw(st.booleans()) else a for a in axes)


@given(case=transpose_cases(), seed=mst.seeds())
@example(case=((2, 3, 4), (2, 0, 1)), seed=0)
@example(case=((2, 3), None), seed=0)
def test_transpose_gradcheck(case, seed, device):
    shape, axes = case
    values = np.asarray(mst.rng(seed).uniform(-2, 2, shape))
    x = _tensor(values, device)
    fn = (lambda t: t.T) if axes is None else (lambda t: t.transpose(axes))
    np.testing.assert_array_equal(fn(x).numpy(), np.transpose(values, axes))
    md.testing.gradcheck(fn, x)


@given(shape=mst.shapes(min_dims=1, max_dims=4), start=st.integers(-4, 3), seed=mst.seeds())
@example(shape=(2, 3, 4, 5), start=1, seed=0)
@example(shape=(3,), start=0, seed=0)
def test_flatten_gradcheck(shape, start, seed, device):
    start = start % len(shape)
    values = np.asarray(mst.rng(seed).uniform(-2, 2, shape))
    x = _tensor(values, device)
    assert F.flatten(x, start).shape == shape[:start] + (int(np.prod(shape[start:])),)
    md.testing.gradcheck(lambda t: F.flatten(t, start), x)


@st.composite
def getitem_cases(draw):
    shape = draw(mst.shapes(min_dims=1, max_dims=3))
    return shape, draw(mst.indices(shape))


@given(case=getitem_cases(), seed=mst.seeds())
@example(case=((4,), np.array([0, 0, 3, 0])), seed=0)              # repeated indices add up
@example(case=((3, 4), (slice(None), np.array([1, -3, 1]))), seed=0)
@example(case=((3, 4), (1, slice(None, None, -2))), seed=0)
@example(case=((2, 3), (None, Ellipsis, 0)), seed=0)
@example(case=((3, 2), (np.array([2, 2]), np.array([1, 1]))), seed=0)
def test_getitem_gradcheck(case, seed, device):
    shape, index = case
    values = np.asarray(mst.rng(seed).uniform(-2, 2, shape))
    x = _tensor(values, device)
    np.testing.assert_array_equal(x[index].numpy(), values[index])
    md.testing.gradcheck(lambda t: t[index], x)


def test_getitem_with_repeated_indices_accumulates_exactly():
    x = md.tensor(np.zeros(3), requires_grad=True)
    x[np.array([2, 0, 2, 2])].backward(np.array([1.0, 10.0, 100.0, 1000.0]))
    np.testing.assert_array_equal(x.grad, [10.0, 0.0, 1101.0])


@st.composite
def concat_cases(draw):
    """(shapes of the distinct tensors, which tensor each slot uses, axis): a tensor may
    fill several slots (DenseNet's fan-out), whose gradients must add up."""
    ndim = draw(st.integers(1, 4))
    base = list(draw(mst.shapes(min_dims=ndim, max_dims=ndim, max_side=3)))
    axis = draw(st.integers(-ndim, ndim - 1))
    count = draw(st.integers(1, 3))
    shapes = []
    for _ in range(count):
        base[axis] = draw(st.integers(1, 3))
        shapes.append(tuple(base))
    uses = draw(st.lists(st.integers(0, count - 1), min_size=1, max_size=4))
    return shapes, uses, axis


@given(case=concat_cases(), seed=mst.seeds())
@example(case=([(2, 3), (2, 1)], [0, 1, 0], 1), seed=0)
@example(case=([(1, 2, 2, 2)], [0, 0], 1), seed=0)
@example(case=([(2, 1, 3), (2, 2, 3)], [1, 0], -2), seed=0)
def test_concat_gradcheck(case, seed, device):
    shapes, uses, axis = case
    arrays = [np.asarray(mst.rng(seed + i).uniform(-2, 2, s)) for i, s in enumerate(shapes)]
    tensors = [_tensor(a, device) for a in arrays]
    fn = lambda *ts: F.concat([ts[i] for i in uses], axis=axis)  # noqa: E731
    np.testing.assert_array_equal(fn(*tensors).numpy(), np.concatenate([arrays[i] for i in uses], axis=axis))
    md.testing.gradcheck(fn, *tensors)
