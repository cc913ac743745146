"""Wide residual networks (Zagoruyko and Komodakis, 2016): fewer, wider residual blocks.

``wrn_28_10`` and ``wrn_16_8`` are WRN-d-k for CIFAR (3x32x32): a 3x3 conv with
16 filters, then three groups of n = (d - 4) / 6 pre-activation blocks
(``preact_resnet.PreActBlock``: BN-ReLU-conv3x3-BN-ReLU-conv3x3) with 16k, 32k
and 64k channels on 32, 16 and 8 pixel maps, then BN-ReLU, global average
pooling and fc. Where a block changes the width or the size, the shortcut is a 1x1 convolution of the pre-activated
input (the paper's code). ``dropout`` (the paper's 0.3 in its dropout runs;
0 by default) sits between the two convolutions of each block.

``wide_resnet50_2`` is torchvision's ImageNet network: ResNet-50 with a 3x3
twice as wide in every bottleneck, 68,883,240 parameters.

>>> import minidl as md
>>> sum(p.size for p in md.models.wrn_16_8().parameters())
10961370
"""

from minidl import nn
from minidl.models.preact_resnet import PreActBlock, PreActStages
from minidl.models.registry import register
from minidl.models.resnet import Bottleneck, ResNet
from minidl.models.rules import block_strides, stage_stride


class WideResNet(PreActStages):
    def __init__(self, depth, widen_factor, num_classes=10, dropout=0.0):
        super().__init__()
        if (depth - 4) % 6:
            raise ValueError(f"WideResNet: depth must be 6n + 4, got {depth}")
        n = (depth - 4) // 6
        widths = (16 * widen_factor, 32 * widen_factor, 64 * widen_factor)
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        stages = []
        channels = 16
        for index, width in enumerate(widths):
            stages.append([PreActBlock(channels if b == 0 else width, width, stride, dropout)
                           for b, stride in enumerate(block_strides(n, stage_stride(index)))])
            channels = width
        self._finish(stages, channels, num_classes)


@register(input_shape=(3, 32, 32))
def wrn_28_10(num_classes=10, dropout=0.0):
    """WRN-28-10 for CIFAR: 36.5M parameters."""
    return WideResNet(28, 10, num_classes, dropout)


@register(input_shape=(3, 32, 32))
def wrn_16_8(num_classes=10, dropout=0.0):
    """WRN-16-8 for CIFAR: 11.0M parameters."""
    return WideResNet(16, 8, num_classes, dropout)


@register(input_shape=(3, 224, 224))
def wide_resnet50_2(num_classes=1000):
    """torchvision's Wide ResNet-50-2 for ImageNet.

    >>> import minidl as md
    >>> sum(p.size for p in md.models.wide_resnet50_2().parameters())
    68883240
    """
    return ResNet(Bottleneck, (3, 4, 6, 3), num_classes, width_per_group=128)
