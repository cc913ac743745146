"""``minidl models``: the registered models by family, with parameter counts and native input.

The counts are of each model as built by default (its native channels and
classes, 1000 for ImageNet models), written down here because building all of them
takes minutes on a small CPU; tests/test_models_zoo.py builds every model and
checks the same numbers, and tests/test_cli_options.py checks this table
against them. A model without an entry is built to count it.
"""

# Family of each model, in the order of the README's zoo table; a model that
# matches no prefix goes under "other".
FAMILIES = (
    ("LeNet-5", ("lenet5",)),
    ("AlexNet, ZFNet", ("alexnet", "zfnet")),
    ("VGG", ("vgg",)),
    ("Network in Network", ("nin",)),
    ("GoogLeNet", ("googlenet",)),
    ("ResNet (ImageNet)", ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")),
    ("ResNet and plain nets (CIFAR)", ("resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "plain")),
    ("Pre-activation and Wide ResNet", ("preact_resnet", "wrn_", "wide_resnet")),
    ("ResNeXt", ("resnext",)),
    ("Stochastic depth, FractalNet", ("stochastic_depth", "fractalnet")),
    ("DenseNet", ("densenet",)),
    ("SqueezeNet", ("squeezenet",)),
    ("SENet", ("se_resnet",)),
    ("MobileNet, EfficientNet", ("mobilenet", "efficientnet")),
    ("Deformable convolution (DCNv2)", ("resnet20_dcn",)),
)


PARAMETERS = {
    "lenet5": 1_256_080, "lenet5_1998": 61_706,
    "alexnet": 61_100_840, "alexnet_paper": 60_965_224, "zfnet": 107_627_624,
    "vgg11": 132_863_336, "vgg11_bn": 132_868_840, "vgg13": 133_047_848, "vgg13_bn": 133_053_736,
    "vgg16": 138_357_544, "vgg16_bn": 138_365_992, "vgg19": 143_667_240, "vgg19_bn": 143_678_248,
    "nin": 966_986, "nin_imagenet": 7_595_176, "googlenet": 13_378_280,
    "resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032,
    "resnet101": 44_549_160, "resnet152": 60_192_808,
    "resnet20": 269_722, "resnet32": 464_154, "resnet44": 658_586, "resnet56": 853_018, "resnet110": 1_727_962,
    "plain20": 269_722, "plain32": 464_154, "plain44": 658_586, "plain56": 853_018, "plain110": 1_727_962,
    "preact_resnet": 1_730_522, "wrn_16_8": 10_961_370, "wrn_28_10": 36_479_194, "wide_resnet50_2": 68_883_240,
    "resnext29_8x64d": 34_426_698, "resnext50_32x4d": 25_028_904,
    "stochastic_depth_resnet": 1_727_962, "fractalnet": 33_724_618,
    "densenet_bc_100": 769_162, "densenet121": 7_978_856,
    "squeezenet1_0": 1_248_424, "squeezenet1_1": 1_235_496,
    "se_resnet": 1_742_200, "se_resnet50": 28_088_024,
    "mobilenet_v2": 3_504_872, "efficientnet_b0": 5_288_548,
    "resnet20_dcn": 355_420,
}


def add_arguments(parser):
    parser.add_argument("--names", action="store_true", help="only the names, one a line")


def family_of(name):
    """The family whose longest prefix starts ``name`` (resnet20_dcn is not a plain resnet20)."""
    matches = [(len(prefix), family) for family, prefixes in FAMILIES for prefix in prefixes
               if name.startswith(prefix)]
    return max(matches)[1] if matches else "other"


def run(args):
    from minidl import models

    names = models.list_models()
    if args.names:
        for name in names:
            print(name)
        return 0
    order = {name: index for index, name in enumerate(PARAMETERS)}
    groups = {}
    for name in sorted(names, key=lambda n: (order.get(n, len(order)), n)):
        groups.setdefault(family_of(name), []).append(name)
    width = max(map(len, names))
    print(f"{len(names)} models; `minidl train MODEL --dataset D` builds any of them for D's images")
    for family in [f for f, _ in FAMILIES] + ["other"]:
        if family not in groups:
            continue
        print(f"\n{family}")
        for name in groups[family]:
            params = PARAMETERS.get(name) or sum(p.size for p in models.get(name).parameters())
            shape = "x".join(map(str, models.input_shape(name)))
            head = "  fixed-size head" if models.takes_input_size(name) else ""
            print(f"  {name:<{width}}  {params:>12,} parameters  {shape:>11}{head}", flush=True)
    return 0
