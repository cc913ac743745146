"""Squeeze-and-excitation networks (Hu, Shen and Sun, 2018), on ResNet.

An SE module recalibrates the channels of a residual branch before the
addition: squeeze (global average pooling to one number per channel), excite
(fc to C/r, ReLU, fc back to C, sigmoid) and scale each channel by its gate,

    s = sigmoid(W2 relu(W1 avgpool(u))),   out = u * s   (per channel)

with reduction r = 16. The fc layers are 1x1 convolutions on the 1x1 squeezed
maps (the same weights and FLOPs as fc layers, and no reshape).

- ``se_resnet(depth)``: the CIFAR ResNet (3x32x32, option A shortcuts) with an
  SE module in every block; depth 6n+2, 110 by default (the paper's CIFAR net).
- ``se_resnet50``: ResNet-50 (torchvision layout) with an SE module in every
  bottleneck, 3x224x224; 28,088,024 parameters.

>>> import numpy as np, minidl as md
>>> se = SqueezeExcitation(32, 2)
>>> se(md.tensor(np.ones((2, 32, 4, 4), np.float32))).shape
(2, 32, 4, 4)
"""

from minidl import functional as F
from minidl import nn
from minidl.models.registry import register
from minidl.models.resnet import Bottleneck, ResNet
from minidl.models.resnet_cifar import BasicBlock, CifarResNet, blocks_for_depth

REDUCTION = 16


class SqueezeExcitation(nn.Module):
    """x * sigmoid(fc2(activation(fc1(avgpool(x))))), fc1: C -> squeeze_channels."""

    def __init__(self, channels, squeeze_channels, activation=nn.ReLU):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze_channels, 1)
        self.activation = activation()
        self.fc2 = nn.Conv2d(squeeze_channels, channels, 1)
        self.gate = nn.Sigmoid()

    def forward(self, x):
        scale = self.gate(self.fc2(self.activation(self.fc1(self.avgpool(x)))))
        return x * scale


def se_module(channels, reduction=REDUCTION):
    return SqueezeExcitation(channels, max(1, channels // reduction))


class SEBasicBlock(BasicBlock):
    """CIFAR basic block: relu(se(residual(x)) + shortcut(x))."""

    def __init__(self, in_channels, out_channels, stride=1, shortcut="A"):
        super().__init__(in_channels, out_channels, stride, shortcut)
        self.se = se_module(out_channels)

    def forward(self, x):
        return F.relu(self.se(self.residual(x)) + self.shortcut(x))


class SEBottleneck(Bottleneck):
    """ImageNet bottleneck: relu(se(residual(x)) + shortcut(x))."""

    def __init__(self, in_channels, planes, stride=1, downsample=None, groups=1, width_per_group=64):
        super().__init__(in_channels, planes, stride, downsample, groups, width_per_group)
        self.se = se_module(planes * self.expansion)

    def forward(self, x):
        return F.relu(self.se(self.residual(x)) + self.shortcut(x))


@register(input_shape=(3, 32, 32))
def se_resnet(num_classes=10, depth=110, in_channels=3):
    """SE-ResNet for CIFAR, depth 6n+2 (110 by default)."""
    n = blocks_for_depth(depth, "se_resnet")
    return CifarResNet(n, num_classes, in_channels=in_channels,
                       block=lambda cin, cout, stride, index: SEBasicBlock(cin, cout, stride))


@register(input_shape=(3, 224, 224))
def se_resnet50(num_classes=1000, in_channels=3):
    """SE-ResNet-50 for ImageNet.

    >>> import minidl as md
    >>> sum(p.size for p in md.models.se_resnet50().parameters())
    28088024
    """
    return ResNet(SEBottleneck, (3, 4, 6, 3), num_classes, in_channels=in_channels)
