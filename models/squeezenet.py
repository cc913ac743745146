"""SqueezeNet (Iandola et al., 2016): AlexNet accuracy with 50x fewer parameters,
in torchvision's layout, for 3x224x224.

A fire module squeezes the input to s maps with 1x1 convolutions, then expands
with e1 1x1 and e3 3x3 convolutions side by side and concatenates them
(e1 + e3 maps). There is no fully-connected layer: the last 1x1 convolution
gives one map per class and global average pooling gives the scores.

- ``squeezenet1_0``: conv 96@7x7 /2, fire modules 2-9 with max pools after
  conv1, fire4 and fire8; 1,248,424 parameters.
- ``squeezenet1_1``: conv 64@3x3 /2 and pools moved earlier, 2.4x cheaper at the
  same accuracy; 1,235,496 parameters.

Max pools are 3x3 /2 and round up (``ceil_mode``), as torchvision's.

>>> import minidl as md
>>> sum(p.size for p in md.models.squeezenet1_0().parameters())
1248424
"""

from collections import OrderedDict

from minidl import functional as F
from minidl import nn
from minidl.models.registry import register


class Fire(nn.Module):
    """squeeze 1x1 (s) -> relu -> [expand 1x1 (e1) -> relu, expand 3x3 (e3) -> relu], concatenated."""

    def __init__(self, in_channels, squeeze, expand1x1, expand3x3):
        super().__init__()
        self.squeeze = nn.Conv2d(in_channels, squeeze, 1)
        self.squeeze_activation = nn.ReLU()
        self.expand1x1 = nn.Conv2d(squeeze, expand1x1, 1)
        self.expand1x1_activation = nn.ReLU()
        self.expand3x3 = nn.Conv2d(squeeze, expand3x3, 3, padding=1)
        self.expand3x3_activation = nn.ReLU()

    def forward(self, x):
        x = self.squeeze_activation(self.squeeze(x))
        return F.concat([self.expand1x1_activation(self.expand1x1(x)),
                         self.expand3x3_activation(self.expand3x3(x))], axis=1)


def _pool():
    return nn.MaxPool2d(3, stride=2, ceil_mode=True)


def squeezenet(version, num_classes=1000, in_channels=3):
    if version == "1_0":
        features = nn.Sequential(
            nn.Conv2d(in_channels, 96, 7, stride=2), nn.ReLU(), _pool(),
            Fire(96, 16, 64, 64), Fire(128, 16, 64, 64), Fire(128, 32, 128, 128), _pool(),
            Fire(256, 32, 128, 128), Fire(256, 48, 192, 192), Fire(384, 48, 192, 192),
            Fire(384, 64, 256, 256), _pool(),
            Fire(512, 64, 256, 256),
        )
    else:
        features = nn.Sequential(
            nn.Conv2d(in_channels, 64, 3, stride=2), nn.ReLU(), _pool(),
            Fire(64, 16, 64, 64), Fire(128, 16, 64, 64), _pool(),
            Fire(128, 32, 128, 128), Fire(256, 32, 128, 128), _pool(),
            Fire(256, 48, 192, 192), Fire(384, 48, 192, 192), Fire(384, 64, 256, 256),
            Fire(512, 64, 256, 256),
        )
    final_conv = nn.Conv2d(512, num_classes, 1)
    nn.init.normal_(final_conv.weight, 0.0, 0.01)
    nn.init.zeros_(final_conv.bias)
    return nn.Sequential(OrderedDict(
        features=features,
        classifier=nn.Sequential(nn.Dropout(0.5), final_conv, nn.ReLU(), nn.AdaptiveAvgPool2d(1)),
        flatten=nn.Flatten(),
    ))


@register(input_shape=(3, 224, 224))
def squeezenet1_0(num_classes=1000, in_channels=3):
    return squeezenet("1_0", num_classes, in_channels)


@register(input_shape=(3, 224, 224))
def squeezenet1_1(num_classes=1000, in_channels=3):
    """SqueezeNet 1.1.

    >>> import minidl as md
    >>> sum(p.size for p in md.models.squeezenet1_1().parameters())
    1235496
    """
    return squeezenet("1_1", num_classes, in_channels)
