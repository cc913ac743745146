"""Deep networks with stochastic depth (Huang et al., 2016) on the CIFAR ResNet.

In training, block l survives a mini-batch with probability p_l and is skipped
otherwise: a skipped block is its shortcut, the identity (option A zero padding
where a block halves the size). Survival decays linearly with depth,

    p_l = 1 - (l / L) * (1 - p_L),   l = 1 .. L,   p_L = 0.5 (the paper's),

so on average about 40 of ResNet-110's 54 blocks run in a training step. At test time every block runs, its residual
scaled by its survival probability, the expectation of training:

    train:  H_l = ReLU(b_l * f_l(H_{l-1}) + id(H_{l-1})),  b_l ~ Bernoulli(p_l)
    test:   H_l = ReLU(p_l * f_l(H_{l-1}) + id(H_{l-1}))

The coin is drawn from minidl's generator, so ``md.manual_seed`` fixes it.

>>> import minidl as md
>>> net = md.models.stochastic_depth_resnet()
>>> blocks = [m for m in net.modules() if hasattr(m, "survival")]
>>> len(blocks), blocks[0].survival, blocks[-1].survival
(54, 0.9907407407407407, 0.5)
"""

from minidl import functional as F
from minidl import random
from minidl.models.registry import register
from minidl.models.resnet_cifar import BasicBlock, CifarResNet, blocks_for_depth


class StochasticDepthBlock(BasicBlock):
    """A CIFAR basic block that is skipped in training with probability 1 - survival."""

    def __init__(self, in_channels, out_channels, stride=1, survival=1.0):
        super().__init__(in_channels, out_channels, stride, shortcut="A")
        if not 0.0 < survival <= 1.0:
            raise ValueError(f"StochasticDepthBlock: survival must be in (0, 1], got {survival}")
        self.survival = float(survival)

    def forward(self, x):
        identity = self.shortcut(x)
        if not self.training:
            return F.relu(identity + self.survival * self.residual(x))
        if random.generator().random() >= self.survival:
            return identity
        return F.relu(identity + self.residual(x))

    def extra_repr(self):
        return f"survival={self.survival:.4f}"


@register(input_shape=(3, 32, 32))
def stochastic_depth_resnet(num_classes=10, depth=110, last_survival=0.5, in_channels=3):
    """ResNet-``depth`` for CIFAR with stochastic depth, survival 1 -> ``last_survival``."""
    n = blocks_for_depth(depth, "stochastic_depth_resnet")
    total = 3 * n

    def block(in_channels, out_channels, stride, index):
        survival = 1.0 - (index + 1) / total * (1.0 - last_survival)
        return StochasticDepthBlock(in_channels, out_channels, stride, survival)

    return CifarResNet(n, num_classes, in_channels=in_channels, block=block)
