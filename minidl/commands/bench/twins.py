"""The PyTorch twin of each network ``minidl bench`` times: one per model, layer for layer.

A twin has minidl's layers in minidl's order, so their parameter lists pair up
shape for shape (a test checks it) and ``copy_parameters`` can give the twin
minidl's initial weights. ResNet-20 uses the parameter-free option-A shortcut
(strided identity, zero channels padded half before and half after), ResNet-50
torchvision's bottleneck layout.

``cifar_alexnet_lrn`` is not in the zoo: it is the classic cuda-convnet /
TensorFlow-tutorial CIFAR-10 net with local response normalisation, timed by
``minidl bench --models cifar_alexnet_lrn``, so both of its builders live here.
"""

# The TensorFlow tutorial's LRN (depth_radius 4, bias 1, alpha 0.001 / 9, beta 0.75):
# a window of 9 channels, alpha applied to the sum of squares (minidl's, the AlexNet
# paper's convention); PyTorch divides its alpha by the window, so its alpha is 9x.
LRN_SIZE, LRN_ALPHA, LRN_BETA, LRN_K = 9, 0.001 / 9, 0.75, 1.0


def torch_model(name, num_classes=10):
    """minidl's ``name`` (lenet5, resnet20, resnet50 or cifar_alexnet_lrn) written in PyTorch."""
    builders = {"lenet5": _lenet5, "resnet20": _resnet20, "resnet50": _resnet50,
                "cifar_alexnet_lrn": _cifar_alexnet_lrn}
    if name not in builders:
        raise ValueError(f"torch_model: no PyTorch twin of {name!r}; twins exist for {', '.join(builders)}")
    return builders[name](num_classes)


def minidl_model(name, num_classes=10):
    """The minidl network ``minidl bench`` times under ``name``: the zoo's, or one of this module's."""
    import minidl as md

    if name == "cifar_alexnet_lrn":
        return cifar_alexnet_lrn(num_classes)
    return md.models.get(name, num_classes=num_classes)


def cifar_alexnet_lrn(num_classes=10):
    """On 3x32x32: conv 5x5 64, ReLU, max pool 3/2 (15x15), LRN; conv 5x5 64, ReLU, LRN,
    max pool 3/2 (7x7); fully connected 384, 192, then the classes."""
    from minidl import nn

    def lrn():
        return nn.LocalResponseNorm(LRN_SIZE, LRN_ALPHA, LRN_BETA, LRN_K)

    return nn.Sequential(
        nn.Conv2d(3, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2), lrn(),
        nn.Conv2d(64, 64, 5, padding=2), nn.ReLU(), lrn(), nn.MaxPool2d(3, 2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 384), nn.ReLU(), nn.Linear(384, 192), nn.ReLU(),
        nn.Linear(192, num_classes),
    )


def copy_parameters(twin, model):
    """Give the twin minidl's parameter values (same order, same shapes); returns the twin."""
    import torch

    ours = list(model.named_parameters())
    theirs = list(twin.named_parameters())
    if [tuple(p.shape) for _, p in theirs] != [p.shape for _, p in ours]:
        raise ValueError("copy_parameters: the twin's parameter shapes differ from the minidl model's")
    with torch.no_grad():
        for (_, target), (_, source) in zip(theirs, ours):
            target.copy_(torch.from_numpy(source.numpy()))
    return twin


def _lenet5(num_classes):
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 20, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(20, 50, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(50 * 7 * 7, 500), nn.ReLU(), nn.Linear(500, num_classes),
    )


def _resnet20(num_classes):
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, c_in, c_out, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(c_out)
            self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(c_out)
            self.stride, self.extra = stride, c_out - c_in

        def forward(self, x):
            out = torch.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            shortcut = x[:, :, ::self.stride, ::self.stride]
            if self.extra:  # option A: zero channels, half before and half after
                before = self.extra // 2
                shortcut = nn.functional.pad(shortcut, (0, 0, 0, 0, before, self.extra - before))
            return torch.relu(out + shortcut)

    layers = [nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
    c_in = 16
    for stage, width in enumerate((16, 32, 64)):
        for index in range(3):
            layers.append(Block(c_in, width, 2 if stage and index == 0 else 1))
            c_in = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes)]
    return nn.Sequential(*layers)


def _resnet50(num_classes):
    import torch
    from torch import nn

    class Bottleneck(nn.Module):
        def __init__(self, in_channels, planes, stride):
            super().__init__()
            out_channels = 4 * planes
            self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.conv3 = nn.Conv2d(planes, out_channels, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(out_channels)
            self.downsample = None
            if stride != 1 or in_channels != out_channels:
                self.downsample = nn.Sequential(
                    nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
                )

        def forward(self, x):
            out = torch.relu(self.bn1(self.conv1(x)))
            out = torch.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            return torch.relu(out + (x if self.downsample is None else self.downsample(x)))

    layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    channels = 64
    for index, (planes, count) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3))):
        for block in range(count):
            layers.append(Bottleneck(channels, planes, 2 if index > 0 and block == 0 else 1))
            channels = 4 * planes
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes)]
    return nn.Sequential(*layers)


def _cifar_alexnet_lrn(num_classes):
    from torch import nn

    def lrn():
        return nn.LocalResponseNorm(LRN_SIZE, LRN_ALPHA * LRN_SIZE, LRN_BETA, LRN_K)

    return nn.Sequential(
        nn.Conv2d(3, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2), lrn(),
        nn.Conv2d(64, 64, 5, padding=2), nn.ReLU(), lrn(), nn.MaxPool2d(3, 2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 384), nn.ReLU(), nn.Linear(384, 192), nn.ReLU(),
        nn.Linear(192, num_classes),
    )
