"""Network in Network (Lin, Chen and Yan, 2014): mlpconv blocks and global average pooling.

An mlpconv block is a spatial convolution followed by two 1x1 convolutions, each
with a ReLU: a small multilayer perceptron slid over every pixel, the idea the
bottleneck layers of GoogLeNet and ResNet come from. There is no fully-connected
layer: the last 1x1 convolution gives one map per class and global average
pooling turns each map into its class score.

``nin``: the paper's CIFAR-10 network on 3x32x32 (its Caffe model):

    mlpconv 192@5x5 -160-96 -> maxpool 3x3 /2 -> dropout 0.5
    -> mlpconv 192@5x5 -192-192 -> avgpool 3x3 /2 -> dropout 0.5
    -> mlpconv 192@3x3 -192-num_classes -> global average pooling

``nin_imagenet``: the ImageNet model of the paper's authors on 3x224x224, four
mlpconv blocks 96@11x11 /4, 256@5x5, 384@3x3, 1024@3x3 (the last ending in
num_classes maps), max pools 3x3 /2 between them.

Pools round up (``ceil_mode``), as Caffe's do, so 32 -> 16 -> 8.

>>> import minidl as md
>>> sum(p.size for p in md.models.nin().parameters())
966986
"""

from collections import OrderedDict

from minidl import nn
from minidl.models.registry import register


def mlpconv(in_channels, channels, kernel_size, stride=1, padding=0):
    """conv kxk -> relu -> conv 1x1 -> relu -> conv 1x1 -> relu; channels = (c1, c2, c3)."""
    c1, c2, c3 = channels
    return nn.Sequential(
        nn.Conv2d(in_channels, c1, kernel_size, stride=stride, padding=padding),
        nn.ReLU(),
        nn.Conv2d(c1, c2, 1),
        nn.ReLU(),
        nn.Conv2d(c2, c3, 1),
        nn.ReLU(),
    )


@register(input_shape=(3, 32, 32))
def nin(num_classes=10, in_channels=3):
    """NiN for CIFAR-10 (3x32x32)."""
    return nn.Sequential(OrderedDict(
        block1=mlpconv(in_channels, (192, 160, 96), 5, padding=2),
        pool1=nn.MaxPool2d(3, stride=2, ceil_mode=True),
        drop1=nn.Dropout(0.5),
        block2=mlpconv(96, (192, 192, 192), 5, padding=2),
        pool2=nn.AvgPool2d(3, stride=2, ceil_mode=True),
        drop2=nn.Dropout(0.5),
        block3=mlpconv(192, (192, 192, num_classes), 3, padding=1),
        gap=nn.AdaptiveAvgPool2d(1),
        flatten=nn.Flatten(),
    ))


@register(input_shape=(3, 224, 224))
def nin_imagenet(num_classes=1000, in_channels=3):
    """NiN for ImageNet (3x224x224).

    >>> import minidl as md
    >>> sum(p.size for p in md.models.nin_imagenet().parameters())
    7595176
    """
    return nn.Sequential(OrderedDict(
        block1=mlpconv(in_channels, (96, 96, 96), 11, stride=4),
        pool1=nn.MaxPool2d(3, stride=2, ceil_mode=True),
        block2=mlpconv(96, (256, 256, 256), 5, padding=2),
        pool2=nn.MaxPool2d(3, stride=2, ceil_mode=True),
        block3=mlpconv(256, (384, 384, 384), 3, padding=1),
        pool3=nn.MaxPool2d(3, stride=2, ceil_mode=True),
        drop=nn.Dropout(0.5),
        block4=mlpconv(384, (1024, 1024, num_classes), 3, padding=1),
        gap=nn.AdaptiveAvgPool2d(1),
        flatten=nn.Flatten(),
    ))
