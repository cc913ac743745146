"""LeNet-5, the lecture's variant for 1x28x28 input (seed 001):

    conv 20@5x5 pad 2 -> relu -> maxpool 2x2 -> conv 50@5x5 pad 2 -> relu -> maxpool 2x2
    -> flatten (50*7*7 = 2450) -> fc 500 -> relu -> fc num_classes

1,256,080 parameters with 10 classes.
"""

from minidl import nn
from minidl.models.registry import register


@register
def lenet5(num_classes=10, in_channels=1):
    """LeNet-5 as in the lecture, for 28x28 input (MNIST, Fashion-MNIST).

    >>> import minidl as md
    >>> sum(p.size for p in md.models.lenet5().parameters())
    1256080
    """
    return nn.Sequential(
        nn.Conv2d(in_channels, 20, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(20, 50, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(50 * 7 * 7, 500),
        nn.ReLU(),
        nn.Linear(500, num_classes),
    )
