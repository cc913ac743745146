"""Every registered model: its parameter count, and one forward and backward pass at
its native input size (ImageNet models at batch 1, the others at batch 2)."""

import numpy as np
import pytest

import minidl as md

F = md.functional

# Published counts (1000 ImageNet classes / 10 CIFAR classes): torchvision's model
# tables, the papers, or the list.
PUBLISHED = {
    "lenet5": 1_256_080,          # the lecture's variant (seed 001)
    "lenet5_1998": 61_706,        # LeCun et al. 1998, fully connected C3
    "alexnet": 61_100_840,        # torchvision / the lecture
    "alexnet_paper": 60_965_224,  # Krizhevsky et al. 2012
    "vgg11": 132_863_336, "vgg11_bn": 132_868_840, "vgg13": 133_047_848, "vgg13_bn": 133_053_736,
    "vgg16": 138_357_544, "vgg16_bn": 138_365_992, "vgg19": 143_667_240, "vgg19_bn": 143_678_248,
    "resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032,
    "resnet101": 44_549_160, "resnet152": 60_192_808,
    "resnet20": 269_722, "resnet32": 464_154, "resnet44": 658_586, "resnet56": 853_018,
    "resnet110": 1_727_962,       # He et al. 2016, Table 6: 0.27M, 0.46M, 0.66M, 0.85M, 1.7M
    "wide_resnet50_2": 68_883_240, "resnext50_32x4d": 25_028_904,
    "densenet121": 7_978_856, "squeezenet1_0": 1_248_424, "squeezenet1_1": 1_235_496,
    "mobilenet_v2": 3_504_872, "efficientnet_b0": 5_288_548,
    "se_resnet50": 28_088_024,    # SENet's SE-ResNet-50 (28.1M)
    "wrn_28_10": 36_479_194,      # Zagoruyko & Komodakis: 36.5M
    "densenet_bc_100": 769_162,   # Huang et al.: 0.8M
}

# Counted here, with the arithmetic or the paper's rounded figure they agree with.
COUNTED = {
    # conv1 96@7x7: 14,208; conv2 256@5x5: 614,656; conv3 512: 1,180,160;
    # conv4 1024: 4,719,616; conv5 512: 4,719,104; fc 18432x4096, 4096x4096, 4096x1000
    "zfnet": 107_627_624,
    # 5x5x3x192 + 192, 192x160 + 160, 160x96 + 96, 5x5x96x192 + 192, 2 x (192x192 + 192),
    # 3x3x192x192 + 192, 192x192 + 192, 192x10 + 10
    "nin": 966_986,
    "nin_imagenet": 7_595_176,
    "googlenet": 13_378_280,      # 6,998,552 without the two auxiliary classifiers (paper: ~7M)
    "plain20": 269_722, "plain32": 464_154, "plain44": 658_586, "plain56": 853_018, "plain110": 1_727_962,
    "preact_resnet": 1_730_522,   # ResNet-110 with one more BN at the end (paper: 1.7M)
    "stochastic_depth_resnet": 1_727_962,  # ResNet-110 (1.7M)
    "se_resnet": 1_742_200,       # ResNet-110 + SE modules of reduction 16
    "wrn_16_8": 10_961_370,       # paper: 11.0M
    "resnext29_8x64d": 34_426_698,  # paper: 34.4M
    "fractalnet": 33_724_618,     # 20 layers, 5 blocks of 3 columns
    # resnet20 + six offset convs (3x3, 27 outputs with bias): one over 32 channels, five over 64
    "resnet20_dcn": 269_722 + 7_803 + 5 * 15_579,
}

# Parameters a training step may legitimately leave without a gradient: a dropped
# block (stochastic depth) or path (FractalNet's drop-path) does not run.
STOCHASTIC = {"stochastic_depth_resnet", "fractalnet"}

# Several seconds each for a forward and backward pass on a 2-core CPU.
SLOW = {
    "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
    "resnet101", "resnet152", "wide_resnet50_2", "resnext50_32x4d", "se_resnet50", "densenet121",
    "resnext29_8x64d", "wrn_28_10", "densenet_bc_100", "preact_resnet", "se_resnet",
    "stochastic_depth_resnet", "resnet110", "plain110", "efficientnet_b0", "mobilenet_v2",
}


def _count(model):
    return sum(p.size for p in model.parameters())


EXPECTED = {**PUBLISHED, **COUNTED}


def test_every_registered_model_has_a_checked_count():
    assert set(md.models.list_models()) == set(EXPECTED)
    assert not set(PUBLISHED) & set(COUNTED)


def _batch(name):
    shape = md.models.input_shape(name)
    batch = 1 if shape[1] >= 224 else 2
    x = np.random.default_rng(0).standard_normal((batch,) + shape).astype(np.float32)
    return md.tensor(x), np.arange(batch) % 10


# One build per model (the big ones take seconds to initialise): the count with the
# default classes, then one training step's forward and backward at the native size.
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n
                                  for n in md.models.list_models()])
