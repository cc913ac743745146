"""FractalNet (Larsson, Maire and Shakhnarovich, 2017): ultra-deep without residuals.

The fractal expansion rule builds a block of C columns from one conv unit
(conv3x3-BN-ReLU, with dropout in the paper's "w/ dropout" runs):

    f_1(z) = conv(z)
    f_{C+1}(z) = join(f_C(f_C(z)), conv(z))

Column k (k = 0 .. C-1) is a chain of 2^k conv units; columns meet at join
layers, which take the element-wise mean of their inputs. Nested joins that
fall at the same depth are one join: the block's last join averages all C
columns. Here a block returns its columns' outputs unjoined, and the caller
joins them, so every join is flat.

Drop-path regularizes by training random sub-networks, only in training:

- local: each join drops each input with probability ``local_drop`` (0.15),
  keeping at least one;
- global: the whole network uses a single column, chosen at random, in every
  block (a plain chain of 2^k conv units per block);
- each mini-batch is global with probability ``global_ratio`` (0.5), else local.

In evaluation every path runs and every join is the mean of all its inputs.
The coins come from minidl's generator (``md.manual_seed`` fixes them).

``fractalnet``: the paper's CIFAR network (3x32x32): 5 blocks of 64, 128, 256,
512 and 512 channels, each followed by a 2x2 max pool (32 -> 1), then fc;
C = 3 columns by default (20 convolution layers on the deepest path) and dropout
0, 0.1, 0.2, 0.3, 0.4 in the five blocks.

>>> import numpy as np, minidl as md
>>> block = FractalBlock(3, 4, columns=3)
>>> x = md.tensor(np.ones((1, 3, 8, 8), np.float32))
>>> [y.shape[1] for y in block(x)]    # three columns, deepest first
[4, 4, 4]
"""

from minidl import nn
from minidl import random
from minidl.models.registry import register


class ConvUnit(nn.Module):
    """conv3x3 -> dropout -> BN -> ReLU, the paper's order."""

    def __init__(self, in_channels, out_channels, dropout=0.0):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.bn(self.dropout(self.conv(x))))


def join(inputs, drop=0.0, training=False):
    """The mean of ``inputs``; in training each is dropped with probability ``drop``,
    but at least one is kept (local drop-path).

    >>> import numpy as np, minidl as md
    >>> a, b = md.tensor([1.0, 2.0]), md.tensor([3.0, 6.0])
    >>> join([a, b]).numpy()
    array([2., 4.], dtype=float32)
    >>> len({join([a, b], drop=1.0, training=True).numpy()[0] for _ in range(50)}) > 1
    True
    """
    if training and drop > 0.0 and len(inputs) > 1:
        generator = random.generator()
        keep = generator.random(len(inputs)) >= drop
        if not keep.any():
            keep[generator.integers(len(inputs))] = True
        inputs = [x for x, kept in zip(inputs, keep) if kept]
    total = inputs[0]
    for x in inputs[1:]:
        total = total + x
    return total if len(inputs) == 1 else total * (1.0 / len(inputs))


class FractalBlock(nn.Module):
    """f_C: returns the outputs of its C columns, deepest first (the caller joins them).

    ``forward(x, column=k)`` runs column k alone (global drop-path) and returns
    its single output.
    """

    def __init__(self, in_channels, out_channels, columns, dropout=0.0, local_drop=0.15):
        super().__init__()
        self.columns, self.local_drop = columns, local_drop
        self.shallow = ConvUnit(in_channels, out_channels, dropout)
        if columns > 1:
            self.first = FractalBlock(in_channels, out_channels, columns - 1, dropout, local_drop)
            self.second = FractalBlock(out_channels, out_channels, columns - 1, dropout, local_drop)

    def forward(self, x, column=None):
        if column is not None:
            if not 0 <= column < self.columns:
                raise ValueError(f"FractalBlock: column must be in [0, {self.columns}), got {column}")
            if column == 0:
                return self.shallow(x)
            return self.second(self.first(x, column - 1), column - 1)
        if self.columns == 1:
            return [self.shallow(x)]
        middle = join(self.first(x), self.local_drop, self.training)
        return self.second(middle) + [self.shallow(x)]


class FractalNet(nn.Module):
    def __init__(self, num_classes=10, columns=3, channels=(64, 128, 256, 512, 512),
                 dropout=(0.0, 0.1, 0.2, 0.3, 0.4), local_drop=0.15, global_ratio=0.5, in_channels=3):
        super().__init__()
        self.columns, self.local_drop, self.global_ratio = columns, local_drop, global_ratio
        blocks, pools = [], []
        for width, rate in zip(channels, dropout):
            blocks.append(FractalBlock(in_channels, width, columns, rate, local_drop))
            pools.append(nn.MaxPool2d(2))
            in_channels = width
        self.blocks, self.pools = nn.ModuleList(blocks), nn.ModuleList(pools)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x, column=None):
        """``column`` forces global drop-path through that column (training or not)."""
        if column is None and self.training and random.generator().random() < self.global_ratio:
            column = int(random.generator().integers(self.columns))
        for block, pool in zip(self.blocks, self.pools):
            if column is None:
                x = join(block(x), self.local_drop, self.training)
            else:
                x = block(x, column)
            x = pool(x)
        return self.fc(self.flatten(x))


@register(input_shape=(3, 32, 32))
def fractalnet(num_classes=10, columns=3, in_channels=3):
    """FractalNet for CIFAR: 5 blocks of ``columns`` columns, drop-path in training."""
    return FractalNet(num_classes, columns, in_channels=in_channels)
