"""Learning-rate schedules: PyTorch's sequences, the warm-up, the plateau rule, state dicts."""

import math

import numpy as np
import pytest

import minidl as md
from minidl.optim import lr_scheduler as S


def optimizer(lr=1.0, groups=1):
    params = [md.nn.Parameter(np.zeros(1)) for _ in range(groups)]
    return md.optim.SGD([{"params": [p], "lr": lr * (i + 1)} for i, p in enumerate(params)], lr=lr)


def rates(opt, sched, epochs, metrics=None):
    out = []
    for e in range(epochs):
        out.append([g["lr"] for g in opt.param_groups])
        sched.step() if metrics is None else sched.step(metrics[e])
    return out


def torch_rates(make, epochs, lr=1.0, groups=1, metrics=None):
    torch = pytest.importorskip("torch", reason="compares with PyTorch, not installed: pip install -e '.[bench]'")
    params = [torch.zeros(1, requires_grad=True) for _ in range(groups)]
    opt = torch.optim.SGD([{"params": [p], "lr": lr * (i + 1)} for i, p in enumerate(params)], lr=lr)
    sched = make(torch.optim.lr_scheduler, opt)
    out = []
    for e in range(epochs):
        out.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step() if metrics is None else sched.step(metrics[e])
    return out


@pytest.mark.parametrize("name, kwargs, epochs", [
    ("StepLR", dict(step_size=3, gamma=0.5), 10),
    ("MultiStepLR", dict(milestones=[2, 5, 5, 7], gamma=0.1), 10),
    ("CosineAnnealingLR", dict(T_max=8), 9),
    ("CosineAnnealingLR", dict(T_max=5, eta_min=0.1), 6),
])
def test_matches_pytorch(name, kwargs, epochs):
    expected = torch_rates(lambda mod, opt: getattr(mod, name)(opt, **kwargs), epochs, groups=2)
    opt = optimizer(groups=2)
    np.testing.assert_allclose(rates(opt, getattr(S, name)(opt, **kwargs), epochs), expected, rtol=1e-12, atol=1e-15)


def test_plateau_matches_pytorch():
    losses = [1.0, 0.9, 0.95, 0.91, 0.92, 0.93, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]
    kwargs = dict(factor=0.5, patience=2, cooldown=1, min_lr=0.2)
    expected = torch_rates(lambda mod, opt: mod.ReduceLROnPlateau(opt, **kwargs), len(losses), metrics=losses)
    opt = optimizer()
    assert rates(opt, S.ReduceLROnPlateau(opt, **kwargs), len(losses), losses) == expected


def test_plateau_max_mode_and_absolute_threshold():
    opt = optimizer()
    sched = S.ReduceLROnPlateau(opt, mode="max", threshold=0.05, threshold_mode="abs", patience=0)
    for accuracy in [0.5, 0.54, 0.6]:  # 0.54 is not 0.05 better than 0.5
        sched.step(accuracy)
    assert sched.get_last_lr() == [0.1]


def test_cosine_warmup_closed_form():
    opt = optimizer(lr=0.4)
    sched = S.CosineAnnealingLR(opt, T_max=6, warmup=2)
    got = [r[0] for r in rates(opt, sched, 8)]
    warm = [0.4 / 3, 0.8 / 3]
    cosine = [0.4 * (1 + math.cos(math.pi * t / 4)) / 2 for t in range(5)]
    np.testing.assert_allclose(got, warm + cosine + [0.0], atol=1e-15)  # stays at eta_min after T_max


def test_state_dict_round_trip():
    opt = optimizer()
    sched = S.MultiStepLR(opt, milestones=[2, 4])
    for _ in range(3):
        sched.step()
    state = sched.state_dict()
    assert "optimizer" not in state
    fresh_opt = optimizer()
    fresh_opt.load_state_dict(opt.state_dict())
    fresh = S.MultiStepLR(fresh_opt, milestones=[9])
    fresh.load_state_dict(state)
    assert rates(fresh_opt, fresh, 3) == rates(opt, sched, 3)


@pytest.mark.parametrize("make, message", [
    (lambda opt: S.StepLR(opt, step_size=0), "step_size must be a positive int"),
    (lambda opt: S.CosineAnnealingLR(opt, T_max=3, warmup=3), r"warmup must be an int in \[0, T_max=3\)"),
    (lambda opt: S.ReduceLROnPlateau(opt, mode="up"), "mode must be 'min' or 'max'"),
    (lambda opt: S.ReduceLROnPlateau(opt, factor=1.0), r"factor must be in \(0, 1\)"),
])
def test_bad_arguments(make, message):
    with pytest.raises(ValueError, match=message):
        make(optimizer())
