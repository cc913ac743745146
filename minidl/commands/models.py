"""``minidl models``: the registered models by family, with parameter counts and native input.

Counts are of each model as built by default (its native classes and
channels); building all 47 takes a few seconds, so ``--names`` prints just the
names.
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
)


def add_arguments(parser):
    parser.add_argument("--names", action="store_true", help="only the names, one a line")


def family_of(name):
    for family, prefixes in FAMILIES:
        if name.startswith(prefixes):
            return family
    return "other"


def run(args):
    from minidl import models

    names = models.list_models()
    if args.names:
        for name in names:
            print(name)
        return 0
    groups = {}
    for name in names:
        groups.setdefault(family_of(name), []).append(name)
    width = max(map(len, names))
    print(f"{len(names)} models; `minidl train MODEL --dataset D` builds any of them for D's images")
    for family in [f for f, _ in FAMILIES] + ["other"]:
        if family not in groups:
            continue
        print(f"\n{family}")
        for name in groups[family]:
            params = sum(p.size for p in models.get(name).parameters())
            shape = "x".join(map(str, models.input_shape(name)))
            head = "  fixed-size head: --input-size" if models.takes_input_size(name) else ""
            print(f"  {name:<{width}}  {params:>12,} parameters  {shape:>11}{head}", flush=True)
    return 0
