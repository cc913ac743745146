"""GoogLeNet (Szegedy et al., 2014), the original Inception v1, for 3x224x224.

Stem (seed 001's "aggressive stem": 224 -> 28 in three convolutions):

    conv 64@7x7 /2 -> maxpool 3x3 /2 -> LRN -> conv 64@1x1 -> conv 192@3x3 -> LRN
    -> maxpool 3x3 /2

then inception 3a, 3b, maxpool, 4a-4e, maxpool, 5a, 5b, global average pooling,
dropout 0.4 and one fc layer. Every convolution has a bias and a ReLU; there is
no batch norm (it came a year later). Max pools round up (``ceil_mode``), as in
Caffe, so the maps are 112, 56, 28, 14 and 7.

An inception module runs four branches on the same input and concatenates their
maps: 1x1; 1x1 reduce -> 3x3; 1x1 reduce -> 5x5; 3x3 max pool -> 1x1 projection.
The 1x1 "bottleneck" convolutions are what make it affordable:
``NaiveInception`` is the module without them (seed 001: 28x28x256 in,
28x28x672 out, 854M multiply-adds).

Auxiliary classifiers after 4a and 4d (5x5 /3 average pool -> conv 128@1x1 ->
fc 1024 -> dropout 0.7 -> fc num_classes) push extra gradient into the middle of
the network. They run only in training and only with ``aux_logits=True``: then
the model returns ``GoogLeNetOutputs(logits, aux1, aux2)``, and
``googlenet_loss`` adds 0.3 times each auxiliary loss to the main one. In
evaluation the model returns the logits alone.

>>> import minidl as md
>>> sum(p.size for p in md.models.googlenet(aux_logits=False).parameters())
6998552
"""

from collections import namedtuple

from minidl import functional as F
from minidl import nn
from minidl.models.registry import register

GoogLeNetOutputs = namedtuple("GoogLeNetOutputs", ["logits", "aux1", "aux2"])

AUX_LOSS_WEIGHT = 0.3


def conv_relu(in_channels, out_channels, kernel_size, **kwargs):
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size, **kwargs), nn.ReLU())


class NaiveInception(nn.Module):
    """1x1, 3x3 and 5x5 convolutions and a 3x3 max pool side by side, concatenated.

    The pool branch keeps all input channels, so the output is always wider than
    the input: ``in_channels + ch1x1 + ch3x3 + ch5x5`` channels.

    >>> import numpy as np, minidl as md
    >>> module = NaiveInception(256, 128, 192, 96)
    >>> module(md.tensor(np.zeros((1, 256, 28, 28), np.float32))).shape
    (1, 672, 28, 28)
    """

    def __init__(self, in_channels, ch1x1, ch3x3, ch5x5):
        super().__init__()
        self.branch1 = conv_relu(in_channels, ch1x1, 1)
        self.branch2 = conv_relu(in_channels, ch3x3, 3, padding=1)
        self.branch3 = conv_relu(in_channels, ch5x5, 5, padding=2)
        self.branch4 = nn.MaxPool2d(3, stride=1, padding=1)

    def forward(self, x):
        return F.concat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], axis=1)


class Inception(nn.Module):
    """The inception module with 1x1 reductions before the 3x3 and 5x5 convolutions
    and a 1x1 projection after the pool; output ``ch1x1 + ch3x3 + ch5x5 + pool_proj``."""

    def __init__(self, in_channels, ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj):
        super().__init__()
        self.branch1 = conv_relu(in_channels, ch1x1, 1)
        self.branch2 = nn.Sequential(conv_relu(in_channels, ch3x3red, 1),
                                     conv_relu(ch3x3red, ch3x3, 3, padding=1))
        self.branch3 = nn.Sequential(conv_relu(in_channels, ch5x5red, 1),
                                     conv_relu(ch5x5red, ch5x5, 5, padding=2))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1),
                                     conv_relu(in_channels, pool_proj, 1))

    def forward(self, x):
        return F.concat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], axis=1)


