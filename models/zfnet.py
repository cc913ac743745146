"""ZFNet (Zeiler and Fergus, 2013): AlexNet with smaller first filters and wider
middle layers, the lecture's version on 3x224x224.

The lecture (CS231n) describes it as "AlexNet but CONV1 7x7 stride 2 instead of
11x11 stride 4; CONV3, 4, 5 with 512, 1024, 512 filters instead of 384, 384,
256". Pools are 3x3 /2 as in the paper, padded by 1 after conv1 and conv2 so
the maps are the paper's 110 -> 55 and 26 -> 13; the paper's contrast
normalization across maps is LRN after those two pools:

    conv1 96@7x7 /2 pad 1 (110) -> pool 3x3 /2 pad 1 (55) -> LRN
    -> conv2 256@5x5 /2 (26) -> pool 3x3 /2 pad 1 (13) -> LRN
    -> conv3 512@3x3 -> conv4 1024@3x3 -> conv5 512@3x3 (pad 1) -> pool 3x3 /2 (6)
    -> flatten (512*6*6) -> fc 4096 -> fc 4096 -> fc num_classes

>>> import minidl as md
>>> sum(p.size for p in md.models.zfnet().parameters())
107627624
"""

from collections import OrderedDict

from minidl import nn
from minidl.models.alexnet import fc_head
from minidl.models.input_size import flat_features
from minidl.models.registry import register


@register(input_shape=(3, 224, 224))
def zfnet(num_classes=1000, in_channels=3, input_size=224):
    """ZFNet as the lecture gives it (512-1024-512 in conv3-5), for 224x224 input."""
    features = nn.Sequential(
        nn.Conv2d(in_channels, 96, 7, stride=2, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(3, stride=2, padding=1),
        nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0),
        nn.Conv2d(96, 256, 5, stride=2),
        nn.ReLU(),
        nn.MaxPool2d(3, stride=2, padding=1),
        nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0),
        nn.Conv2d(256, 512, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(512, 1024, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(1024, 512, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(3, stride=2),
    )
    return nn.Sequential(OrderedDict(
        features=features,
        flatten=nn.Flatten(),
        classifier=fc_head(flat_features(features, input_size, "zfnet"), num_classes),
    ))