def test_parameter_count_and_forward_backward_at_native_size(name):
    md.manual_seed(0)
    model = md.models.get(name)
    assert _count(model) == EXPECTED[name]
    x, labels = _batch(name)
    model.train()
    output = model(x)
    logits = output.logits if isinstance(output, md.models.GoogLeNetOutputs) else output
    num_classes = 1000 if md.models.input_shape(name)[1] >= 224 else 10   # the defaults
    assert logits.shape == (len(labels), num_classes)
    loss = md.models.googlenet_loss(output, labels)
    assert np.isfinite(loss.item())
    loss.backward()
    params = dict(model.named_parameters())
    with_grad = {n for n, p in params.items() if p.grad is not None}
    for n in with_grad:
        assert params[n].grad.shape == params[n].shape, n
        assert np.all(np.isfinite(params[n].grad)), n
    if name in STOCHASTIC:
        # In evaluation every block and path runs, so every parameter gets a gradient.
        model.zero_grad()
        model.eval()
        md.functional.cross_entropy(model(x), labels).backward()
        with_grad = {n for n, p in params.items() if p.grad is not None}
    assert with_grad == set(params)


def test_googlenet_without_auxiliary_classifiers():
    assert _count(md.models.googlenet(aux_logits=False)) == 6_998_552


@pytest.mark.parametrize("name", ["lenet5", "lenet5_1998", "alexnet_paper", "nin", "nin_imagenet", "resnet20",
                                  "plain20", "squeezenet1_1", "fractalnet", "googlenet", "resnet18"])
def test_num_classes_sets_the_output_width(name):
    model = md.models.get(name, num_classes=7).eval()
    x, _ = _batch(name)
    with md.no_grad():
        assert model(x).shape == (len(x), 7)


@pytest.mark.parametrize("name", ["resnet20", "resnet56", "plain20"])
def test_cifar_resnets_take_option_b_and_plain_nets_have_no_shortcuts(name):
    from minidl.models.resnet_cifar import BasicBlock, ZeroPadShortcut

    model = md.models.get(name)
    shortcuts = [type(m.shortcut) for m in model.modules() if isinstance(m, BasicBlock)]
    if name.startswith("plain"):
        assert set(shortcuts) == {type(None)}
        return
    assert shortcuts.count(ZeroPadShortcut) == 2 and shortcuts.count(md.nn.Identity) == len(shortcuts) - 2
    option_b = md.models.get(name, shortcut="B")
    projections = [m.shortcut for m in option_b.modules()
                   if isinstance(m, BasicBlock) and isinstance(m.shortcut, md.nn.Sequential)]
    assert [p[0].weight.shape for p in projections] == [(32, 16, 1, 1), (64, 32, 1, 1)]
    # The two projections, 16->32 and 32->64 (1x1 conv + BN): 512 + 64 + 2048 + 128.
    assert _count(option_b) - _count(model) == 2752


def test_option_a_shortcut_subsamples_and_pads_with_zeros():
    from minidl.models.resnet_cifar import ZeroPadShortcut

    x = md.tensor(np.arange(2 * 4 * 4 * 4, dtype=np.float32).reshape(2, 4, 4, 4))
    y = ZeroPadShortcut(4, 8, 2)(x).numpy()
    assert y.shape == (2, 8, 2, 2)
    np.testing.assert_array_equal(y[:, 2:6], x.numpy()[:, :, ::2, ::2])
    assert not y[:, :2].any() and not y[:, 6:].any()


def test_alexnet_paper_splits_conv2_4_5_across_two_gpus_as_groups():
    model = md.models.alexnet_paper()
    convs = [m for m in model.modules() if isinstance(m, md.nn.Conv2d)]
    assert [c.groups for c in convs] == [1, 2, 1, 2, 2]
    assert [c.out_channels for c in convs] == [96, 256, 384, 384, 256]
    assert sum(isinstance(m, md.nn.LocalResponseNorm) for m in model.modules()) == 2


def test_mobilenet_v2_depthwise_convolutions_have_one_filter_per_channel():
    model = md.models.mobilenet_v2()
    depthwise = [m for m in model.modules() if isinstance(m, md.nn.Conv2d) and m.groups > 1]
    assert len(depthwise) == 17
    assert all(m.groups == m.in_channels == m.out_channels and m.weight.shape[1] == 1 for m in depthwise)


def test_efficientnet_compound_scaling_grows_every_dimension():
    from minidl.models.efficientnet import ALPHA, BETA, GAMMA, B0_SETTINGS, scaled_settings

    assert abs(ALPHA * BETA**2 * GAMMA**2 - 2) < 0.1   # each step of phi about doubles the FLOPs
    settings, stem, resolution = scaled_settings(2)
    assert resolution == round(224 * GAMMA**2) and stem >= 32
    assert all(c2 >= c0 and n2 >= n0 for (*_, c0, n0), (*_, c2, n2) in zip(B0_SETTINGS, settings))
    assert sum(n for *_, n in settings) > sum(n for *_, n in B0_SETTINGS)
