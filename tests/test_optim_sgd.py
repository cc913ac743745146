"""optim.SGD: hand-computed steps, PyTorch's SGD step for step, groups and state."""

import copy

import numpy as np
import pytest

import minidl as md


def _run(grads, **settings):
    """The parameter after one SGD step per gradient, starting from 1.0."""
    p = md.nn.Parameter(np.array([1.0]))
    opt = md.optim.SGD([p], **settings)
    for g in grads:
        p.grad = np.array([g])
        opt.step()
    return p.numpy()[0]


# Each by hand, with p = 1, lr = 0.1 and gradients 0.5 then -1:
#   plain:        1 - 0.1*0.5 = 0.95;                      0.95 + 0.1 = 1.05
#   momentum 0.9: v = 0.5, p = 0.95;  v = 0.45 - 1 = -0.55, p = 0.95 + 0.055 = 1.005
#   nesterov:     v = 0.5, step 0.5 + 0.45 = 0.95, p = 0.905;
#                 v = -0.55, step -1 - 0.495 = -1.495, p = 0.905 + 0.1495 = 1.0545
#   decay 0.1:    g = 0.5 + 0.1*1 = 0.6, p = 0.94;  g = -1 + 0.094 = -0.906, p = 1.0306
#   dampening 0.5 (momentum 0.9): v = 0.5 (the first step is not damped), p = 0.95;
#                 v = 0.45 - 0.5 = -0.05, p = 0.955
@pytest.mark.parametrize("settings, expected", [
    (dict(lr=0.1), 1.05),
    (dict(lr=0.1, momentum=0.9), 1.005),
    (dict(lr=0.1, momentum=0.9, nesterov=True), 1.0545),
    (dict(lr=0.1, weight_decay=0.1), 1.0306),
    (dict(lr=0.1, momentum=0.9, dampening=0.5), 0.955),
], ids=["plain", "momentum", "nesterov", "weight decay", "dampening"])
def test_two_steps_by_hand(settings, expected):
    assert _run([0.5, -1.0], **settings) == pytest.approx(expected, rel=1e-14)


def test_momentum_with_weight_decay_by_hand():
    # g1 = 0.5 + 0.1 = 0.6, v = 0.6, p = 0.94; g2 = -1 + 0.094 = -0.906,
    # v = 0.54 - 0.906 = -0.366, p = 0.94 + 0.0366 = 0.9766
    assert _run([0.5, -1.0], lr=0.1, momentum=0.9, weight_decay=0.1) == pytest.approx(0.9766, rel=1e-14)


CONFIGS = [
    dict(lr=0.1),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.1, weight_decay=5e-4),
    dict(lr=0.05, momentum=0.9, weight_decay=1e-2, nesterov=True),
    dict(lr=0.02, momentum=0.5, weight_decay=1e-3, dampening=0.3),
]


@pytest.mark.parametrize("settings", CONFIGS, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()))
def test_matches_torch_sgd_step_for_step(settings):
    torch = pytest.importorskip("torch", reason="compares with PyTorch, not installed: pip install -e '.[bench]'")
    rng = np.random.default_rng(0)
    shapes = [(3, 4), (4,), (2, 1, 3, 3)]
    start = [rng.normal(size=s) for s in shapes]
    ours = [md.nn.Parameter(a.copy()) for a in start]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in start]
    opt = md.optim.SGD(ours, **settings)
    opt_t = torch.optim.SGD(theirs, **settings)
    for _ in range(10):
        grads = [rng.normal(size=s) for s in shapes]
        for p, q, g in zip(ours, theirs, grads):
            p.grad = g.copy()
            q.grad = torch.tensor(g.copy())
        opt.step()
        opt_t.step()
        for p, q in zip(ours, theirs):
            np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("settings", CONFIGS, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()))
def test_a_parameter_updated_in_slices_is_updated_the_same(monkeypatch, settings):
    """Large parameters are updated in slices on the CPU threads: three steps, sliced
    (however small) and in one piece, give the same bits, and a non-contiguous
    gradient takes the one-piece path."""
    from minidl import threads

    rng = np.random.default_rng(1)
    start, grads = rng.standard_normal((5, 7)), [rng.standard_normal((7, 5)).T for _ in range(3)]

    def run(elements):
        monkeypatch.setitem(threads.MIN_WORK, "elements", elements)
        p = md.nn.Parameter(start.copy())
        opt = md.optim.SGD([p], **settings)
        for k, g in enumerate(grads):
            p.grad = g if k == 1 else np.ascontiguousarray(g)
            opt.step()
        return p.numpy()

    assert run(0).tobytes() == run(2**62).tobytes()


