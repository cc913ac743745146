"""Adam and AdamW: hand-computed steps, PyTorch's trajectories, groups and state dicts."""

import copy

import numpy as np
import pytest

import minidl as md


def param(values):
    return md.nn.Parameter(np.array(values, dtype=np.float64))


def test_first_step_moves_by_lr_times_sign():
    p = param([1.0, -2.0, 3.0])
    p.grad = np.array([0.3, -40.0, 1e-3])
    md.optim.Adam([p], lr=0.01, eps=0.0).step()
    np.testing.assert_allclose(p.numpy(), [0.99, -1.99, 2.99], rtol=0, atol=1e-12)


def test_two_steps_by_hand():
    p = param([0.0])
    opt = md.optim.Adam([p], lr=0.1, betas=(0.5, 0.25), eps=0.0)
    p.grad = np.array([1.0])
    opt.step()
    p.grad = np.array([3.0])
    opt.step()
    m = 0.5 * 0.5 * 1 + 0.5 * 3          # 1.75
    v = 0.25 * 0.75 * 1 + 0.75 * 9       # 6.9375
    m_hat, v_hat = m / (1 - 0.25), v / (1 - 0.0625)
    np.testing.assert_allclose(p.numpy(), [-0.1 - 0.1 * m_hat / np.sqrt(v_hat)], rtol=1e-12)


def test_adam_weight_decay_is_l2_in_the_gradient_adamw_decays_the_weight():
    p, q = param([2.0]), param([2.0])
    p.grad, q.grad = np.array([0.0]), np.array([0.0])
    md.optim.Adam([p], lr=0.1, weight_decay=0.5, eps=0.0).step()  # g = 1.0 -> moves by lr
    md.optim.AdamW([q], lr=0.1, weight_decay=0.5).step()          # g = 0 -> only the decay
    np.testing.assert_allclose(p.numpy(), [1.9])
    np.testing.assert_allclose(q.numpy(), [2.0 * (1 - 0.05)])


@pytest.mark.parametrize("name, kwargs", [
    ("Adam", dict(lr=0.01)), ("Adam", dict(lr=0.003, betas=(0.8, 0.99), weight_decay=0.1)),
    ("AdamW", dict(lr=0.01, weight_decay=0.05)), ("AdamW", dict(lr=0.02, eps=1e-6)),
])
def test_matches_pytorch_over_twenty_steps(name, kwargs):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    start = rng.standard_normal((4, 3))
    grads = rng.standard_normal((20, 4, 3))
    ours = param(start)
    theirs = torch.tensor(start, requires_grad=True)
    opt = getattr(md.optim, name)([ours], **kwargs)
    topt = getattr(torch.optim, name)([theirs], **kwargs)
    for g in grads:
        ours.grad = g * (1 + ours.numpy() ** 2)  # gradients that depend on the weights
        theirs.grad = torch.tensor(g) * (1 + theirs.detach() ** 2)
        opt.step()
        topt.step()
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_parameter_groups_have_their_own_rates():
    a, b = param([1.0]), param([1.0])
    opt = md.optim.Adam([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    a.grad, b.grad = np.array([1.0]), np.array([1.0])
    opt.step()
    np.testing.assert_allclose([a.numpy()[0], b.numpy()[0]], [0.9, 0.5], atol=1e-7)


def test_state_dict_round_trip_continues_identically():
    rng = np.random.default_rng(1)
    grads = rng.standard_normal((6, 5)).astype(np.float32)
    p = md.nn.Parameter(rng.standard_normal(5).astype(np.float32))
    opt = md.optim.AdamW([p], lr=0.01)
    for g in grads[:3]:
        p.grad = g
        opt.step()
    # state_dict() holds the live buffers (as PyTorch's does): a checkpoint copies them.
    saved_p, saved_state = p.numpy().copy(), copy.deepcopy(opt.state_dict())
    for g in grads[3:]:
        p.grad = g
        opt.step()
    q = md.nn.Parameter(saved_p.copy())
    resumed = md.optim.AdamW([q], lr=0.01)
    resumed.load_state_dict(saved_state)
    for g in grads[3:]:
        q.grad = g
        resumed.step()
    np.testing.assert_array_equal(q.numpy(), p.numpy())
    assert q.dtype == np.float32


def test_load_state_dict_does_not_share_buffers_with_its_source():
    p, q = param([1.0]), param([1.0])
    source = md.optim.Adam([p], lr=0.1)
    p.grad = np.array([1.0])
    source.step()
    target = md.optim.Adam([q], lr=0.1)
    target.load_state_dict(source.state_dict())
    before = source.state_dict()["state"][0]["exp_avg"].copy()
    q.grad = np.array([5.0])
    target.step()
    np.testing.assert_array_equal(source.state_dict()["state"][0]["exp_avg"], before)


@pytest.mark.parametrize("kwargs, message", [
    (dict(lr=-1), "Adam: lr must be >= 0, got -1"),
    (dict(eps=-1e-8), "Adam: eps must be >= 0"),
    (dict(betas=(0.9, 1.0)), r"betas must be two numbers in \[0, 1\)"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        md.optim.Adam([param([0.0])], **kwargs)
