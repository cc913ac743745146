"""The first two models: LeNet-5 (the lecture's variant) and ResNet-20 (CIFAR, option A)."""

import numpy as np
import pytest

import minidl as md

F, nn = md.functional, md.nn


def _count(module):
    return sum(p.size for p in module.parameters())


def _output_shapes(net, x, modules):
    """Output shape of each of ``modules`` in one forward pass, recorded by hooks."""
    shapes = {}

    def record(name):
        def hook(module, inputs, output):  # returns None: the output stays as it is
            shapes.setdefault(name, output.shape)
        return hook

    handles = [m.register_forward_hook(record(name)) for name, m in modules]
    try:
        net(x)
    finally:
        for h in handles:
            h.remove()
    return shapes


def _images(n, shape, seed=0):
    return md.tensor(np.random.default_rng(seed).normal(size=(n,) + shape).astype(np.float32))


def test_lenet5_has_the_lectures_parameter_count_and_layer_shapes():
    net = md.models.lenet5()
    assert _count(net) == 1_256_080
    layers = list(net.named_children())
    shapes = _output_shapes(net, _images(2, (1, 28, 28)), layers)
    kinds = [(type(m).__name__, shapes[name][1:]) for name, m in layers]
    assert kinds == [
        ("Conv2d", (20, 28, 28)), ("ReLU", (20, 28, 28)), ("MaxPool2d", (20, 14, 14)),
        ("Conv2d", (50, 14, 14)), ("ReLU", (50, 14, 14)), ("MaxPool2d", (50, 7, 7)),
        ("Flatten", (2450,)), ("Linear", (500,)), ("ReLU", (500,)), ("Linear", (10,)),
    ]
    # conv 20@5x5: 1*25*20 + 20; conv 50@5x5: 20*25*50 + 50; fc: 2450*500 + 500; 500*10 + 10
    assert [_count(m) for _, m in layers if _count(m)] == [520, 25_050, 1_225_500, 5_010]


def test_resnet20_has_three_stages_of_three_blocks_and_269722_parameters():
    net = md.models.resnet20()
    assert _count(net) == 269_722
    stages = [net.layer1, net.layer2, net.layer3]
    assert [len(stage) for stage in stages] == [3, 3, 3]
    widths = [[block.conv2.weight.shape[0] for block in stage] for stage in stages]
    assert widths == [[16] * 3, [32] * 3, [64] * 3]
    # Option A: the shortcuts add no parameters; every parameter sits in a conv, a BN or fc.
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 19 and all(m.bias is None for m in convs)
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert _count(net) == sum(map(_count, convs)) + sum(map(_count, bns)) + _count(net.fc)

    x = _images(2, (3, 32, 32))
    shapes = _output_shapes(net, x, [("layer1", net.layer1), ("layer2", net.layer2), ("layer3", net.layer3)])
    assert shapes == {"layer1": (2, 16, 32, 32), "layer2": (2, 32, 16, 16), "layer3": (2, 64, 8, 8)}
    assert net(x).shape == (2, 10)


def test_the_registry_builds_both_with_a_class_count():
    assert {"lenet5", "resnet20"} <= set(md.models.list_models())
    assert md.models.get("lenet5", num_classes=7)(_images(1, (1, 28, 28))).shape == (1, 7)
    assert md.models.get("resnet20", num_classes=4)(_images(1, (3, 32, 32))).shape == (1, 4)
    with pytest.raises(ValueError, match="unknown model 'lenet6'"):
        md.models.get("lenet6")


# ResNet-20 takes any size its three stages can halve twice: 16x16 keeps the test short.
@pytest.mark.parametrize("name, shape, lr", [("lenet5", (1, 28, 28), 0.05), ("resnet20", (3, 16, 16), 0.05)])
def test_a_few_sgd_steps_on_one_batch_lower_the_loss(name, shape, lr):
    md.manual_seed(0)
    net = md.models.get(name)
    opt = md.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    x, labels = _images(8, shape), np.arange(8) % 10
    losses = []
    for _ in range(8):
        loss = F.cross_entropy(net(x), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.isfinite(losses).all()
    # Memorising 8 images: the loss must fall well below its start (~log 10 = 2.3).
    assert losses[-1] < 0.5 * losses[0], losses
