"""Which algorithm computes a convolution of a given shape, and the Winograd one.

``choose_algorithm`` is the one rule; ``Conv2d`` (``conv.py``) asks it once per
call and runs the answer on its batch slices:

- ``"pointwise"``: 1x1, stride 1, unpadded, ungrouped: one GEMM on the input
  itself, no columns.
- ``"winograd_4x4"`` (3x3 kernels), ``"winograd_2x2"`` (5x5 kernels):
  F(m x m, r x r) (``kernels/*/winograd.py``) for stride-1, undilated,
  ungrouped square kernels on the CPU with at least
  ``WINOGRAD_MIN_CHANNELS`` input and output channels: the multiplies per
  output drop from r^2 to (m+r-1)^2/m^2, and the data gradient is a GEMM over
  the same transform points and no col2im.
- ``"im2col_images"``: im2col with a GEMM per image, on the CPU, for ungrouped
  layers with fewer than ``WINOGRAD_MIN_CHANNELS`` input channels and at least
  ``PER_IMAGE_MIN_PIXELS`` output pixels per image (first layers: 1-3 input
  channels). Their GEMMs are thin: the weight gradient ``gy @ cols^T`` is a
  (Cout x C*kh*kw) product over n*oh*ow terms, and OpenBLAS ran it at a third
  of the speed of n products over oh*ow terms each
  (ResNet-20's stem, 19 images: 0.61 ms against 0.21; LeNet-5's conv1: 0.52
  against 0.16). The forward writes each image's (Cout, oh*ow) result straight
  into y, without transposing one (Cout, n*oh*ow) result (0.26 ms -> 0.18).
  Forward and backward, batch 128, one thread, CPU ms, im2col -> per image:
  stem 14.7 -> 10.0, LeNet-5 conv1 9.6 -> 6.3, AlexNet-LRN conv1 66.5 -> 60.9,
  ResNet-50's 7x7 stem (batch 16) 168.7 -> 166.8. With many input channels or
  few pixels the per-image GEMMs were slower: ResNet-50's 3x3 stride-2 128->128
  layer at 56x56, batch 16, 163.6 -> 176.2; ResNet-20's stride-2 weight gradients
  (256 and 64 pixels) 0.39 -> 0.45 and 0.28 -> 0.38 ms a slice.
- ``"im2col"``: everything else, and everything on the GPU (no CUDA Winograd
  kernel exists): the general case and the readable baseline.

The numbers behind the rule (batch 128, one thread, CPU ms for forward + data
gradient + weight gradient, ``benchmarks/conv_layers.py --algorithms``, on a
shared two-core machine):

    layer                       im2col   F(2x2)   F(4x4)
    ResNet-20 3x3 16@32x32        69.1     53.3     54.5   -> F(4x4, 3x3)
    ResNet-20 3x3 32@16x16        44.8     34.5     29.2   -> F(4x4, 3x3)
    ResNet-20 3x3 64@8x8          34.1     27.1     24.0   -> F(4x4, 3x3)
    LeNet-5 5x5 20->50@14x14      88.5     66.0     63.0   -> F(2x2, 5x5)
    AlexNet-LRN 5x5 64@15x15     394.2    207.2    132.8   -> F(2x2, 5x5)
    ResNet-20 stem 3x3 3->16      18.9     43.6     42.1   -> im2col
    LeNet-5 conv1 5x5 1->20       14.1    113.9     62.2   -> im2col
    AlexNet-LRN conv1 5x5 3->64   87.7    296.2    206.8   -> im2col
    (with 1-3 input channels the GEMMs are thin and the transforms, paid per
    channel, cost more than they save)

The tile is picked on its float32 error (``benchmarks/winograd_error.py``: max
error over max |value| against float64, on these layers): im2col 1-6 eps;
F(2x2, 3x3) 2-8; F(4x4, 3x3) 9-24 (39 on a 256-channel layer); F(2x2, 5x5)
11-36; F(4x4, 5x5) 32-80. Against the scale of the terms summed (|x|
convolved with |w|), small drawn shapes reach 40 eps with F(4x4, 3x3), 24 with
F(2x2, 5x5) and 141 with F(4x4, 5x5) (``tests/test_kernels_winograd.py`` holds
each tile to about two and a half times that). 3x3 kernels take F(4x4, 3x3).
5x5 kernels take F(2x2, 5x5): F(4x4, 5x5) is as fast on LeNet-5 and 1.6x as
fast on AlexNet-LRN, but loses five times the digits, and `minidl train lenet5`
(2 epochs, seed 0) ended at 89.44 % test accuracy with it, under the 89.5 %
LeNet-5 must reach (im2col: 89.65 %, F(2x2, 5x5): 89.86 %; the spread is that of
a changed trajectory, but the floor is the floor). ``WINOGRAD_TILE[5] = 4``
trades those digits for speed.

The Winograd plan works "batch last": a slice of n images is read as
(H, W, n*C), so every transform step is a long vector operation (see
``kernels/cpu/winograd.py``), and the result is turned back to NCHW by one
strided copy, as im2col's GEMM result is.

>>> choose_algorithm((128, 64, 8, 8), (64, 64, 3, 3), (1, 1), (1, 1), (1, 1), 1, "cpu")
'winograd_4x4'
>>> choose_algorithm((128, 3, 32, 32), (16, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1, "cpu")
'im2col_images'
>>> choose_algorithm((128, 16, 32, 32), (32, 16, 3, 3), (2, 2), (1, 1), (1, 1), 1, "cpu")
'im2col'
"""

