"""Gradient checks of cross_entropy, and its value against a direct NumPy formula."""

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import minidl as md
from minidl.testing import strategies as mst

F = md.functional


@st.composite
def classification_cases(draw):
    """(logits, labels): N >= 1 rows, K >= 1 classes (K = 1 is the degenerate case)."""
    n, k = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    logits = draw(mst.arrays((n, k), low=-4.0, high=4.0))
    labels = np.asarray(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)), dtype=np.int64)
    return logits, labels


def _reference(logits, labels):
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(labels)), labels]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@given(case=classification_cases())
@example(case=(np.array([[1.0, 2.0, 3.0]]), np.array([2])))
@example(case=(np.array([[0.5], [-1.0]]), np.array([0, 0])))
@example(case=(np.array([[1.0, -1.0], [2.0, 0.0], [0.0, 0.0]]), np.array([1, 1, 0])))
def test_cross_entropy_gradcheck(reduction, case, device):
    logits, labels = case
    x = md.tensor(logits, requires_grad=True, device=device)
    labels_on_device = md.tensor(labels, device=device)
    per_row = _reference(logits, labels)
    expected = {"mean": per_row.mean(), "sum": per_row.sum(), "none": per_row}[reduction]
    got = F.cross_entropy(x, labels_on_device, reduction=reduction).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    md.testing.gradcheck(lambda t: F.cross_entropy(t, labels_on_device, reduction=reduction), x)


def test_cross_entropy_gradient_is_softmax_minus_one_hot_over_n():
    logits = np.array([[0.0, 0.0], [np.log(3.0), 0.0]])
    x = md.tensor(logits, requires_grad=True)
    F.cross_entropy(x, np.array([0, 1])).backward()
    np.testing.assert_allclose(x.grad, [[-0.25, 0.25], [0.375, -0.375]], rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_is_finite_for_logits_of_1e4(dtype):
    x = md.tensor(np.array([[1e4, -1e4], [-1e4, 1e4]], dtype=dtype), requires_grad=True)
    loss = F.cross_entropy(x, np.array([1, 1]))
    np.testing.assert_allclose(loss.item(), 1e4, rtol=1e-6)   # (2e4 + 0) / 2
    loss.backward()
    np.testing.assert_allclose(x.grad, [[0.5, -0.5], [0.0, 0.0]], atol=1e-6)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@given(case=classification_cases(), smoothing=st.sampled_from([0.05, 0.1, 0.3, 0.9]))
@example(case=(np.array([[1.0, 2.0, 3.0]]), np.array([2])), smoothing=0.1)
def test_label_smoothing_value_and_gradcheck(reduction, case, smoothing):
    logits, labels = case
    x = md.tensor(logits, requires_grad=True)
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    per_row = (1 - smoothing) * _reference(logits, labels) - smoothing * log_p.mean(axis=1)
    expected = {"mean": per_row.mean(), "sum": per_row.sum(), "none": per_row}[reduction]
    got = F.cross_entropy(x, labels, reduction=reduction, label_smoothing=smoothing).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    md.testing.gradcheck(lambda t: F.cross_entropy(t, labels, reduction=reduction, label_smoothing=smoothing), x)


def test_label_smoothing_matches_pytorch():
    torch = pytest.importorskip("torch", reason="compares with PyTorch, not installed: pip install -e '.[bench]'")
    rng = np.random.default_rng(0)
    logits, labels = rng.standard_normal((5, 7)), rng.integers(0, 7, 5)
    x = md.tensor(logits, requires_grad=True)
    loss = F.cross_entropy(x, labels, label_smoothing=0.1)
    loss.backward()
    theirs = torch.tensor(logits, requires_grad=True)
    expected = torch.nn.functional.cross_entropy(theirs, torch.tensor(labels), label_smoothing=0.1)
    expected.backward()
    np.testing.assert_allclose(loss.item(), expected.item(), rtol=1e-12)
    np.testing.assert_allclose(x.grad, theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("smoothing", [-0.1, 1.0])
def test_label_smoothing_outside_0_1_is_refused(smoothing):
    with pytest.raises(ValueError, match=r"cross_entropy: label_smoothing must be in \[0, 1\)"):
        F.cross_entropy(md.tensor(np.zeros((1, 2))), np.array([0]), label_smoothing=smoothing)
