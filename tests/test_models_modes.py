"""Train and evaluation modes differ exactly where the architectures say: GoogLeNet's
auxiliary classifiers, dropout, stochastic depth, FractalNet's drop-path,
EfficientNet's per-sample stochastic depth, and batch norm's statistics."""

import numpy as np
import pytest

import minidl as md
from minidl.models.efficientnet import StochasticDepth
from minidl.models.fractalnet import FractalBlock, FractalNet, join
from minidl.models.googlenet import GoogLeNetOutputs, googlenet_loss
from minidl.models.stochastic_depth import StochasticDepthBlock

F, nn = md.functional, md.nn


def _images(shape, seed=0):
    return md.tensor(np.random.default_rng(seed).standard_normal(shape).astype(np.float32))


def _calls(modules):
    """Count the forward calls of each module while the returned list is alive."""
    counts = [0] * len(modules)
    handles = []
    for i, module in enumerate(modules):
        def hook(m, inputs, output, i=i):
            counts[i] += 1
        handles.append(module.register_forward_hook(hook))
    return counts, handles


# ---- GoogLeNet ---------------------------------------------------------------

@pytest.fixture(scope="module")
def googlenet():
    md.manual_seed(0)
    return md.models.googlenet(num_classes=10)


def test_googlenet_auxiliary_outputs_only_in_training(googlenet):
    x = _images((1, 3, 224, 224))
    googlenet.train()
    outputs = googlenet(x)
    assert isinstance(outputs, GoogLeNetOutputs)
    assert [o.shape for o in outputs] == [(1, 10)] * 3
    googlenet.eval()
    with md.no_grad():
        logits = googlenet(x)
    assert isinstance(logits, md.Tensor) and logits.shape == (1, 10)


def test_googlenet_loss_weights_each_auxiliary_loss_by_0_3_and_trains_them(googlenet):
    googlenet.train()
    googlenet.zero_grad()
    labels = np.array([3])
    outputs = googlenet(_images((1, 3, 224, 224), seed=1))
    loss = googlenet_loss(outputs, labels)
    parts = [F.cross_entropy(o, labels).item() for o in outputs]
    assert loss.item() == pytest.approx(parts[0] + 0.3 * (parts[1] + parts[2]), rel=1e-6)
    loss.backward(retain_graph=True)
    head = googlenet.aux1.fc2.bias
    through_total = head.grad.copy()
    googlenet.zero_grad()
    F.cross_entropy(outputs.aux1, labels).backward()
    np.testing.assert_allclose(through_total, 0.3 * head.grad, rtol=1e-5, atol=1e-8)
    assert np.abs(through_total).sum() > 0


def test_googlenet_without_aux_logits_returns_logits_in_training():
    md.manual_seed(0)
    model = md.models.googlenet(num_classes=5, aux_logits=False)
    assert not hasattr(model, "aux1")
    model.train()
    assert model(_images((1, 3, 224, 224))).shape == (1, 5)


# ---- dropout -----------------------------------------------------------------

def test_dropout_changes_the_output_only_in_training():
    md.manual_seed(0)
    classifier = md.models.alexnet(num_classes=10).classifier
    x = _images((2, 9216))
    classifier.train()
    a, b = classifier(x).numpy(), classifier(x).numpy()
    assert not np.allclose(a, b)
    classifier.eval()
    c, d = classifier(x).numpy(), classifier(x).numpy()
    np.testing.assert_array_equal(c, d)
    assert not np.allclose(a, c)


# ---- stochastic depth --------------------------------------------------------

def test_stochastic_depth_survival_decays_linearly_to_one_half():
    model = md.models.stochastic_depth_resnet()
    survival = [m.survival for m in model.modules() if isinstance(m, StochasticDepthBlock)]
    blocks = len(survival)
    assert blocks == 54
    np.testing.assert_allclose(survival, [1 - (block / blocks) * 0.5 for block in range(1, blocks + 1)])


def test_a_dropped_block_is_the_identity_and_evaluation_scales_by_survival():
    md.manual_seed(0)
    block = StochasticDepthBlock(4, 4, survival=0.3)
    x = F.relu(_images((2, 4, 6, 6)))
    block.train()
    outputs = [block(x).numpy() for _ in range(40)]
    dropped = [o for o in outputs if np.array_equal(o, x.numpy())]
    assert 0 < len(dropped) < 40  # about 70% of the calls skip the block
    block.eval()
    with md.no_grad():
        expected = F.relu(x + 0.3 * block.residual(x)).numpy()
        np.testing.assert_allclose(block(x).numpy(), expected, rtol=1e-6)
    shortcut_of_transition = StochasticDepthBlock(4, 8, stride=2, survival=0.01).train()
    np.testing.assert_array_equal(shortcut_of_transition(x).numpy(), shortcut_of_transition.shortcut(x).numpy())