import math

from minidl.kernels.reference.conv import conv_output_size


# Input and output channels at least this many for Winograd (see the module docstring).
WINOGRAD_MIN_CHANNELS = 16
# Output tile per kernel size.
WINOGRAD_TILE = {3: 4, 5: 2}
# Output pixels per image at least this many for a GEMM per image (see the module docstring).
PER_IMAGE_MIN_PIXELS = 512


def choose_algorithm(x_shape, w_shape, stride, padding, dilation, groups, device):
    """The name of the algorithm for this convolution: 'pointwise', 'winograd_2x2',
    'winograd_4x4', 'im2col_images' or 'im2col' (the rule is the module docstring's)."""
    out_c, c_per_group, kh, kw = w_shape
    if (kh, kw) == (1, 1) and stride == (1, 1) and padding == (0, 0) and groups == 1:
        return "pointwise"
    if (device == "cpu" and kh == kw and kh in WINOGRAD_TILE and stride == (1, 1) and dilation == (1, 1)
            and groups == 1 and min(c_per_group, out_c) >= WINOGRAD_MIN_CHANNELS):
        m = WINOGRAD_TILE[kh]
        return f"winograd_{m}x{m}"
    if (device == "cpu" and groups == 1 and c_per_group < WINOGRAD_MIN_CHANNELS
            and math.prod(_output_size(x_shape, w_shape, stride, padding, dilation)) >= PER_IMAGE_MIN_PIXELS):
        return "im2col_images"
    return "im2col"


def _output_size(x_shape, w_shape, stride, padding, dilation):
    return tuple(conv_output_size(x_shape[2 + k], w_shape[2 + k], stride[k], padding[k], dilation[k]) for k in (0, 1))


class Winograd:
    """F(m x m, r x r) for one convolution call: the kernel's transform U = G w G^T,
    made once, and the slice-by-slice forward and backward.

    Slices write their share of y or gx in place and return their share of
    sum_p gM V^T; ``weight_gradient`` turns the slices' total into gw.
    """

    def __init__(self, w, padding, tile, out_size):
        from minidl.kernels.cpu import winograd  # the rule picks Winograd on the CPU only

        self.kernels = winograd
        self.m, self.padding, self.out_size = tile, padding, out_size
        at, g, bt = (mat.astype(w.dtype) for mat in self.kernels.winograd_matrices(tile, w.shape[2]))
        self.a, self.g, self.bt = at.T.copy(), g, bt
        self.grid = self.kernels.tile_grid(*out_size, tile)
        self.u = self.kernels.kernel_to_points(w, g)  # (alpha^2, K, C)
        # U^T as its own contiguous array: OpenBLAS ran the forward GEMMs at half
        # speed on the transposed view (36 GEMMs of 128x64x64, 0.68 ms against 0.35)
        self.ut = self.u.transpose(0, 2, 1).copy()
        self.out_c, self.in_c = w.shape[:2]

    def bytes_per_image(self, itemsize):
        """Transform points of one image: its input's and its output's."""
        tiles = self.grid[0] * self.grid[1]
        return self.bt.shape[0] ** 2 * tiles * (self.in_c + self.out_c) * itemsize

    def _input_points(self, x):
        v = self.kernels.nchw_to_points(x, self.bt, self.m, self.grid, self.padding)
        return v.reshape(v.shape[0], -1, self.in_c)

    def _output_grad_points(self, gy):
        gm = self.kernels.nchw_to_points(gy, self.a, self.m, self.grid, (0, 0))
        return gm.reshape(gm.shape[0], -1, self.out_c)

    def _to_images(self, points, mat, offset, out):
        """points (alpha^2, tiles*n, channels) -> NCHW images written into ``out``."""
        tiles = self.grid[0] * self.grid[1]
        self.kernels.points_to_nchw(points.reshape(points.shape[0], tiles, -1), mat, self.m, self.grid, offset, out)

    def forward(self, x, b, y):
        """y = conv(x, w) + b for one slice (y: the slice's output, written in place).
        Returns the slice's input points V, which ``backward`` can take back."""
        v = self._input_points(x)
        self._to_images(v @ self.ut, self.a, (0, 0), y)
        if b is not None:
            y += b[:, None, None]
        return v

    def backward(self, x, gy, gx, need_w, v=None):
        """Write the slice's gx (if gx is not None); return its share of gU (or None).
        ``v``: the slice's input points from ``forward``, if kept (else made again from x)."""
        gm = self._output_grad_points(gy)
        if gx is not None:
            self._to_images(gm @ self.u, self.bt, self.padding, gx)
        if not need_w:
            return None
        if v is None:
            v = self._input_points(x)
        return v.transpose(0, 2, 1) @ gm  # (alpha^2, C, K)

    def weight_gradient(self, gu):
        """gw (K, C, r, r) from the slices' summed sum_p V^T gM."""
        return self.kernels.points_to_kernel(gu.transpose(0, 2, 1), self.g)
