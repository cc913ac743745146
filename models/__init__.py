"""The lecture's architectures, reached by name.

One file per family; each registers its builders with ``@register`` when
imported. ``get(name, **kwargs)`` builds one, ``list_models()`` names them all
and ``input_shape(name)`` gives the (C, H, W) a model was designed for: 227 or
224 for the ImageNet networks, 32 for the CIFAR ones. Every builder takes
``num_classes``.

>>> import minidl as md
>>> "lenet5" in md.models.list_models()
True
>>> net = md.models.get("lenet5", num_classes=10)
>>> md.models.input_shape("vgg16")
(3, 224, 224)
"""

from minidl.models.registry import get, input_shape, list_models, register
from minidl.models.lenet import lenet5, lenet5_1998
from minidl.models.alexnet import alexnet, alexnet_paper
from minidl.models.zfnet import zfnet
from minidl.models.vgg import vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19, vgg19_bn
from minidl.models.nin import nin, nin_imagenet
from minidl.models.googlenet import GoogLeNetOutputs, NaiveInception, Inception, googlenet, googlenet_loss
from minidl.models.resnet import resnet18, resnet34, resnet50, resnet101, resnet152
from minidl.models.resnet_cifar import (
    plain20, plain32, plain44, plain56, plain110, resnet20, resnet32, resnet44, resnet56, resnet110,
)
from minidl.models.resnet_dcn import resnet20_dcn
from minidl.models.preact_resnet import preact_resnet
from minidl.models.wide_resnet import wide_resnet50_2, wrn_16_8, wrn_28_10
from minidl.models.resnext import resnext29_8x64d, resnext50_32x4d
from minidl.models.stochastic_depth import stochastic_depth_resnet
from minidl.models.fractalnet import fractalnet
from minidl.models.densenet import densenet121, densenet_bc_100
from minidl.models.squeezenet import squeezenet1_0, squeezenet1_1
from minidl.models.se_resnet import se_resnet, se_resnet50
from minidl.models.mobilenet_v2 import mobilenet_v2
from minidl.models.efficientnet import efficientnet_b0

__all__ = [
    "get", "input_shape", "list_models", "register",
    "lenet5", "lenet5_1998", "alexnet", "alexnet_paper", "zfnet",
    "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn",
    "nin", "nin_imagenet", "googlenet", "googlenet_loss", "GoogLeNetOutputs", "Inception", "NaiveInception",
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "resnet20", "resnet32", "resnet44", "resnet56", "resnet110",
    "plain20", "plain32", "plain44", "plain56", "plain110", "resnet20_dcn",
    "preact_resnet", "wrn_28_10", "wrn_16_8", "wide_resnet50_2", "resnext50_32x4d", "resnext29_8x64d",
    "stochastic_depth_resnet", "fractalnet", "densenet121", "densenet_bc_100",
    "squeezenet1_0", "squeezenet1_1", "se_resnet", "se_resnet50", "mobilenet_v2", "efficientnet_b0",
]
