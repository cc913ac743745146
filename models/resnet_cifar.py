"""ResNet for CIFAR-10 (He et al. 2016, section 4.2): depth 6n+2.

A 3x3 conv with 16 filters, then three stages of n basic blocks at 16, 32 and
64 channels on 32x32, 16x16 and 8x8 maps (the first block of stages 2 and 3
halves the size with stride 2), then global average pooling and a
fully-connected layer. resnet20 has n = 3.

Shortcut option A, the paper's choice on CIFAR: where a block halves the size
and doubles the channels, the shortcut takes every other pixel and pads the new
channels with zeros, so it has no parameters (resnet20: 269,722 parameters;
option B, with 1x1 projection convolutions, has 272,474).
"""

from minidl import functional as F
from minidl import nn
from minidl.backend import get_array_module
from minidl.models.registry import register
from minidl.tensor import Tensor


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


class BasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN, plus the shortcut, then ReLU."""

    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        if stride != 1 or in_channels != out_channels:
            self.shortcut = ZeroPadShortcut(in_channels, out_channels, stride)
        else:
            self.shortcut = nn.Identity()

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    def __init__(self, blocks_per_stage, num_classes=10, widths=(16, 32, 64)):
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        stages = []
        in_channels = widths[0]
        for index, width in enumerate(widths):
            blocks = []
            for b in range(blocks_per_stage):
                stride = 2 if index > 0 and b == 0 else 1
                blocks.append(BasicBlock(in_channels, width, stride))
                in_channels = width
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[-1], num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(F.flatten(self.pool(x)))


@register
def resnet20(num_classes=10):
    """ResNet-20 for 3x32x32 input, shortcut option A.

    >>> import minidl as md
    >>> sum(p.size for p in md.models.resnet20().parameters())
    269722
    """
    return CifarResNet(3, num_classes)
