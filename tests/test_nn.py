"""nn: Module registration and state, the layers' modes, and weight initialisation."""

import math

import numpy as np
import pytest

import minidl as md

F, nn = md.functional, md.nn


class Net(nn.Module):
    """Attributes assigned out of alphabetical order, a nested module, a buffer."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.bn = nn.BatchNorm2d(2)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(2 * 4 * 4, 3))
        self.scale = nn.Parameter(np.ones(1, dtype=np.float32))
        self.register_buffer("steps", md.tensor(np.zeros(1, dtype=np.float32)))

    def forward(self, x):
        return self.head(F.relu(self.bn(self.conv(x)))) * self.scale


# PyTorch's order: a module's own members first, then its children's, depth first,
# each group in assignment order.
PARAMETERS = ["scale", "conv.weight", "conv.bias", "bn.weight", "bn.bias", "head.2.weight", "head.2.bias"]
BUFFERS = ["steps", "bn.running_mean", "bn.running_var"]


def _input(seed=0, dtype=np.float32):
    return md.tensor(np.random.default_rng(seed).normal(size=(4, 1, 4, 4)).astype(dtype))


def test_parameters_are_registered_in_assignment_order_every_time():
    for _ in range(3):
        assert [name for name, _ in Net().named_parameters()] == PARAMETERS
    net = Net()
    assert [id(p) for p in net.parameters()] == [id(p) for _, p in net.named_parameters()]


def test_reassigning_an_attribute_updates_the_registration():
    net = Net()
    net.scale = 3.0  # no longer a parameter
    assert "scale" not in dict(net.named_parameters())
    net.conv = nn.Identity()
    assert [name for name, _ in net.named_parameters()] == PARAMETERS[3:]


def test_buffers_are_kept_apart_from_parameters():
    net = Net()
    assert [name for name, _ in net.named_buffers()] == BUFFERS
    parameter_ids = {id(p) for p in net.parameters()}
    assert not any(id(b) in parameter_ids for b in net.buffers())
    assert not any(b.requires_grad for b in net.buffers())
    assert list(net.state_dict()) == PARAMETERS + BUFFERS


def test_a_shared_parameter_is_listed_once():
    shared = nn.Linear(2, 2)
    net = nn.Sequential(shared, nn.ReLU(), shared)
    assert [name for name, _ in net.named_parameters()] == ["0.weight", "0.bias"]


def test_train_and_eval_reach_every_submodule():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_eval_mode_changes_dropout_and_batch_norm():
    md.manual_seed(0)
    net, x = Net(), _input()
    net.eval()
    first = net(x).numpy()
    np.testing.assert_array_equal(net(x).numpy(), first)     # deterministic: no dropout
    np.testing.assert_array_equal(net.bn.running_mean.numpy(), np.zeros(2))  # stats untouched
    net.train()
    net(x)
    assert np.abs(net.bn.running_mean.numpy()).sum() > 0       # training updates them


def test_state_dict_round_trip_reproduces_the_outputs():
    md.manual_seed(1)
    source = Net()
    source(_input())                      # move the running statistics off their start
    md.manual_seed(2)
    target = Net()
    saved = {name: np.array(value) for name, value in source.state_dict().items()}
    assert target.load_state_dict(saved) == ([], [])
    source.eval(), target.eval()
    np.testing.assert_array_equal(target(_input(5)).numpy(), source(_input(5)).numpy())
    for name, value in target.state_dict().items():
        np.testing.assert_array_equal(value, saved[name])


def test_state_dict_holds_the_live_arrays_and_load_copies_into_them():
    net = Net()
    state = net.state_dict()
    assert state["conv.weight"] is net.conv.weight.data
    weight = net.conv.weight.data
    net.load_state_dict({k: np.zeros_like(v) for k, v in state.items()})
    assert net.conv.weight.data is weight and not weight.any()


def test_load_state_dict_lists_every_bad_key_and_changes_nothing():
    net = Net()
    before = {k: v.copy() for k, v in net.state_dict().items()}
    state = {k: np.zeros_like(v) for k, v in before.items()}
    del state["bn.running_var"], state["scale"]
    state["conv.weight"] = np.zeros((2, 1, 5, 5), np.float32)
    state["extra.weight"] = np.zeros(1, np.float32)
    with pytest.raises(ValueError) as error:
        net.load_state_dict(state)
    message = str(error.value)
    for part in ("missing keys (2): scale, bn.running_var", "unexpected keys (1): extra.weight",
                 "shape mismatches (1): conv.weight: checkpoint (2, 1, 5, 5) vs model (2, 1, 3, 3)"):
        assert part in message, message
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_non_strict_loading_reports_missing_and_unexpected_keys():
    net = Net()
    state = {k: np.zeros_like(v) for k, v in net.state_dict().items() if k != "scale"}
    state["extra"] = np.zeros(1, np.float32)
    assert net.load_state_dict(state, strict=False) == (["scale"], ["extra"])
    assert not net.conv.weight.numpy().any() and net.scale.numpy()[0] == 1.0


def test_zero_grad_clears_every_gradient():
    net = Net()
    F.cross_entropy(net(_input()), np.array([0, 1, 2, 0])).backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_to_cpu_keeps_the_arrays_and_double_converts_parameters_and_buffers():
    net = Net()
    weight = net.conv.weight.data
    assert net.to("cpu") is net and net.conv.weight.data is weight
    assert net.double() is net
    assert all(v.dtype == np.float64 for v in net.state_dict().values())
    y = net(_input(dtype=np.float64))
    assert y.dtype == np.float64
    net.float()
    assert all(v.dtype == np.float32 for v in net.state_dict().values())


def test_to_an_unknown_device_is_an_error_naming_the_module():
    with pytest.raises(ValueError, match="Net.to: unknown device 'gpu'"):
        Net().to("gpu")


def test_forward_hooks_see_inputs_and_outputs_and_can_be_removed():
    net = nn.Sequential(nn.Linear(3, 2), nn.ReLU())
    seen = []
    handle = net[0].register_forward_hook(lambda m, inputs, output: seen.append((m, output.shape)))
    net(md.tensor(np.ones((5, 3), np.float32)))
    assert seen == [(net[0], (5, 2))]
    handle.remove()
    net(md.tensor(np.ones((5, 3), np.float32)))
    assert len(seen) == 1


def test_sequential_and_module_list_register_their_children():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[1], nn.ReLU) and len(seq[1:]) == 2
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    layers = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2)])
    assert len(list(layers.parameters())) == 4


def test_module_without_super_init_is_a_clear_error():
    class Broken(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match=r"Broken: call super\(\)\.__init__\(\) before assigning"):
        Broken()


def test_layer_shapes_and_parameter_counts():
    conv = nn.Conv2d(4, 6, (3, 5), stride=2, padding=1, groups=2, bias=False)
    assert conv.weight.shape == (6, 2, 3, 5) and conv.bias is None
    assert conv(md.tensor(np.zeros((1, 4, 7, 9), np.float32))).shape == (1, 6, 4, 4)
    fc = nn.Linear(7, 3)
    assert fc.weight.shape == (3, 7) and fc.bias.shape == (3,)
    bn = nn.BatchNorm1d(5)
    assert [n for n, _ in bn.named_parameters()] == ["weight", "bias"]
    with pytest.raises(ValueError, match="BatchNorm2d: input must be 4-D"):
        nn.BatchNorm2d(3)(md.tensor(np.zeros((2, 3), np.float32)))
    with pytest.raises(ValueError, match="Conv2d: groups=4 must divide in_channels=6"):
        nn.Conv2d(6, 8, 3, groups=4)


# ---- initialisation -------------------------------------------------------------
#
# 294,912 samples: the sample standard deviation is within 0.4% of the true one
# at 3 sigma (its relative standard error is 1/sqrt(2n) = 0.13%); we allow 1%.
# The sample mean is within 5 standard errors (std / sqrt(n)) of 0.

SHAPE = (256, 128, 3, 3)
FAN_IN, FAN_OUT = 128 * 9, 256 * 9


def _weights(init, *args, **kwargs):
    md.manual_seed(0)
    w = nn.Parameter(np.zeros(SHAPE, dtype=np.float32))
    init(w, *args, **kwargs)
    return w.numpy().astype(np.float64)


@pytest.mark.parametrize("name, init, kwargs, std, bound", [
    ("He normal, fan_in", nn.init.kaiming_normal_, {}, math.sqrt(2 / FAN_IN), None),
    ("He normal, fan_out", nn.init.kaiming_normal_, {"mode": "fan_out"}, math.sqrt(2 / FAN_OUT), None),
    ("He uniform", nn.init.kaiming_uniform_, {}, math.sqrt(2 / FAN_IN), math.sqrt(6 / FAN_IN)),
    ("Xavier normal", nn.init.xavier_normal_, {}, math.sqrt(2 / (FAN_IN + FAN_OUT)), None),
    ("Xavier uniform", nn.init.xavier_uniform_, {}, math.sqrt(2 / (FAN_IN + FAN_OUT)),
     math.sqrt(6 / (FAN_IN + FAN_OUT))),
    ("PyTorch default", lambda w: nn.init.default_(w), {}, 1 / math.sqrt(FAN_IN) / math.sqrt(3),
     1 / math.sqrt(FAN_IN)),
])
def test_initialisation_statistics(name, init, kwargs, std, bound):
    w = _weights(init, **kwargs)
    assert abs(w.std() / std - 1) < 0.01, name
    assert abs(w.mean()) < 5 * std / math.sqrt(w.size), name
    if bound is not None:
        assert np.abs(w).max() <= bound * (1 + 1e-6) and np.abs(w).max() > 0.99 * bound, name


def test_initialisation_is_repeatable_from_the_seed():
    np.testing.assert_array_equal(_weights(nn.init.kaiming_normal_), _weights(nn.init.kaiming_normal_))


def test_gains_and_fans():
    assert nn.init.calculate_gain("relu") == math.sqrt(2)
    assert nn.init.calculate_gain("tanh") == 5 / 3
    assert nn.init.calculate_gain("leaky_relu", 0.2) == math.sqrt(2 / 1.04)
    assert nn.init.fans((64, 3, 7, 7)) == (147, 3136)
    assert nn.init.fans((10, 500)) == (500, 10)
    with pytest.raises(ValueError, match="unknown nonlinearity 'gelu'"):
        nn.init.calculate_gain("gelu")
