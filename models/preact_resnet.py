"""Pre-activation ResNet (He et al., "Identity Mappings in Deep Residual Networks", 2016).

Each block is BN-ReLU-conv, BN-ReLU-conv (basic) or three such units with 1x1,
3x3 and 1x1 convolutions (bottleneck, 4x expansion), and nothing follows the
addition: the shortcut path is a clean identity from block to block, which the
paper shows is what lets gradients reach the first layers of a 1001-layer net.
Where a block changes the size or width, the shortcut is a 1x1 convolution of
the pre-activated input (the paper's code). After the last block come BN-ReLU,
global average pooling and fc.

``preact_resnet(depth)`` is the CIFAR network (3x32x32) with stages of 16, 32
and 64 base channels: basic blocks for depth 6n+2 (110 by default), bottleneck
blocks for depth 9n+2 (164 and 1001 in the paper; ``bottleneck`` defaults to
depth >= 164).

>>> import minidl as md
>>> sum(p.size for p in md.models.preact_resnet(depth=164).parameters())
1703258
"""

from minidl import nn
from minidl.models.registry import register
from minidl.models.rules import block_strides, kaiming_init_, stage_stride


class PreActBlock(nn.Module):
    """x + conv3x3(relu(bn(conv3x3(relu(bn(x)))))), with ``dropout`` between the two
    convolutions (Wide ResNet's option)."""

    expansion = 1

    def __init__(self, in_channels, planes, stride=1, dropout=0.0):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.projection = _projection(in_channels, planes, stride)

    def forward(self, x):
        activated = self.bn1(x, relu=True)
        out = self.conv1(activated)
        out = self.conv2(self.dropout(self.bn2(out, relu=True)))
        return out + (x if self.projection is None else self.projection(activated))


class PreActBottleneck(nn.Module):
    """x + conv1x1(relu(bn(conv3x3(relu(bn(conv1x1(relu(bn(x))))))))), 4 * planes wide."""

    expansion = 4

    def __init__(self, in_channels, planes, stride=1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.projection = _projection(in_channels, planes * 4, stride)

    def forward(self, x):
        activated = self.bn1(x, relu=True)
        out = self.conv1(activated)
        out = self.conv2(self.bn2(out, relu=True))
        out = self.conv3(self.bn3(out, relu=True))
        return out + (x if self.projection is None else self.projection(activated))


def _projection(in_channels, out_channels, stride):
    if stride == 1 and in_channels == out_channels:
        return None
    return nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)


class PreActStages(nn.Module):
    """A 3x3 conv with 16 filters, stages ``layer1``... of pre-activation blocks, then
    BN-ReLU, global average pooling and fc: the frame of PreActResNet and WideResNet."""

    def _finish(self, stages, channels, num_classes):
        """Register the stages (lists of blocks) and the head on ``channels``; initialise."""
        for index, blocks in enumerate(stages):
            setattr(self, f"layer{index + 1}", nn.Sequential(*blocks))
        self.bn = nn.BatchNorm2d(channels)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(channels, num_classes)
        kaiming_init_(self)

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(self.conv1(x))))
        return self.fc(self.flatten(self.avgpool(self.bn(x, relu=True))))


class PreActResNet(PreActStages):
    def __init__(self, depth=110, num_classes=10, bottleneck=None):
        super().__init__()
        bottleneck = depth >= 164 if bottleneck is None else bottleneck
        block, layers_per_block = (PreActBottleneck, 9) if bottleneck else (PreActBlock, 6)
        if depth < layers_per_block + 2 or (depth - 2) % layers_per_block:
            raise ValueError(
                f"preact_resnet: depth must be {layers_per_block}n + 2 for "
                f"{'bottleneck' if bottleneck else 'basic'} blocks, got {depth}"
            )
        n = (depth - 2) // layers_per_block
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        channels = 16
        stages = []
        for index, planes in enumerate((16, 32, 64)):
            blocks = []
            for stride in block_strides(n, stage_stride(index)):
                blocks.append(block(channels, planes, stride))
                channels = planes * block.expansion
            stages.append(blocks)
        self._finish(stages, channels, num_classes)


@register(input_shape=(3, 32, 32))
def preact_resnet(num_classes=10, depth=110, bottleneck=None):
    """Pre-activation ResNet for CIFAR; depth 110 (basic) by default, 164 (bottleneck)."""
    return PreActResNet(depth, num_classes, bottleneck)
