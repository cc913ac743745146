"""Layers and networks: Module, Parameter and the layers of the classic CNNs."""

from minidl.nn import init
from minidl.nn.activation import LeakyReLU, LogSoftmax, ReLU, ReLU6, Sigmoid, SiLU, Softmax, Tanh
from minidl.nn.batch_norm import BatchNorm1d, BatchNorm2d
from minidl.nn.conv import Conv2d
from minidl.nn.deform_conv import DeformConv2d
from minidl.nn.dropout import Dropout
from minidl.nn.linear import Linear
from minidl.nn.lrn import LocalResponseNorm
from minidl.nn.module import Module, ModuleList, Parameter, Sequential
from minidl.nn.pool import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from minidl.nn.shape import Flatten, Identity
from minidl.nn.sync_batch_norm import SyncBatchNorm, convert_sync_batchnorm
from minidl.nn import parallel  # noqa: E402  (DistributedDataParallel builds on Module)

__all__ = [
    "init", "Module", "ModuleList", "Parameter", "Sequential",
    "Conv2d", "DeformConv2d", "Linear", "BatchNorm1d", "BatchNorm2d", "LocalResponseNorm", "Dropout",
    "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d",
    "ReLU", "ReLU6", "LeakyReLU", "Sigmoid", "Tanh", "SiLU", "Softmax", "LogSoftmax",
    "Flatten", "Identity",
    "SyncBatchNorm", "convert_sync_batchnorm", "parallel",
]
