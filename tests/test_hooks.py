"""Tensor and Module hooks, with PyTorch's semantics: what each hook sees, what a
returned value replaces, removal, a module called twice, and no graph kept alive."""

import gc
import weakref

import numpy as np
import pytest

import minidl as md

F, nn = md.functional, md.nn


def _net():
    md.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(12, 4))


def _x():
    return md.tensor(np.random.default_rng(0).normal(size=(2, 1, 6, 6)).astype(np.float32),
                     requires_grad=True)


# ---- Tensor.register_hook / retain_grad ---------------------------------------
def test_a_tensor_hook_sees_the_summed_gradient_once_per_backward():
    x = md.tensor(np.array([1.0, -2.0]), requires_grad=True)
    h = x * 3.0
    seen = []
    h.register_hook(lambda g: seen.append(g.copy()))
    (h * h + h).backward(np.array([1.0, 10.0]))   # d/dh (h^2 + h) = 2h + 1, times the upstream
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0], [(2 * 3.0 + 1) * 1.0, (2 * -6.0 + 1) * 10.0])


def test_a_hook_that_returns_a_gradient_replaces_it_upstream_and_in_retained_grad():
    x = md.tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = (x * 3.0).retain_grad()
    h.register_hook(lambda g: g * 0 + np.array([5.0, 7.0]))
    (h * h).backward(np.ones(2))
    np.testing.assert_array_equal(h.grad, [5.0, 7.0])          # .grad holds what flows on
    np.testing.assert_array_equal(x.grad, [15.0, 21.0])        # 3 * the replacement


def test_a_hook_on_an_intermediate_still_runs_after_the_caller_drops_its_reference():
    x = md.tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = x * 3.0
    seen = []
    h.register_hook(lambda g: seen.append(g.copy()))
    y = (h * 2.0).sum()
    del h                                   # the graph still holds it until backward reaches it
    y.backward()
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0], [2.0, 2.0])


def test_hooks_on_a_leaf_run_in_order_and_the_leaf_accumulates_the_replacement():
    w = md.tensor(np.array([1.0, 2.0]), requires_grad=True)
    calls = []
    w.register_hook(lambda g: calls.append(("first", g.copy())) or g + 1.0)
    w.register_hook(lambda g: calls.append(("second", g.copy())))
    (w * 4.0).backward(np.ones(2))
    assert [name for name, _ in calls] == ["first", "second"]
    np.testing.assert_array_equal(calls[1][1], [5.0, 5.0])     # the second sees the first's result
    np.testing.assert_array_equal(w.grad, [5.0, 5.0])


def test_a_removed_hook_is_not_called_and_removing_twice_is_harmless():
    x = md.tensor(np.array([1.0, 2.0]), requires_grad=True)
    calls = []
    handle = x.register_hook(lambda g: calls.append(1) or g * 100)
    handle.remove()
    handle.remove()
    (x * 2.0).backward(np.ones(2))
    assert calls == []
    np.testing.assert_array_equal(x.grad, [2.0, 2.0])


def test_hooks_that_return_none_change_no_gradient_bit():
    def gradients(with_hooks):
        net, x = _net(), _x()
        handles = []
        if with_hooks:
            for module in net.modules():
                handles.append(module.register_forward_pre_hook(lambda m, i: None))
                handles.append(module.register_forward_hook(lambda m, i, o: None))
                handles.append(module.register_full_backward_hook(lambda m, gi, go: None))
            handles += [p.register_hook(lambda g: None) for p in net.parameters()]
        h = net[0](x)
        if with_hooks:
            h.register_hook(lambda g: None)
        loss = F.cross_entropy(net[1:](h), np.array([0, 3]))
        loss.backward()
        return [loss.numpy(), x.grad] + [p.grad for p in net.parameters()]

    for plain, hooked in zip(gradients(False), gradients(True)):
        assert plain.tobytes() == hooked.tobytes()


def test_a_hook_returning_the_wrong_shape_and_a_hook_on_a_constant_are_errors():
    x = md.tensor(np.array([1.0, 2.0]), requires_grad=True)
    x.register_hook(lambda g: np.ones(3))
    with pytest.raises(ValueError, match=r"register_hook.*\(3,\).*\(2,\)"):
        (x * 2.0).backward(np.ones(2))
    with pytest.raises(ValueError, match="register_hook: this tensor does not require grad"):
        md.tensor([1.0]).register_hook(print)
    with pytest.raises(TypeError, match="must be callable"):
        x.register_hook(3)


def test_post_accumulate_hooks_fire_while_backward_still_runs_later_layers_first():
    md.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    events = []
    for name, p in net.named_parameters():
        p.register_post_accumulate_grad_hook(
            lambda t, name=name: events.append((name, net[0].weight.grad is None, t.grad.copy())))
    x = md.tensor(np.random.default_rng(1).normal(size=(5, 3)).astype(np.float32))
    F.cross_entropy(net(x), np.array([0, 1, 1, 0, 1])).backward()
    names = [name for name, _, _ in events]
    assert sorted(names) == sorted(n for n, _ in net.named_parameters())
    assert names.index("2.weight") < names.index("0.weight")
    # The last layer's gradient is handed over before the first layer's is computed.
    assert dict((n, early) for n, early, _ in events)["2.weight"] is True
    for name, _, grad in events:
        np.testing.assert_array_equal(grad, dict(net.named_parameters())[name].grad)


