"""ResNet for ImageNet (He et al., 2015) in torchvision's layout, on 3x224x224.

Stem: conv 64@7x7 /2 -> BN -> ReLU -> maxpool 3x3 /2 (224 -> 56). Then four
stages at 64, 128, 256 and 512 base channels on 56, 28, 14 and 7 pixel maps; the
first block of stages 2-4 halves the size with stride 2 and doubles the
channels. Global average pooling and one fc layer finish.

- ``BasicBlock`` (resnet18/34): conv3x3-BN-ReLU-conv3x3-BN, 18HWC^2 multiply-adds.
- ``Bottleneck`` (resnet50/101/152): 1x1 reduce to C/4 -> 3x3 -> 1x1 back to C,
  17HWC^2 multiply-adds for a block 4x wider (seed 001). As in torchvision
  ("ResNet v1.5") the stride sits on the 3x3 convolution.

Where a block changes the size or the channels, the shortcut is a 1x1
convolution with BN (option B); elsewhere it is the identity. The names of the
layers are torchvision's (``layer1.0.conv1``, ``layer2.0.downsample.0``, ...).

Bottleneck's ``groups`` and ``width_per_group`` give ResNeXt (grouped 3x3) and
Wide ResNet-50-2 (twice as wide a 3x3); see ``resnext.py`` and ``wide_resnet.py``.

>>> import minidl as md
>>> sum(p.size for p in md.models.resnet18().parameters())
11689512
"""

from minidl import functional as F
from minidl import nn
from minidl.models.registry import register
from minidl.models.rules import kaiming_init_, stage_stride


def conv3x3(in_channels, out_channels, stride=1, groups=1):
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, groups=groups, bias=False)


def conv1x1(in_channels, out_channels, stride=1):
    return nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))."""

    expansion = 1

    def __init__(self, in_channels, planes, stride=1, downsample=None, groups=1, width_per_group=64):
        super().__init__()
        if groups != 1 or width_per_group != 64:
            raise ValueError("BasicBlock: groups and width_per_group apply to Bottleneck only")
        self.conv1 = conv3x3(in_channels, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def residual(self, x):
        out = self.bn1(self.conv1(x), relu=True)
        return self.bn2(self.conv2(out))

    def shortcut(self, x):
        return x if self.downsample is None else self.downsample(x)

    def forward(self, x):
        return F.add_relu(self.residual(x), self.shortcut(x))


class Bottleneck(nn.Module):
    """1x1 (width) -> 3x3 (width, stride, groups) -> 1x1 (4 * planes), each with BN,
    plus the shortcut; width = planes * width_per_group / 64 * groups."""

    expansion = 4

    def __init__(self, in_channels, planes, stride=1, downsample=None, groups=1, width_per_group=64):
        super().__init__()
        width = int(planes * (width_per_group / 64.0)) * groups
        self.conv1 = conv1x1(in_channels, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride, groups)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.downsample = downsample

    def residual(self, x):
        out = self.bn1(self.conv1(x), relu=True)
        out = self.bn2(self.conv2(out), relu=True)
        return self.bn3(self.conv3(out))

    def shortcut(self, x):
        return x if self.downsample is None else self.downsample(x)

    def forward(self, x):
        return F.add_relu(self.residual(x), self.shortcut(x))


def make_stage(block, in_channels, planes, count, stride=1, groups=1, width_per_group=64):
    """``count`` blocks, the first with ``stride`` and a projection shortcut where the
    shape changes; returns (stage, output channels)."""
    out_channels = planes * block.expansion
    downsample = None
    if stride != 1 or in_channels != out_channels:
        downsample = nn.Sequential(conv1x1(in_channels, out_channels, stride), nn.BatchNorm2d(out_channels))
    blocks = [block(in_channels, planes, stride, downsample, groups, width_per_group)]
    blocks += [block(out_channels, planes, 1, None, groups, width_per_group) for _ in range(1, count)]
    return nn.Sequential(*blocks), out_channels


class ResNet(nn.Module):
    """The ImageNet ResNet: ``layers`` blocks per stage of ``block``."""

    def __init__(self, block, layers, num_classes=1000, groups=1, width_per_group=64):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        channels = 64
        for index, (planes, count) in enumerate(zip((64, 128, 256, 512), layers)):
            stage, channels = make_stage(block, channels, planes, count, stage_stride(index),
                                         groups, width_per_group)
            setattr(self, f"layer{index + 1}", stage)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(channels, num_classes)
        kaiming_init_(self)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.flatten(self.avgpool(x)))


@register(input_shape=(3, 224, 224))
def resnet18(num_classes=1000):
    return ResNet(BasicBlock, (2, 2, 2, 2), num_classes)


@register(input_shape=(3, 224, 224))
def resnet34(num_classes=1000):
    return ResNet(BasicBlock, (3, 4, 6, 3), num_classes)


@register(input_shape=(3, 224, 224))
def resnet50(num_classes=1000):
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes)


@register(input_shape=(3, 224, 224))
def resnet101(num_classes=1000):
    return ResNet(Bottleneck, (3, 4, 23, 3), num_classes)


@register(input_shape=(3, 224, 224))
def resnet152(num_classes=1000):
    return ResNet(Bottleneck, (3, 8, 36, 3), num_classes)
