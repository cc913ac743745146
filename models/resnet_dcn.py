"""ResNet-20 with deformable convolutions in its last stage (DCNv2 on CIFAR).

The lecture notes end their architecture list with deformable convolution:
an offset field lets each 3x3 kernel reach past its square grid. Following
the DCN papers, which deform only the last stages of a ResNet (where a pixel
sees much of the object), ``resnet20_dcn`` is ``resnet20`` with both 3x3
convolutions of each of its three 64-channel blocks (8x8 maps) replaced by
``nn.DeformConv2d`` (modulated, one offset group), the first of them keeping
its stride 2. Each predicts its offsets and mask with a zero-initialised 3x3
conv, so at initialisation the network computes exactly what a ResNet-20 with
the same weights computes; the offset convs add 7,803 + 5 x 15,579 parameters
(27 channels of 3x3 over 32 or 64 inputs, plus bias) to ResNet-20's 269,722.

>>> import minidl as md
>>> sum(p.size for p in md.models.resnet20_dcn().parameters())
355420
"""

from minidl import nn
from minidl.models.registry import register
from minidl.models.resnet_cifar import BasicBlock, CifarResNet

# Blocks are numbered from 0 over the network: resnet20 has 3 per stage.
BLOCKS_PER_STAGE = 3
DEFORMABLE_STAGE = 2


class DeformableBasicBlock(BasicBlock):
    """BasicBlock whose two 3x3 convolutions are deformable (shortcut option A)."""

    def __init__(self, in_channels, out_channels, stride=1, shortcut="A"):
        super().__init__(in_channels, out_channels, stride, shortcut)
        self.conv1 = nn.DeformConv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.conv2 = nn.DeformConv2d(out_channels, out_channels, 3, padding=1, bias=False)


@register(input_shape=(3, 32, 32))
def resnet20_dcn(num_classes=10, in_channels=3):
    """ResNet-20 whose last stage (64 channels, 8x8) has deformable 3x3 convolutions."""
    def block(block_in, block_out, stride, index):
        kind = DeformableBasicBlock if index // BLOCKS_PER_STAGE == DEFORMABLE_STAGE else BasicBlock
        return kind(block_in, block_out, stride, "A")

    model = CifarResNet(BLOCKS_PER_STAGE, num_classes, in_channels=in_channels, block=block)
    for module in model.modules():
        if isinstance(module, nn.DeformConv2d):
            # CifarResNet's init reached every nn.Conv2d, the offset predictors too: give the
            # deformable weights the same He init and set the predictors back to zero.
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            module.reset_offsets()
    return model