# ---- Module hooks -----------------------------------------------------------
def test_forward_pre_hook_and_forward_hook_replace_inputs_and_output_and_can_be_removed():
    layer = nn.ReLU()
    seen = []
    pre = layer.register_forward_pre_hook(lambda m, inputs: (inputs[0] * -1.0,))
    post = layer.register_forward_hook(lambda m, inputs, output: seen.append(inputs[0].numpy()) or output * 10.0)
    x = md.tensor(np.array([1.0, -2.0]))
    np.testing.assert_array_equal(layer(x).numpy(), [0.0, 20.0])
    np.testing.assert_array_equal(seen[0], [-1.0, 2.0])         # the forward hook sees the new inputs
    pre.remove()
    post.remove()
    np.testing.assert_array_equal(layer(x).numpy(), [1.0, 0.0])
    assert len(seen) == 1
    single = layer.register_forward_pre_hook(lambda m, inputs: inputs[0] + 5.0)   # one value: a 1-tuple
    np.testing.assert_array_equal(layer(x).numpy(), [6.0, 3.0])
    single.remove()


def test_full_backward_hook_sees_input_and_output_gradients():
    md.manual_seed(0)
    layer = nn.Linear(3, 2)
    seen = []
    layer.register_full_backward_hook(lambda m, gi, go: seen.append((m, gi, go)))
    x = md.tensor(np.random.default_rng(2).normal(size=(4, 3)).astype(np.float32), requires_grad=True)
    g = np.random.default_rng(3).normal(size=(4, 2)).astype(np.float32)
    layer(x).backward(g)
    (module, grad_inputs, grad_outputs), = seen
    assert module is layer and len(grad_inputs) == 1 and len(grad_outputs) == 1
    np.testing.assert_array_equal(grad_outputs[0], g)
    np.testing.assert_allclose(grad_inputs[0], g @ layer.weight.numpy(), rtol=1e-6)
    np.testing.assert_array_equal(grad_inputs[0], x.grad)


def test_full_backward_hook_can_replace_the_input_gradient():
    layer = nn.ReLU()
    layer.register_full_backward_hook(lambda m, gi, go: (gi[0] * 0 + 7.0,))
    x = md.tensor(np.array([1.0, -1.0]), requires_grad=True)
    (layer(x) * 2.0).backward(np.ones(2))
    np.testing.assert_array_equal(x.grad, [7.0, 7.0])


def test_full_backward_hook_of_a_module_used_twice_sees_each_call_separately():
    layer = nn.Linear(2, 2, bias=False)
    layer.weight.data[...] = np.eye(2, dtype=np.float32)
    seen = []
    handle = layer.register_full_backward_hook(lambda m, gi, go: seen.append((gi[0].copy(), go[0].copy())))
    x = md.tensor(np.array([[1.0, 2.0]], np.float32), requires_grad=True)
    y = layer(x) * 3.0 + layer(x * 5.0) * 7.0
    y.backward(np.ones((1, 2), np.float32))
    assert len(seen) == 2
    outputs = sorted(go[0, 0] for _, go in seen)
    assert outputs == [3.0, 7.0]                                  # each call's own output gradient
    for gi, go in seen:
        np.testing.assert_array_equal(gi, go)                     # W = I passes it through
    handle.remove()
    seen.clear()
    layer(x).backward(np.ones((1, 2), np.float32))
    assert seen == []


def test_full_backward_hook_with_no_input_that_requires_grad_still_fires():
    layer = nn.Linear(2, 1)
    seen = []
    layer.register_full_backward_hook(lambda m, gi, go: seen.append((gi, go[0].shape)))
    layer(md.tensor(np.ones((3, 2), np.float32))).sum().backward()
    assert seen == [((None,), (3, 1))]


def test_no_hook_wraps_anything_under_no_grad():
    layer = nn.ReLU()
    layer.register_full_backward_hook(lambda m, gi, go: None)
    with md.no_grad():
        y = layer(md.tensor([1.0], requires_grad=True))
    assert y.creator is None


def test_hooks_keep_no_graph_alive_after_backward():
    net, x = _net(), _x()
    F.cross_entropy(net(x), np.array([0, 3])).backward()   # compile kernels first (see test_autograd)
    stats = []
    for module in net.modules():
        module.register_forward_pre_hook(lambda m, inputs: None)
        module.register_forward_hook(lambda m, inputs, output: stats.append(float(output.numpy().std())))
        module.register_full_backward_hook(lambda m, gi, go: stats.append(float(np.abs(go[0]).sum())))
    for p in net.parameters():
        p.register_hook(lambda g: stats.append(float(np.abs(g).sum())))
    gc.disable()
    try:
        h = net[0](x)
        h.register_hook(lambda g: None)
        loss = F.cross_entropy(net[1:](h), np.array([0, 3]))
        intermediates = [weakref.ref(h), weakref.ref(h.data)]
        function = loss.creator
        while function.inputs:                         # follow the graph down its first inputs
            t = function.inputs[0]
            if t.creator is None:
                break
            intermediates.append(weakref.ref(t))
            if t.data is not x.data:   # the backward hook's identity on the input shares x's array
                intermediates.append(weakref.ref(t.data))
            function = t.creator
        del h
        assert len(intermediates) >= 10 and all(ref() is not None for ref in intermediates)
        loss.backward()
        assert [ref() for ref in intermediates if ref() is not None] == []
    finally:
        gc.enable()
    assert stats and all(np.isfinite(stats))
