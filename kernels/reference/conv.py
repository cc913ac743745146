"""im2col / col2im in plain NumPy: kh*kw strided slice copies (Chainer's way).

``cols[(c, i, j), (n, y, x)] = x_padded[n, c, y*sh + i*dh, x*sw + j*dw]``

>>> import numpy as np
>>> x = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
>>> im2col(x, (2, 2), (2, 2), (0, 0), (1, 1))
array([[ 0.,  2.,  8., 10.],
       [ 1.,  3.,  9., 11.],
       [ 4.,  6., 12., 14.],
       [ 5.,  7., 13., 15.]])
"""

import numpy as np


def conv_output_size(size, kernel, stride, padding, dilation):
    """Output length of a convolution along one axis: the one home of this formula,
    used by every kernel set and by F.conv2d.

        out = (size + 2*padding - dilation*(kernel - 1) - 1) // stride + 1
    """
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def im2col(x, kernel_size, stride, padding, dilation):
    """(N, C, H, W) -> (C*kh*kw, N*oh*ow), the columns of a convolution."""
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    oh = conv_output_size(h, kh, sh, ph, dh)
    ow = conv_output_size(w, kw, sw, pw, dw)
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    cols = np.empty((c, kh, kw, n, oh, ow), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            top, left = i * dh, j * dw
            window = padded[:, :, top:top + sh * (oh - 1) + 1:sh, left:left + sw * (ow - 1) + 1:sw]
            cols[:, i, j] = window.transpose(1, 0, 2, 3)
    return cols.reshape(c * kh * kw, n * oh * ow)


def col2im(cols, x_shape, kernel_size, stride, padding, dilation):
    """The adjoint of im2col: every column entry is added back to the pixel it came from."""
    n, c, h, w = x_shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    oh = conv_output_size(h, kh, sh, ph, dh)
    ow = conv_output_size(w, kw, sw, pw, dw)
    cols = cols.reshape(c, kh, kw, n, oh, ow)
    padded = np.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
    for i in range(kh):
        for j in range(kw):
            top, left = i * dh, j * dw
            padded[:, :, top:top + sh * (oh - 1) + 1:sh, left:left + sw * (ow - 1) + 1:sw] += (
                cols[:, i, j].transpose(1, 0, 2, 3)
            )
    return np.ascontiguousarray(padded[:, :, ph:ph + h, pw:pw + w])
