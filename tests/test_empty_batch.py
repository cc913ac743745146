"""Batches of no images, as PyTorch allows them: empty outputs of the right shape,
empty input gradients and zero parameter gradients (conv2d, pooling, batch norm in
evaluation mode, linear, LRN)."""

import numpy as np
import pytest

import minidl as md

F = md.functional


def _t(shape):
    return md.tensor(np.ones(shape), requires_grad=True)


def _stats():
    return md.tensor(np.zeros(3)), md.tensor(np.ones(3))


CASES = {
    "conv2d": (lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1),
               [(0, 3, 5, 5), (4, 3, 3, 3), (4,)], (0, 4, 3, 3)),
    "conv2d 1x1": (lambda x, w: F.conv2d(x, w), [(0, 3, 5, 5), (4, 3, 1, 1)], (0, 4, 5, 5)),
    "max_pool2d": (lambda x: F.max_pool2d(x, 2, ceil_mode=True), [(0, 3, 5, 5)], (0, 3, 3, 3)),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, 3, 2, 1), [(0, 3, 5, 5)], (0, 3, 3, 3)),
    "adaptive_avg_pool2d": (lambda x: F.adaptive_avg_pool2d(x, (2, 3)), [(0, 3, 5, 5)], (0, 3, 2, 3)),
    "batch_norm eval 4-D": (lambda x, g, b: F.batch_norm(x, *_stats(), g, b), [(0, 3, 5, 5), (3,), (3,)], (0, 3, 5, 5)),
    "batch_norm eval 2-D": (lambda x, g, b: F.batch_norm(x, *_stats(), g, b), [(0, 3), (3,), (3,)], (0, 3)),
    "linear": (lambda x, w, b: F.linear(x, w, b), [(0, 3), (4, 3), (4,)], (0, 4)),
    "local_response_norm": (lambda x: F.local_response_norm(x, 3), [(0, 3, 5, 5)], (0, 3, 5, 5)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_empty_batch(name):
    fn, shapes, expected = CASES[name]
    inputs = [_t(shape) for shape in shapes]
    y = fn(*inputs)
    assert y.shape == expected
    y.backward(np.ones(y.shape))
    for x in inputs:
        assert x.grad.shape == x.shape
        assert not x.grad.any()


def test_empty_batch_through_modules_in_eval_mode():
    net = md.nn.Sequential(md.nn.Conv2d(3, 4, 3, padding=1), md.nn.BatchNorm2d(4), md.nn.ReLU(),
                           md.nn.MaxPool2d(2), md.nn.Flatten(), md.nn.Linear(16, 2)).eval()
    assert net(md.tensor(np.ones((0, 3, 4, 4), np.float32))).shape == (0, 2)


def test_batch_norm_training_needs_values_even_for_an_empty_batch():
    with pytest.raises(ValueError, match="batch_norm: training needs more than one value per channel"):
        F.batch_norm(_t((0, 3, 2, 2)), *_stats(), training=True)
