"""LeNet-5, two ways.

``lenet5``: the lecture's variant for 1x28x28 input (seed 001):

    conv 20@5x5 pad 2 -> relu -> maxpool 2x2 -> conv 50@5x5 pad 2 -> relu -> maxpool 2x2
    -> flatten (50*7*7 = 2450) -> fc 500 -> relu -> fc num_classes

1,256,080 parameters with 10 classes.

``lenet5_1998``: LeCun et al. 1998 on 1x32x32 input, 6-16-120-84-10:

    C1 conv 6@5x5 -> tanh -> S2 avgpool 2x2 -> C3 conv 16@5x5 -> tanh -> S4 avgpool 2x2
    -> C5 conv 120@5x5 (1x1 output) -> tanh -> F6 fc 84 -> tanh -> fc num_classes

61,706 parameters with 10 classes. Two simplifications, both the usual ones: C3
connects to all six S2 maps (the paper's sparse table leaves 60 of the 96 map
pairs connected), and S2/S4 are plain averages (the paper's have a trainable
coefficient and bias per map). The output layer is a linear layer, not the
paper's Euclidean RBF units.
"""

from minidl import nn
from minidl.models.input_size import flat_features
from minidl.models.registry import register


@register(input_shape=(1, 28, 28))
def lenet5(num_classes=10, in_channels=1, input_size=28):
    """LeNet-5 as in the lecture, for 28x28 input (MNIST, Fashion-MNIST); the first fc
    layer takes the 50 maps an ``input_size`` image leaves (7x7 at 28, 8x8 at 32).

    >>> import minidl as md
    >>> sum(p.size for p in md.models.lenet5().parameters())
    1256080
    """
    features = [
        nn.Conv2d(in_channels, 20, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(20, 50, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
    ]
    return nn.Sequential(
        *features,
        nn.Flatten(),
        nn.Linear(flat_features(features, input_size, "lenet5"), 500),
        nn.ReLU(),
        nn.Linear(500, num_classes),
    )


@register(input_shape=(1, 32, 32))
def lenet5_1998(num_classes=10, in_channels=1, input_size=32):
    """LeNet-5 as in the 1998 paper, for 32x32 input (MNIST padded by 2); F6 takes
    the C5 maps of an ``input_size`` image (1x1 at 32).

    >>> import minidl as md
    >>> sum(p.size for p in md.models.lenet5_1998().parameters())
    61706
    """
    features = [
        nn.Conv2d(in_channels, 6, 5),
        nn.Tanh(),
        nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5),
        nn.Tanh(),
        nn.AvgPool2d(2),
        nn.Conv2d(16, 120, 5),
        nn.Tanh(),
    ]
    return nn.Sequential(
        *features,
        nn.Flatten(),
        nn.Linear(flat_features(features, input_size, "lenet5_1998"), 84),
        nn.Tanh(),
        nn.Linear(84, num_classes),
    )
