"""MobileNetV2 (Sandler et al., 2018), torchvision's layout, for 3x224x224.

A depthwise separable convolution factors a kxk convolution into a depthwise
kxk convolution, one filter per channel (a grouped convolution with
groups = C), and a pointwise 1x1 convolution that mixes channels: about
k^2 + C_out multiply-adds per output pixel and channel instead of k^2 * C_in.

The inverted residual block expands C_in to t * C_in channels with a 1x1
convolution, filters them depthwise 3x3 (stride s), and projects back to C_out
with a linear 1x1 convolution (no ReLU: the "linear bottleneck"); the shortcut
is added when s = 1 and C_in = C_out. Every convolution has BN and all but the
projection ReLU6.

    conv 32@3x3 /2, then (t, C_out, n repeats, s of the first):
    (1, 16, 1, 1) (6, 24, 2, 2) (6, 32, 3, 2) (6, 64, 4, 2) (6, 96, 3, 1)
    (6, 160, 3, 2) (6, 320, 1, 1), conv 1280@1x1, global average pooling,
    dropout 0.2, fc num_classes

3,504,872 parameters.

>>> import minidl as md
>>> sum(p.size for p in md.models.mobilenet_v2().parameters())
3504872
"""

from collections import OrderedDict

from minidl import nn
from minidl.models.registry import register
from minidl.models.rules import block_strides, kaiming_init_

SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
            (6, 160, 3, 2), (6, 320, 1, 1))


def conv_bn(in_channels, out_channels, kernel_size, stride=1, groups=1, activation=nn.ReLU6):
    """conv (no bias, 'same' padding) -> BN -> activation (none if ``activation`` is None)."""
    layers = [nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride,
                        padding=(kernel_size - 1) // 2, groups=groups, bias=False),
              nn.BatchNorm2d(out_channels)]
    if activation is not None:
        layers.append(activation())
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """expand 1x1 (t) -> depthwise 3x3 (stride) -> linear project 1x1, + x when shapes match."""

    def __init__(self, in_channels, out_channels, stride, expand_ratio):
        super().__init__()
        hidden = in_channels * expand_ratio
        self.use_residual = stride == 1 and in_channels == out_channels
        layers = []
        if expand_ratio != 1:
            layers.append(conv_bn(in_channels, hidden, 1))
        layers += [conv_bn(hidden, hidden, 3, stride, groups=hidden),
                   conv_bn(hidden, out_channels, 1, activation=None)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        out = self.conv(x)
        return x + out if self.use_residual else out


@register(input_shape=(3, 224, 224))
def mobilenet_v2(num_classes=1000):
    layers = [conv_bn(3, 32, 3, stride=2)]
    channels = 32
    for t, c, n, s in SETTINGS:
        for stride in block_strides(n, s):
            layers.append(InvertedResidual(channels, c, stride, t))
            channels = c
    layers.append(conv_bn(channels, 1280, 1))
    model = nn.Sequential(OrderedDict(
        features=nn.Sequential(*layers),
        avgpool=nn.AdaptiveAvgPool2d(1),
        flatten=nn.Flatten(),
        classifier=nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes)),
    ))
    kaiming_init_(model)  # the classifier's Linear comes after every convolution
    for module in model.modules():
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0.0, 0.01)
            nn.init.zeros_(module.bias)
    return model
