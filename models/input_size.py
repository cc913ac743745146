"""The input size of a model with a fixed-size head.

LeNet-5, AlexNet, ZFNet and VGG flatten their last feature map into a fully
connected layer, so that layer's width depends on the input size. Their
builders take ``input_size`` (an int or (height, width); default: the size of
the paper) and size the first fully connected layer for it, so the published
parameter counts hold at the default and the same network can be built for
32x32 CIFAR-10 images. Too small an input is refused with the layer where the
map vanishes.

>>> from minidl import nn
>>> flat_features([nn.Conv2d(1, 20, 5, padding=2), nn.MaxPool2d(2), nn.Conv2d(20, 50, 5, padding=2),
...                nn.MaxPool2d(2)], 28, "lenet5")
2450
"""

from minidl import nn
from minidl.functional.arguments import pair, pool_output_size
from minidl.functional.conv import conv_output_size


def size_pair(size, model):
    """(height, width) of ``size``: an int for a square or a pair of ints."""
    hw = (size, size) if isinstance(size, int) else tuple(size)
    if len(hw) != 2 or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in hw):
        raise ValueError(f"{model}: input_size must be a positive int or (height, width), got {size!r}")
    return hw


def flat_features(layers, input_size, model):
    """channels * height * width of the map that ``layers`` (convolutions, pools and
    pointwise layers, in order) leave from an ``input_size`` image."""
    h, w = size_pair(input_size, model)
    channels = None
    for layer in layers:
        if isinstance(layer, nn.Conv2d):
            h, w = (conv_output_size(s, k, st, p, d) for s, k, st, p, d in
                    zip((h, w), layer.kernel_size, layer.stride, layer.padding, layer.dilation))
            channels = layer.out_channels
        elif isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d)):
            kernel = pair(layer.kernel_size, model, "kernel_size", 1)
            stride = pair(layer.stride if layer.stride is not None else layer.kernel_size, model, "stride", 1)
            padding = pair(layer.padding, model, "padding", 0)
            try:
                h, w = (pool_output_size(s, k, st, p, layer.ceil_mode, model, dim) for s, k, st, p, dim in
                        zip((h, w), kernel, stride, padding, ("height", "width")))
            except ValueError:
                h = w = 0
        if h < 1 or w < 1:
            raise ValueError(
                f"{model}: a {'x'.join(map(str, size_pair(input_size, model)))} input is too small: "
                f"its feature map vanishes at {layer!r}"
            )
    return channels * h * w
