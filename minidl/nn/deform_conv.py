"""nn.DeformConv2d: a deformable convolution that predicts its own offsets (DCNv2).

A plain convolution ``offset_conv`` (same kernel, stride, padding and
dilation as the layer, with a bias) reads the layer's input and predicts, for
every output pixel, 2*G*kh*kw offsets and, when ``modulated``, G*kh*kw mask
logits; ``F.deform_conv2d`` then samples the input there.

Initialisation, so that at the start the layer is exactly a plain convolution:
``offset_conv`` is all zeros (weight and bias), as in DCNv2, so the offsets are
zero and the mask logits are zero. The mask is ``2 * sigmoid(logit)``, and
``2 * sigmoid(0) = 2 * 0.5 = 1`` exactly in floating point, so every tap is
read with weight one (DCNv2's own code uses sigmoid alone, which would halve
the layer's output at init). The mask then ranges over (0, 2). The layer's
own weight and bias start as ``nn.Conv2d``'s (PyTorch's default).

>>> import numpy as np, minidl as md
>>> md.manual_seed(0)
>>> layer = md.nn.DeformConv2d(3, 8, 3, padding=1)
>>> x = md.tensor(np.random.default_rng(0).normal(size=(2, 3, 6, 6)).astype(np.float32))
>>> plain = md.functional.conv2d(x, layer.weight, layer.bias, padding=1)
>>> bool((layer(x).numpy() == plain.numpy()).all())
True
"""

from minidl.functional import arguments
from minidl.functional.activation import sigmoid
from minidl.functional.deform_conv import deform_conv2d
from minidl.nn import init
from minidl.nn.conv import Conv2d, init_conv_layer
from minidl.nn.module import Module


class DeformConv2d(Module):
    """DeformConv2d(in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
    groups=1, bias=True, offset_groups=1, modulated=True).

    ``weight`` (out, in/groups, kh, kw) and ``bias`` as in ``nn.Conv2d``;
    ``offset_conv`` predicts the offsets and mask logits, channels
    [0, 2*G*kh*kw) the offsets in torchvision's (dy, dx) layout, the rest the
    mask logits. ``offsets(x)`` returns (offset, mask) for an input, e.g. to
    draw where the layer looks.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, offset_groups=1, modulated=True):
        super().__init__()
        op = "DeformConv2d"
        self.offset_groups = arguments.integer(offset_groups, op, "offset_groups", 1)
        init_conv_layer(self, op, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias)
        if self.in_channels % self.offset_groups:
            raise ValueError(f"{op}: offset_groups={offset_groups} must divide in_channels={self.in_channels}")
        self.modulated = bool(modulated)
        taps = self.kernel_size[0] * self.kernel_size[1]
        predicted = (3 if self.modulated else 2) * self.offset_groups * taps
        self.offset_conv = Conv2d(in_channels, predicted, self.kernel_size, self.stride, self.padding,
                                  self.dilation)
        self.reset_offsets()

    def reset_offsets(self):
        """Zero the offset predictor: zero offsets and mask one, a plain convolution
        (call it after a model-wide init that reached ``offset_conv``)."""
        init.constant_(self.offset_conv.weight, 0.0)
        init.constant_(self.offset_conv.bias, 0.0)

    def offsets(self, x):
        """(offset, mask or None) that the layer uses for input x."""
        predicted = self.offset_conv(x)
        count = 2 * self.offset_groups * self.kernel_size[0] * self.kernel_size[1]
        if not self.modulated:
            return predicted, None
        return predicted[:, :count], 2.0 * sigmoid(predicted[:, count:])

    def forward(self, x):
        offset, mask = self.offsets(x)
        return deform_conv2d(x, offset, self.weight, self.bias, self.stride, self.padding,
                             self.dilation, mask=mask)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        s += f", offset_groups={self.offset_groups}"
        if not self.modulated:
            s += ", modulated=False"
        return s