class InceptionAux(nn.Module):
    """avgpool 5x5 /3 -> conv 128@1x1 -> fc 1024 -> dropout 0.7 -> fc num_classes (on 14x14 maps)."""

    def __init__(self, in_channels, num_classes):
        super().__init__()
        self.pool = nn.AvgPool2d(5, stride=3)
        self.conv = conv_relu(in_channels, 128, 1)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(128 * 4 * 4, 1024)
        self.relu = nn.ReLU()
        self.dropout = nn.Dropout(0.7)
        self.fc2 = nn.Linear(1024, num_classes)

    def forward(self, x):
        x = self.flatten(self.conv(self.pool(x)))
        return self.fc2(self.dropout(self.relu(self.fc1(x))))


class GoogLeNet(nn.Module):
    def __init__(self, num_classes=1000, aux_logits=True, in_channels=3):
        super().__init__()
        self.aux_logits = aux_logits
        # Caffe's GoogLeNet LRN: size 5, alpha 1e-4 divided by the size (minidl's
        # LRN does not divide, so alpha = 2e-5), beta 0.75, k 1.
        self.stem = nn.Sequential(
            conv_relu(in_channels, 64, 7, stride=2, padding=3),
            nn.MaxPool2d(3, stride=2, ceil_mode=True),
            nn.LocalResponseNorm(5, alpha=2e-5, beta=0.75, k=1.0),
            conv_relu(64, 64, 1),
            conv_relu(64, 192, 3, padding=1),
            nn.LocalResponseNorm(5, alpha=2e-5, beta=0.75, k=1.0),
            nn.MaxPool2d(3, stride=2, ceil_mode=True),
        )
        self.inception3a = Inception(192, 64, 96, 128, 16, 32, 32)
        self.inception3b = Inception(256, 128, 128, 192, 32, 96, 64)
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception4a = Inception(480, 192, 96, 208, 16, 48, 64)
        self.inception4b = Inception(512, 160, 112, 224, 24, 64, 64)
        self.inception4c = Inception(512, 128, 128, 256, 24, 64, 64)
        self.inception4d = Inception(512, 112, 144, 288, 32, 64, 64)
        self.inception4e = Inception(528, 256, 160, 320, 32, 128, 128)
        self.maxpool4 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.inception5a = Inception(832, 256, 160, 320, 32, 128, 128)
        self.inception5b = Inception(832, 384, 192, 384, 48, 128, 128)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.dropout = nn.Dropout(0.4)
        self.fc = nn.Linear(1024, num_classes)
        if aux_logits:
            self.aux1 = InceptionAux(512, num_classes)
            self.aux2 = InceptionAux(528, num_classes)

    def forward(self, x):
        x = self.maxpool3(self.inception3b(self.inception3a(self.stem(x))))
        x = self.inception4a(x)
        with_aux = self.aux_logits and self.training
        aux1 = self.aux1(x) if with_aux else None
        x = self.inception4d(self.inception4c(self.inception4b(x)))
        aux2 = self.aux2(x) if with_aux else None
        x = self.maxpool4(self.inception4e(x))
        x = self.inception5b(self.inception5a(x))
        logits = self.fc(self.dropout(self.flatten(self.avgpool(x))))
        return GoogLeNetOutputs(logits, aux1, aux2) if with_aux else logits


@register(input_shape=(3, 224, 224))
def googlenet(num_classes=1000, aux_logits=True, in_channels=3):
    """Inception v1; the auxiliary classifiers run in training when ``aux_logits``."""
    return GoogLeNet(num_classes, aux_logits, in_channels)


def googlenet_loss(outputs, labels, aux_weight=AUX_LOSS_WEIGHT):
    """Cross-entropy of the logits plus ``aux_weight`` (0.3, the paper's) times that
    of each auxiliary classifier; plain cross-entropy for logits alone (evaluation).

    >>> import numpy as np, minidl as md
    >>> logits = md.tensor(np.zeros((2, 4), np.float32))
    >>> outputs = GoogLeNetOutputs(logits, logits, logits)
    >>> round(googlenet_loss(outputs, np.array([0, 1])).item() / float(np.log(4)), 6)
    1.6
    """
    if not isinstance(outputs, GoogLeNetOutputs):
        return F.cross_entropy(outputs, labels)
    loss = F.cross_entropy(outputs.logits, labels)
    return loss + aux_weight * (F.cross_entropy(outputs.aux1, labels) + F.cross_entropy(outputs.aux2, labels))
