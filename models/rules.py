"""Two construction rules that several families share, each written once.

- How a stage strides: ResNet-style stages keep the size in the first stage and
  halve it in each later one (``stage_stride``), and within a stage only the first
  block strides, the others keep the size (``block_strides``). ResNet, ResNeXt,
  the CIFAR ResNets, pre-activation and Wide ResNets, MobileNetV2 and EfficientNet
  build their stages so.
- How convolutions start: He initialisation of every convolution weight
  (``kaiming_init_``), fan_out with the ReLU gain by default, torchvision's choice
  for ResNets; DenseNet asks for fan_in.

>>> stage_stride(0), stage_stride(2), block_strides(3, 2)
(1, 2, [2, 1, 1])
"""

from minidl import nn


def stage_stride(index):
    """The stride of stage ``index`` (from 0) in a ResNet-style net: 1 for the first, 2 after."""
    return 1 if index == 0 else 2


def block_strides(count, stride):
    """The strides of a stage's ``count`` blocks: ``stride`` for the first, 1 for the others."""
    return [stride] + [1] * (count - 1)


def kaiming_init_(model, mode="fan_out", nonlinearity="relu"):
    """He-normal initialisation of every Conv2d weight of ``model``, in module order; returns it."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode=mode, nonlinearity=nonlinearity)
    return model
