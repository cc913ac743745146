"""ResNeXt (Xie et al., 2017): the bottleneck block with G parallel paths, written
as one grouped 3x3 convolution (groups = G, the cardinality).

Seed 001's equal-cost rule: a bottleneck block on C channels (1x1 to C/4, 3x3,
1x1 back) costs 17HWC^2 multiply-adds; G paths of width c cost
HW(2GCc + 9Gc^2), and the two are equal when 9Gc^2 + 8GCc - 17C^2 = 0 (C = 64:
G = 4 gives c = 24, G = 32 gives c = 4; see ``examples/resnext_width.py``).

- ``resnext50_32x4d``: ImageNet, torchvision's layout (``resnet.ResNet`` with
  32 groups of 4 channels in the first stage's 3x3), 25,028,904 parameters.
- ``resnext29_8x64d``: CIFAR (3x32x32), the paper's 29-layer network: a 3x3
  stem with 64 filters, three stages of three bottleneck blocks with
  cardinality 8 and 64 channels per group (3x3 widths 512, 1024, 2048; outputs
  256, 512, 1024), global average pooling, fc. 34.4M parameters.

>>> import minidl as md
>>> sum(p.size for p in md.models.resnext50_32x4d().parameters())
25028904
"""

from minidl import nn
from minidl.models.registry import register
from minidl.models.resnet import Bottleneck, ResNet, make_stage
from minidl.models.rules import kaiming_init_, stage_stride


@register(input_shape=(3, 224, 224))
def resnext50_32x4d(num_classes=1000):
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes, groups=32, width_per_group=4)


class CifarResNeXt(nn.Module):
    """3x3 stem, three stages of bottleneck blocks on 32, 16 and 8 pixel maps, GAP, fc."""

    def __init__(self, blocks_per_stage=3, cardinality=8, width_per_group=64, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        channels = 64
        for index, planes in enumerate((64, 128, 256)):
            stage, channels = make_stage(Bottleneck, channels, planes, blocks_per_stage,
                                         stage_stride(index), cardinality, width_per_group)
            setattr(self, f"layer{index + 1}", stage)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(channels, num_classes)
        kaiming_init_(self)

    def forward(self, x):
        x = self.bn1(self.conv1(x), relu=True)
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.flatten(self.avgpool(x)))


@register(input_shape=(3, 32, 32))
def resnext29_8x64d(num_classes=10):
    """ResNeXt-29 (8x64d) for CIFAR.

    >>> import minidl as md
    >>> sum(p.size for p in md.models.resnext29_8x64d().parameters())
    34426698
    """
    return CifarResNeXt(3, 8, 64, num_classes)
