"""AlexNet (Krizhevsky, Sutskever and Hinton, 2012), two ways.

``alexnet``: the lecture's layout (seed 001), which is also torchvision's, for
3x227x227 (or 3x224x224; both reach 256x6x6 before the classifier):

    CONV1 64@11x11 /4 pad 2 -> POOL1 3x3 /2 -> CONV2 192@5x5 pad 2 -> POOL2 3x3 /2
    -> CONV3 384@3x3 -> CONV4 256@3x3 -> CONV5 256@3x3 (pad 1) -> POOL5 3x3 /2
    -> flatten (256*6*6 = 9216) -> FC6 4096 -> FC7 4096 -> FC8 num_classes

ReLU after every conv and hidden fc, dropout 0.5 before FC6 and FC7, no LRN;
61,100,840 parameters with 1000 classes. torchvision puts an
``AdaptiveAvgPool2d(6)`` before the classifier so that any input size works;
at 224 and 227 it is the identity, so it is left out here and the summary
shows exactly the lecture's rows.

``alexnet_paper``: the 2012 network on 3x227x227, 96-256-384-384-256 filters,
LRN (k=2, n=5, alpha=1e-4, beta=0.75) after the ReLUs of conv1 and conv2, then
overlapping 3x3 /2 max pools, dropout 0.5 before fc6 and fc7. The two-GPU split
is ``groups=2`` on conv2, conv4 and conv5: each half of the filters sees only
the half of the input maps that lived on its GPU. 60,965,224 parameters.

>>> import numpy as np, minidl as md
>>> net = md.models.alexnet().eval()
>>> with md.no_grad():
...     net.features(md.tensor(np.zeros((1, 3, 227, 227), np.float32))).shape
(1, 256, 6, 6)
"""

from collections import OrderedDict

from minidl import nn
from minidl.models.input_size import flat_features
from minidl.models.registry import register


@register(input_shape=(3, 227, 227))
def alexnet(num_classes=1000, in_channels=3, input_size=227):
    """The lecture's AlexNet (torchvision's layout).

    >>> import minidl as md
    >>> sum(p.size for p in md.models.alexnet().parameters())
    61100840
    """
    features = nn.Sequential(
        nn.Conv2d(in_channels, 64, 11, stride=4, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(3, stride=2),
        nn.Conv2d(64, 192, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(3, stride=2),
        nn.Conv2d(192, 384, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(3, stride=2),
    )
    return nn.Sequential(OrderedDict(
        features=features,
        flatten=nn.Flatten(),
        classifier=fc_head(flat_features(features, input_size, "alexnet"), num_classes),
    ))


@register(input_shape=(3, 227, 227))
def alexnet_paper(num_classes=1000, in_channels=3, input_size=227):
    """The 2012 paper's AlexNet on 227x227, with LRN and the two-GPU split as groups=2.

    >>> import minidl as md
    >>> sum(p.size for p in md.models.alexnet_paper().parameters())
    60965224
    """
    features = nn.Sequential(
        nn.Conv2d(in_channels, 96, 11, stride=4),
        nn.ReLU(),
        nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0),
        nn.MaxPool2d(3, stride=2),
        nn.Conv2d(96, 256, 5, padding=2, groups=2),
        nn.ReLU(),
        nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0),
        nn.MaxPool2d(3, stride=2),
        nn.Conv2d(256, 384, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(384, 384, 3, padding=1, groups=2),
        nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1, groups=2),
        nn.ReLU(),
        nn.MaxPool2d(3, stride=2),
    )
    return nn.Sequential(OrderedDict(
        features=features,
        flatten=nn.Flatten(),
        classifier=fc_head(flat_features(features, input_size, "alexnet_paper"), num_classes),
    ))


def fc_head(in_features, num_classes):
    """dropout -> fc 4096 -> relu -> dropout -> fc 4096 -> relu -> fc num_classes."""
    return nn.Sequential(
        nn.Dropout(0.5),
        nn.Linear(in_features, 4096),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(4096, 4096),
        nn.ReLU(),
        nn.Linear(4096, num_classes),
    )