def test_stochastic_depth_resnet_skips_blocks_in_training_only():
    md.manual_seed(0)
    model = md.models.stochastic_depth_resnet(depth=20, last_survival=0.5)
    blocks = [m for m in model.modules() if isinstance(m, StochasticDepthBlock)]
    counts, handles = _calls([b.conv1 for b in blocks])
    x = _images((2, 3, 32, 32))
    model.train()
    for _ in range(6):
        model(x)
    trained = list(counts)
    model.eval()
    with md.no_grad():
        model(x)
    for handle in handles:
        handle.remove()
    assert sum(trained) < 6 * len(blocks)
    assert trained[0] >= trained[-1]  # the last block survives half the time, the first 92%
    assert [c - t for c, t in zip(counts, trained)] == [1] * len(blocks)


# ---- FractalNet --------------------------------------------------------------

def test_join_is_the_mean_and_local_drop_path_keeps_at_least_one_input():
    md.manual_seed(0)
    inputs = [md.tensor(np.full(3, v, np.float32)) for v in (1.0, 2.0, 6.0)]
    np.testing.assert_allclose(join(inputs).numpy(), [3.0] * 3)
    np.testing.assert_allclose(join(inputs, drop=0.9, training=False).numpy(), [3.0] * 3)
    seen = {float(join(inputs, drop=1.0, training=True).numpy()[0]) for _ in range(60)}
    assert seen == {1.0, 2.0, 6.0}  # everything dropped: exactly one input survives
    means = {float(join(inputs, drop=0.5, training=True).numpy()[0]) for _ in range(200)}
    assert means <= {1.0, 2.0, 6.0, 1.5, 3.5, 4.0, 3.0} and len(means) > 3


def test_a_fractal_block_has_columns_of_1_2_4_convolutions():
    block = FractalBlock(3, 4, columns=3)
    convs = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 7
    x = _images((1, 3, 8, 8))
    block.eval()
    counts, handles = _calls(convs)
    for column, depth in enumerate((1, 2, 4)):
        before = sum(counts)
        y = block(x, column=column)
        assert y.shape == (1, 4, 8, 8) and sum(counts) - before == depth
    for handle in handles:
        handle.remove()


def test_fractalnet_drop_path_local_and_global_in_training_only():
    md.manual_seed(0)
    model = FractalNet(num_classes=10, columns=3, channels=(4, 4, 4, 4, 4))
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 35
    counts, handles = _calls(convs)
    x = _images((2, 3, 32, 32))
    used = []
    model.train()
    for _ in range(12):
        before = list(counts)
        model(x)
        used.append(sum(c - b for c, b in zip(counts, before)))
    model.eval()
    before = list(counts)
    with md.no_grad():
        a, b = model(x).numpy(), model(x).numpy()
    for handle in handles:
        handle.remove()
    np.testing.assert_array_equal(a, b)
    assert sum(c - b for c, b in zip(counts, before)) == 2 * 35   # every path, twice
    # Global drop-path: one column in each of the 5 blocks, 1, 2 or 4 convolutions per block.
    assert {u for u in used if u in (5, 10, 20)}
    # Local drop-path: all columns start but some joins drop inputs (always more than one column).
    assert {u for u in used if u not in (5, 10, 20)}
    assert all(u <= 35 for u in used)
    assert model(x, column=2).shape == (2, 10)


# ---- EfficientNet's per-sample stochastic depth --------------------------------

def test_per_sample_stochastic_depth_zeroes_samples_and_rescales_survivors():
    md.manual_seed(0)
    drop = StochasticDepth(0.5)
    x = md.tensor(np.ones((64, 3, 2, 2), np.float32))
    y = drop(x).numpy()
    per_sample = y.reshape(64, -1)
    assert set(np.unique(per_sample)) == {0.0, 2.0}
    assert all(len(set(row)) == 1 for row in per_sample)  # a whole sample is kept or dropped
    drop.eval()
    np.testing.assert_array_equal(drop(x).numpy(), x.numpy())


# ---- batch norm --------------------------------------------------------------

def test_batch_norm_uses_batch_statistics_in_training_and_running_ones_in_evaluation():
    md.manual_seed(0)
    model = md.models.resnet20()
    x = _images((4, 3, 16, 16))
    other = md.tensor(np.concatenate([x.numpy()[:1], 3 + 2 * _images((3, 3, 16, 16), seed=5).numpy()]))
    bn = model.bn1
    before = bn.running_mean.numpy().copy()
    model.train()
    with md.no_grad():
        first = model(x).numpy()[0]
        second = model(other).numpy()[0]
    assert not np.allclose(first, second, atol=1e-4)  # sample 0 depends on its batch
    assert not np.allclose(bn.running_mean.numpy(), before)  # statistics were tracked
    model.eval()
    tracked = bn.running_mean.numpy().copy()
    with md.no_grad():
        first = model(x).numpy()[0]
        second = model(other).numpy()[0]
        alone = model(md.tensor(x.numpy()[:1])).numpy()[0]
    np.testing.assert_allclose(first, second, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(first, alone, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(bn.running_mean.numpy(), tracked)  # evaluation changes nothing
