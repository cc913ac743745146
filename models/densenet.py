"""DenseNet (Huang et al., 2017): every layer sees the maps of all layers before it.

In a dense block, layer l takes the concatenation of the block input and the
outputs of layers 1 .. l-1 and adds k new maps (k, the growth rate): shortcuts
by concatenation instead of addition. Each layer is the bottleneck "BC" form,
BN-ReLU-conv1x1 (4k maps) - BN-ReLU-conv3x3 (k maps). Between blocks a
transition, BN-ReLU-conv1x1-avgpool 2x2, halves the maps (compression 0.5) and
the size.

- ``densenet121``: ImageNet, torchvision's layout and names, k = 32, blocks of
  6, 12, 24 and 16 layers, a conv 64@7x7 /2 + maxpool stem; 7,978,856 parameters.
- ``densenet_bc_100``: CIFAR (3x32x32), k = 12, three blocks of 16 layers, a
  conv 24@3x3 stem; 0.8M parameters.

>>> import minidl as md
>>> sum(p.size for p in md.models.densenet121().parameters())
7978856
"""

from collections import OrderedDict

from minidl import functional as F
from minidl import nn
from minidl.models.registry import register
from minidl.models.rules import kaiming_init_


class DenseLayer(nn.Module):
    """BN-ReLU-conv1x1 (bn_size * k) -> BN-ReLU-conv3x3 (k): the k new maps."""

    def __init__(self, in_channels, growth_rate, bn_size=4):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.relu1 = nn.ReLU()
        self.conv1 = nn.Conv2d(in_channels, bn_size * growth_rate, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU()
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, 3, padding=1, bias=False)

    def forward(self, x):
        x = self.conv1(self.relu1(self.norm1(x)))
        return self.conv2(self.relu2(self.norm2(x)))


class DenseBlock(nn.Module):
    """``count`` dense layers; the output is the input and all their maps, concatenated."""

    def __init__(self, count, in_channels, growth_rate, bn_size=4):
        super().__init__()
        for i in range(count):
            self.add_module(f"denselayer{i + 1}", DenseLayer(in_channels + i * growth_rate, growth_rate, bn_size))

    def forward(self, x):
        maps = [x]
        for layer in self.children():
            maps.append(layer(F.concat(maps, axis=1)))
        return F.concat(maps, axis=1)


def transition(in_channels, out_channels):
    return nn.Sequential(OrderedDict(
        norm=nn.BatchNorm2d(in_channels),
        relu=nn.ReLU(),
        conv=nn.Conv2d(in_channels, out_channels, 1, bias=False),
        pool=nn.AvgPool2d(2, stride=2),
    ))


class DenseNet(nn.Module):
    def __init__(self, growth_rate, block_config, num_init_features, num_classes, bn_size=4,
                 compression=0.5, imagenet_stem=True):
        super().__init__()
        if imagenet_stem:
            stem = [("conv0", nn.Conv2d(3, num_init_features, 7, stride=2, padding=3, bias=False)),
                    ("norm0", nn.BatchNorm2d(num_init_features)),
                    ("relu0", nn.ReLU()),
                    ("pool0", nn.MaxPool2d(3, stride=2, padding=1))]
        else:
            stem = [("conv0", nn.Conv2d(3, num_init_features, 3, padding=1, bias=False))]
        features = nn.Sequential(OrderedDict(stem))
        channels = num_init_features
        for i, count in enumerate(block_config):
            features.add_module(f"denseblock{i + 1}", DenseBlock(count, channels, growth_rate, bn_size))
            channels += count * growth_rate
            if i != len(block_config) - 1:
                out_channels = int(channels * compression)
                features.add_module(f"transition{i + 1}", transition(channels, out_channels))
                channels = out_channels
        features.add_module("norm5", nn.BatchNorm2d(channels))
        features.add_module("relu5", nn.ReLU())
        self.features = features
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.classifier = nn.Linear(channels, num_classes)
        kaiming_init_(self, mode="fan_in")
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.zeros_(module.bias)

    def forward(self, x):
        return self.classifier(self.flatten(self.avgpool(self.features(x))))


@register(input_shape=(3, 224, 224))
def densenet121(num_classes=1000):
    return DenseNet(32, (6, 12, 24, 16), 64, num_classes)


@register(input_shape=(3, 32, 32))
def densenet_bc_100(num_classes=10):
    """DenseNet-BC (L=100, k=12) for CIFAR.

    >>> import minidl as md
    >>> sum(p.size for p in md.models.densenet_bc_100().parameters())
    769162
    """
    return DenseNet(12, (16, 16, 16), 24, num_classes, imagenet_stem=False)
