"""EfficientNet-B0 (Tan and Le, 2019), torchvision's layout, for 3x224x224.

Compound scaling grows depth, width and resolution together, by alpha^phi,
beta^phi and gamma^phi with alpha * beta^2 * gamma^2 ~ 2 (alpha = 1.2,
beta = 1.1, gamma = 1.15), so each step of phi doubles the FLOPs; B0 is the
phi = 0 base network found by architecture search, and ``scaled_settings``
applies the rule to it.

B0 is MobileNetV2's inverted residual ("MBConv") with swish (x * sigmoid(x))
instead of ReLU6, 3x3 or 5x5 depthwise filters, and a squeeze-and-excitation
module (squeezing to a quarter of the block's input channels) before the
projection. Stochastic depth drops a block's residual branch per sample in
training, with a probability growing linearly to 0.2 over the blocks, and
scales survivors up by 1 / survival (torchvision's convention; evaluation runs
every block unscaled).

    conv 32@3x3 /2, then MBConv (expansion, kernel, stride, C_out, repeats):
    (1, 3, 1, 16, 1) (6, 3, 2, 24, 2) (6, 5, 2, 40, 2) (6, 3, 2, 80, 3)
    (6, 5, 1, 112, 3) (6, 5, 2, 192, 4) (6, 3, 1, 320, 1),
    conv 1280@1x1, global average pooling, dropout 0.2, fc num_classes

5,288,548 parameters.

>>> import minidl as md
>>> sum(p.size for p in md.models.efficientnet_b0().parameters())
5288548
"""

import math
from collections import OrderedDict

from minidl import nn
from minidl import random
from minidl.backend import get_array_module
from minidl.models.mobilenet_v2 import conv_bn
from minidl.models.registry import register
from minidl.models.rules import block_strides, kaiming_init_
from minidl.models.se_resnet import SqueezeExcitation
from minidl.tensor import Tensor

# (expansion, kernel, stride, out_channels, repeats) of B0's seven stages.
B0_SETTINGS = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
               (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))
ALPHA, BETA, GAMMA = 1.2, 1.1, 1.15


def scaled_settings(phi):
    """Compound scaling of B0: (stage settings, stem width, input resolution) for ``phi``.

    Widths are rounded to multiples of 8 and depths up, as in the paper's code.

    >>> settings, stem, resolution = scaled_settings(0)
    >>> settings == B0_SETTINGS, stem, resolution
    (True, 32, 224)
    """
    width, depth = BETA ** phi, ALPHA ** phi

    def channels(c):
        scaled = max(8, int(c * width + 4) // 8 * 8)
        return scaled + 8 if scaled < 0.9 * c * width else scaled

    settings = tuple((t, k, s, channels(c), int(math.ceil(n * depth))) for t, k, s, c, n in B0_SETTINGS)
    return settings, channels(32), int(round(224 * GAMMA ** phi))


class StochasticDepth(nn.Module):
    """Per sample in training: zero the input with probability p, else scale it by 1/(1-p)."""

    def __init__(self, p):
        super().__init__()
        self.p = float(p)

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        survival = 1.0 - self.p
        keep = random.generator().random((x.shape[0],) + (1,) * (x.ndim - 1)) < survival
        xp = get_array_module(x.data)
        return x * Tensor(xp.asarray(keep / survival, dtype=x.dtype))

    def extra_repr(self):
        return f"p={self.p}"


class MBConv(nn.Module):
    """expand 1x1 -> depthwise kxk -> SE -> project 1x1 (linear), + x (with stochastic
    depth) when shapes match."""

    def __init__(self, in_channels, out_channels, expand_ratio, kernel_size, stride, drop):
        super().__init__()
        hidden = in_channels * expand_ratio
        self.use_residual = stride == 1 and in_channels == out_channels
        layers = []
        if expand_ratio != 1:
            layers.append(conv_bn(in_channels, hidden, 1, activation=nn.SiLU))
        layers += [conv_bn(hidden, hidden, kernel_size, stride, groups=hidden, activation=nn.SiLU),
                   SqueezeExcitation(hidden, max(1, in_channels // 4), activation=nn.SiLU),
                   conv_bn(hidden, out_channels, 1, activation=None)]
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = StochasticDepth(drop)

    def forward(self, x):
        out = self.block(x)
        return x + self.stochastic_depth(out) if self.use_residual else out


def efficientnet(settings, stem_channels, num_classes=1000, dropout=0.2, stochastic_depth=0.2):
    total = sum(n for *_, n in settings)
    layers = [conv_bn(3, stem_channels, 3, stride=2, activation=nn.SiLU)]
    channels, index = stem_channels, 0
    for t, k, s, c, n in settings:
        for stride in block_strides(n, s):
            layers.append(MBConv(channels, c, t, k, stride, stochastic_depth * index / total))
            channels, index = c, index + 1
    head = 4 * channels
    layers.append(conv_bn(channels, head, 1, activation=nn.SiLU))
    model = nn.Sequential(OrderedDict(
        features=nn.Sequential(*layers),
        avgpool=nn.AdaptiveAvgPool2d(1),
        flatten=nn.Flatten(),
        classifier=nn.Sequential(nn.Dropout(dropout), nn.Linear(head, num_classes)),
    ))
    kaiming_init_(model)  # the classifier's Linear comes after every convolution
    for module in model.modules():
        if isinstance(module, nn.Linear):
            bound = 1.0 / math.sqrt(module.out_features)
            nn.init.uniform_(module.weight, -bound, bound)
            nn.init.zeros_(module.bias)
    return model


@register(input_shape=(3, 224, 224))
def efficientnet_b0(num_classes=1000):
    settings, stem, _ = scaled_settings(0)
    return efficientnet(settings, stem, num_classes)
