"""ResNet for CIFAR-10 (He et al. 2016, section 4.2): depth 6n+2, and its plain twin.

A 3x3 conv with 16 filters, then three stages of n basic blocks at 16, 32 and
64 channels on 32x32, 16x16 and 8x8 maps (the first block of stages 2 and 3
halves the size with stride 2), then global average pooling and a
fully-connected layer. resnet20/32/44/56/110 have n = 3, 5, 7, 9, 18.

Shortcut option A, the paper's choice on CIFAR: where a block halves the size
and doubles the channels, the shortcut takes every other pixel and pads the new
channels with zeros, so it has no parameters (resnet20: 269,722 parameters).
Option B (``shortcut="B"``) uses a 1x1 convolution with BN there instead
(resnet20: 272,474). Both are the identity elsewhere.

The plain nets (plain20 ... plain110) are the same stacks with no shortcut at
all: the networks of the degradation experiment (``examples/degradation.py``),
where the deeper plain net trains worse and the residual one does not.

>>> import minidl as md
>>> sum(p.size for p in md.models.plain56().parameters()) == sum(
...     p.size for p in md.models.resnet56().parameters())
True
"""

from minidl import functional as F
from minidl import nn
from minidl.backend import get_array_module
from minidl.models.registry import register
from minidl.models.rules import block_strides, kaiming_init_, stage_stride
from minidl.tensor import Tensor

SHORTCUTS = ("A", "B", None)


class ZeroPadShortcut(nn.Module):
    """Option A: x[:, :, ::stride, ::stride] with zero channels added on both sides."""

    def __init__(self, in_channels, out_channels, stride):
        super().__init__()
        self.stride = stride
        self.extra = out_channels - in_channels

    def forward(self, x):
        x = x[:, :, ::self.stride, ::self.stride]
        if self.extra == 0:
            return x
        n, _, h, w = x.shape
        xp = get_array_module(x.data)
        before = self.extra // 2
        zeros = [Tensor(xp.zeros((n, c, h, w), dtype=x.dtype)) for c in (before, self.extra - before)]
        return F.concat([zeros[0], x, zeros[1]], axis=1)


def make_shortcut(kind, in_channels, out_channels, stride):
    """The shortcut of a block: None for a plain block, the identity where the shape
    stays, else option A (zero padding) or B (1x1 conv + BN)."""
    if kind not in SHORTCUTS:
        raise ValueError(f"resnet_cifar: shortcut must be 'A', 'B' or None (plain), got {kind!r}")
    if kind is None:
        return None
    if stride == 1 and in_channels == out_channels:
        return nn.Identity()
    if kind == "A":
        return ZeroPadShortcut(in_channels, out_channels, stride)
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                         nn.BatchNorm2d(out_channels))


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN, plus the shortcut (none in a plain block), then ReLU."""

    def __init__(self, in_channels, out_channels, stride=1, shortcut="A"):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = make_shortcut(shortcut, in_channels, out_channels, stride)

    def residual(self, x):
        out = self.bn1(self.conv1(x), relu=True)
        return self.bn2(self.conv2(out))

    def forward(self, x):
        out = self.residual(x)
        if self.shortcut is None:
            return F.relu(out)
        return F.add_relu(out, self.shortcut(x))


class CifarResNet(nn.Module):
    """Stem, three stages of ``blocks_per_stage`` blocks, GAP, fc; ``block`` builds
    each block from (in_channels, out_channels, stride, index) where index counts
    blocks from 0 over the whole network."""

    def __init__(self, blocks_per_stage, num_classes=10, widths=(16, 32, 64), shortcut="A",
                 in_channels=3, block=None):
        super().__init__()
        if block is None:
            def block(block_in, block_out, stride, index):
                return BasicBlock(block_in, block_out, stride, shortcut)
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        stages = []
        channels = widths[0]
        index = 0
        for stage_index, width in enumerate(widths):
            blocks = []
            for stride in block_strides(blocks_per_stage, stage_stride(stage_index)):
                blocks.append(block(channels, width, stride, index))
                channels = width
                index += 1
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[-1], num_classes)
        kaiming_init_(self)

    def forward(self, x):
        x = self.bn1(self.conv1(x), relu=True)
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(F.flatten(self.pool(x)))


def blocks_for_depth(depth, name="resnet_cifar"):
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"{name}: depth must be 6n + 2 with n >= 1, got {depth}")
    return (depth - 2) // 6


@register(input_shape=(3, 32, 32))
def resnet20(num_classes=10, shortcut="A", in_channels=3):
    """ResNet-20 for 3x32x32 input, shortcut option A.

    >>> import minidl as md
    >>> sum(p.size for p in md.models.resnet20().parameters())
    269722
    >>> sum(p.size for p in md.models.resnet20(shortcut="B").parameters())
    272474
    """
    return CifarResNet(3, num_classes, shortcut=shortcut, in_channels=in_channels)


@register(input_shape=(3, 32, 32))
def resnet32(num_classes=10, shortcut="A", in_channels=3):
    return CifarResNet(5, num_classes, shortcut=shortcut, in_channels=in_channels)


@register(input_shape=(3, 32, 32))
def resnet44(num_classes=10, shortcut="A", in_channels=3):
    return CifarResNet(7, num_classes, shortcut=shortcut, in_channels=in_channels)


@register(input_shape=(3, 32, 32))
def resnet56(num_classes=10, shortcut="A", in_channels=3):
    return CifarResNet(9, num_classes, shortcut=shortcut, in_channels=in_channels)


@register(input_shape=(3, 32, 32))
def resnet110(num_classes=10, shortcut="A", in_channels=3):
    """ResNet-110 for CIFAR: 1.7M parameters."""
    return CifarResNet(18, num_classes, shortcut=shortcut, in_channels=in_channels)


@register(input_shape=(3, 32, 32))
def plain20(num_classes=10, in_channels=3):
    """ResNet-20 without shortcuts (same parameters as resnet20)."""
    return CifarResNet(3, num_classes, shortcut=None, in_channels=in_channels)


@register(input_shape=(3, 32, 32))
def plain32(num_classes=10, in_channels=3):
    return CifarResNet(5, num_classes, shortcut=None, in_channels=in_channels)


@register(input_shape=(3, 32, 32))
def plain44(num_classes=10, in_channels=3):
    return CifarResNet(7, num_classes, shortcut=None, in_channels=in_channels)


@register(input_shape=(3, 32, 32))
def plain56(num_classes=10, in_channels=3):
    return CifarResNet(9, num_classes, shortcut=None, in_channels=in_channels)


@register(input_shape=(3, 32, 32))
def plain110(num_classes=10, in_channels=3):
    return CifarResNet(18, num_classes, shortcut=None, in_channels=in_channels)