def test_parameter_groups_keep_their_own_settings():
    a, b = md.nn.Parameter(np.array([1.0])), md.nn.Parameter(np.array([1.0]))
    opt = md.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5, "weight_decay": 1.0}], lr=0.1)
    a.grad, b.grad = np.array([1.0]), np.array([1.0])
    opt.step()
    assert a.numpy()[0] == pytest.approx(0.9) and b.numpy()[0] == pytest.approx(0.0)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]


def test_parameters_without_a_gradient_are_left_alone():
    a, b = md.nn.Parameter(np.array([1.0])), md.nn.Parameter(np.array([2.0]))
    opt = md.optim.SGD([a, b], lr=0.1, momentum=0.9)
    a.grad = np.array([1.0])
    opt.step()
    assert b.numpy()[0] == 2.0 and id(b) not in opt.state


def test_zero_grad_clears_the_gradients():
    a = md.nn.Parameter(np.array([1.0]))
    opt = md.optim.SGD([a], lr=0.1)
    a.grad = np.array([1.0])
    opt.zero_grad()
    assert a.grad is None


def test_a_float32_model_stays_float32():
    p = md.nn.Parameter(np.ones(3, dtype=np.float32))
    opt = md.optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=1e-4, nesterov=True)
    for _ in range(2):
        p.grad = np.full(3, 0.5, dtype=np.float32)
        opt.step()
    assert p.dtype == np.float32 and opt.state[id(p)]["momentum_buffer"].dtype == np.float32


def test_state_dict_round_trip_continues_identically():
    rng = np.random.default_rng(1)
    grads = [rng.normal(size=(3,)) for _ in range(6)]
    p = md.nn.Parameter(np.ones(3))
    opt = md.optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True)
    for g in grads[:3]:
        p.grad = g
        opt.step()
    saved_state, saved_p = copy.deepcopy(opt.state_dict()), p.numpy().copy()

    q = md.nn.Parameter(saved_p.copy())
    restored = md.optim.SGD([q], lr=0.5)
    restored.load_state_dict(saved_state)
    assert restored.param_groups[0]["lr"] == 0.1 and restored.param_groups[0]["nesterov"]
    for g in grads[3:]:
        p.grad, q.grad = g, g.copy()
        opt.step()
        restored.step()
    np.testing.assert_array_equal(q.numpy(), p.numpy())


def test_loading_a_state_for_other_parameters_is_an_error():
    opt = md.optim.SGD([md.nn.Parameter(np.ones(2))], lr=0.1)
    other = md.optim.SGD([md.nn.Parameter(np.ones(2)), md.nn.Parameter(np.ones(2))], lr=0.1)
    with pytest.raises(ValueError, match=r"SGD.load_state_dict: the saved parameter groups \(\[2\]"):
        opt.load_state_dict(other.state_dict())


@pytest.mark.parametrize("kwargs, message", [
    (dict(lr=-0.1), "SGD: lr must be >= 0, got -0.1"),
    (dict(lr=0.1, momentum=-1), "SGD: momentum must be >= 0"),
    (dict(lr=0.1, weight_decay=-1), "SGD: weight_decay must be >= 0"),
    (dict(lr=0.1, nesterov=True), "SGD: nesterov needs momentum > 0 and dampening = 0"),
])
def test_bad_settings_are_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        md.optim.SGD([md.nn.Parameter(np.ones(1))], **kwargs)


def test_bad_parameter_lists_are_errors():
    with pytest.raises(ValueError, match="SGD: got an empty parameter list"):
        md.optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="SGD: parameters must be Tensors, got ndarray"):
        md.optim.SGD([np.ones(2)], lr=0.1)
    p = md.nn.Parameter(np.ones(1))
    with pytest.raises(ValueError, match="more than one group"):
        md.optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
