"""VGG (Simonyan and Zisserman, 2014), configurations A, B, D, E = VGG-11/13/16/19,
in torchvision's layout, for 3x224x224.

Design rules (seed 001): every conv is 3x3 stride 1 pad 1, every pool 2x2 /2,
and after each pool the channels double (64, 128, 256, 512, 512), so every
stage costs about the same FLOPs. The classifier is
fc 4096 -> relu -> dropout -> fc 4096 -> relu -> dropout -> fc num_classes on the
512x7x7 maps. The ``_bn`` variants put batch norm between each conv and its
ReLU. torchvision's ``AdaptiveAvgPool2d(7)`` before the classifier is the
identity at 224 and is left out.

vgg16 has 138,357,544 parameters and vgg19 143,667,240.

>>> import minidl as md
>>> sum(p.size for p in md.models.vgg16().parameters())
138357544
"""

from collections import OrderedDict

from minidl import nn
from minidl.models.input_size import flat_features
from minidl.models.registry import register

# Output channels of each 3x3 conv; "M" is a 2x2 max pool.
CONFIGS = {
    "vgg11": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg13": (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    "vgg19": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
              512, 512, 512, 512, "M", 512, 512, 512, 512, "M"),
}


def features(config, batch_norm=False, in_channels=3):
    """The conv-relu(-pool) stack of one configuration."""
    layers = []
    for item in config:
        if item == "M":
            layers.append(nn.MaxPool2d(2, stride=2))
            continue
        layers.append(nn.Conv2d(in_channels, item, 3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(item))
        layers.append(nn.ReLU())
        in_channels = item
    return nn.Sequential(*layers)


def vgg(config_name, num_classes=1000, batch_norm=False, in_channels=3, input_size=224):
    """VGG of ``config_name``; the first fc layer takes the 512 maps an ``input_size``
    image leaves: 7x7 at 224, 1x1 at 32."""
    stack = features(CONFIGS[config_name], batch_norm, in_channels)
    return nn.Sequential(OrderedDict(
        features=stack,
        flatten=nn.Flatten(),
        classifier=nn.Sequential(
            nn.Linear(flat_features(stack, input_size, config_name + ("_bn" if batch_norm else "")), 4096),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(4096, 4096),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(4096, num_classes),
        ),
    ))


@register(input_shape=(3, 224, 224))
def vgg11(num_classes=1000, in_channels=3, input_size=224):
    return vgg("vgg11", num_classes, in_channels=in_channels, input_size=input_size)


@register(input_shape=(3, 224, 224))
def vgg11_bn(num_classes=1000, in_channels=3, input_size=224):
    return vgg("vgg11", num_classes, batch_norm=True, in_channels=in_channels, input_size=input_size)


@register(input_shape=(3, 224, 224))
def vgg13(num_classes=1000, in_channels=3, input_size=224):
    return vgg("vgg13", num_classes, in_channels=in_channels, input_size=input_size)


@register(input_shape=(3, 224, 224))
def vgg13_bn(num_classes=1000, in_channels=3, input_size=224):
    return vgg("vgg13", num_classes, batch_norm=True, in_channels=in_channels, input_size=input_size)


@register(input_shape=(3, 224, 224))
def vgg16(num_classes=1000, in_channels=3, input_size=224):
    return vgg("vgg16", num_classes, in_channels=in_channels, input_size=input_size)


@register(input_shape=(3, 224, 224))
def vgg16_bn(num_classes=1000, in_channels=3, input_size=224):
    return vgg("vgg16", num_classes, batch_norm=True, in_channels=in_channels, input_size=input_size)


@register(input_shape=(3, 224, 224))
def vgg19(num_classes=1000, in_channels=3, input_size=224):
    return vgg("vgg19", num_classes, in_channels=in_channels, input_size=input_size)


@register(input_shape=(3, 224, 224))
def vgg19_bn(num_classes=1000, in_channels=3, input_size=224):
    return vgg("vgg19", num_classes, batch_norm=True, in_channels=in_channels, input_size=input_size)
