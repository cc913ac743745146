"""The lecture's architectures, reached by name.

>>> import minidl as md
>>> "lenet5" in md.models.list_models()
True
>>> net = md.models.get("lenet5", num_classes=10)
"""

from minidl.models.registry import get, list_models, register
from minidl.models.lenet import lenet5
from minidl.models.resnet_cifar import resnet20

__all__ = ["get", "list_models", "register", "lenet5", "resnet20"]
