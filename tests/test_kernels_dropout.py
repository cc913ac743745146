"""The dropout mask: the Numba kernel equals the reference bit for bit, md.manual_seed
fixes it, and it keeps about 1 - p of the elements."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
from minidl.kernels import cpu, reference

F = md.functional
DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@given(
    shape=st.lists(st.integers(0, 40), min_size=1, max_size=4).map(tuple),
    p=st.one_of(st.sampled_from([0.0, 0.5, 1 / 3, 0.9999]), st.floats(0.0, 0.999)),
    seed=st.integers(0, 2**63 - 1),
)
def test_mask_matches_reference_bit_for_bit(dtype, shape, p, seed):
    mask = cpu.dropout_mask(shape, p, seed, dtype)
    expected = reference.dropout_mask(shape, p, seed, dtype)
    assert mask.shape == shape and mask.dtype == dtype
    np.testing.assert_array_equal(mask, expected)
    assert set(np.unique(mask)) <= {dtype(0), dtype(1 / (1 - p))}


def test_mask_first_values_are_pinned():
    # Pinned: any change to the hash, the counter or the threshold changes these.
    np.testing.assert_array_equal(cpu.dropout_mask((6,), 0.5, 0, np.float32), [2, 0, 0, 2, 0, 0])


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_keep_rate_is_near_one_minus_p(p):
    # 4M elements: the kept fraction has standard deviation sqrt(p(1-p)/n) < 2.5e-4,
    # so 2e-3 is over 8 standard deviations (and the seed is fixed).
    mask = cpu.dropout_mask((2048, 2048), p, 2024, np.float32)
    assert abs(np.count_nonzero(mask) / mask.size - (1 - p)) < 2e-3
    # Inverted dropout keeps the expectation: the mean of the mask is close to 1.
    assert abs(mask.mean(dtype=np.float64) - 1) < 2e-3 / (1 - p)


def test_neighbouring_seeds_and_elements_are_independent():
    a = cpu.dropout_mask((1 << 16,), 0.5, 7, np.float64) > 0
    b = cpu.dropout_mask((1 << 16,), 0.5, 8, np.float64) > 0
    # Agreement of two independent fair coins: 0.5 with standard deviation 0.002.
    assert abs(np.mean(a == b) - 0.5) < 0.01
    assert abs(np.mean(a[1:] == a[:-1]) - 0.5) < 0.01


def test_manual_seed_fixes_the_op_mask():
    x = md.tensor(np.ones((64, 33), np.float32))
    md.manual_seed(5)
    first = F.dropout(x, p=0.4).numpy()
    second = F.dropout(x, p=0.4).numpy()
    md.manual_seed(5)
    np.testing.assert_array_equal(F.dropout(x, p=0.4).numpy(), first)
    np.testing.assert_array_equal(F.dropout(x, p=0.4).numpy(), second)
    assert (first != second).any()


def test_op_uses_the_seeded_mask_and_its_gradient():
    rng = np.random.default_rng(0)
    x = md.tensor(rng.standard_normal((5, 7)), requires_grad=True)
    gy = rng.standard_normal((5, 7))
    md.manual_seed(11)
    seed = md.random.next_seed()
    mask = reference.dropout_mask((5, 7), 0.3, seed, np.float64)
    md.manual_seed(11)
    y = F.dropout(x, p=0.3)
    np.testing.assert_array_equal(y.numpy(), x.numpy() * mask)
    y.backward(gy)
    np.testing.assert_array_equal(x.grad, gy * mask)


def test_evaluation_and_p_zero_are_the_identity_and_p_one_gives_zeros():
    x = md.tensor(np.arange(1.0, 7.0, dtype=np.float32))
    assert F.dropout(x, p=0.5, training=False) is x
    assert F.dropout(x, p=0.0) is x
    y = F.dropout(x, p=1.0)
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y.numpy(), np.zeros(6))


def test_module_is_the_identity_in_eval_mode():
    layer = md.nn.Dropout(0.5)
    x = md.tensor(np.ones((4, 4), np.float32))
    assert (layer(x).numpy() != 1).any()
    layer.eval()
    np.testing.assert_array_equal(layer(x).numpy(), x.numpy())


@pytest.mark.parametrize("p, error", [(-0.1, ValueError), (1.5, ValueError), ("half", TypeError), (True, TypeError)])
def test_bad_p_names_the_op(p, error):
    with pytest.raises(error, match="dropout: p"):
        F.dropout(md.tensor(np.ones(3)), p=p)


def test_dtypes_without_kernels_are_refused():
    with pytest.raises(TypeError, match="dropout: input must be float32 or float64, got float16"):
        F.dropout(md.tensor(np.ones(4, np.float16)))
