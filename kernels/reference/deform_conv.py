"""Deformable im2col and its adjoints in plain NumPy: the readable oracle.

Layouts are torchvision's (``torchvision.ops.deform_conv2d``). With K = kh*kw
taps, k = i*kw + j, and G offset groups, each holding C/G consecutive channels:

- ``offset`` (N, 2*G*K, oh, ow): channel ``(g*K + k)*2`` is the row shift dy,
  the next one the column shift dx, of tap k in group g;
- ``mask`` (N, G*K, oh, ow): channel ``g*K + k`` modulates tap k (DCNv2); None
  means all ones (DCNv1).

Tap k of output pixel (oy, ox) samples channel c (of group g) at

    py = oy*sh - ph + i*dh + dy[n, g, k, oy, ox]
    px = ox*sw - pw + j*dw + dx[n, g, k, oy, ox]

bilinearly, from the four integer corners around (py, px), a corner outside
the image reading zero:

    sample(x, py, px) = sum over y in {y0, y0+1}, x' in {x0, x0+1} of
                        (1 - |py - y|) * (1 - |px - x'|) * x[y, x']   (y0 = floor(py))

and the columns are

    cols[(c, i, j), (n, oy, ox)] = mask[n, g, k, oy, ox] * sample(x[n, c], py, px)

the columns of a plain convolution when offsets are zero and the mask is one.
The three adjoints for a column gradient ``gcols``:

- ``deform_col2im``: the input gradient, each entry scattered to its four
  corners through the same weights;
- ``deform_col2im_coord``: the offset gradient, sum over the group's channels
  of ``gcols * mask * d sample / d(py, px)``, and the mask gradient, sum of
  ``gcols * sample``.

With ly = py - y0, lx = px - x0 and v_ab the corner values (zero outside):

    d sample / d py = (1 - lx) * (v10 - v00) + lx * (v11 - v01)
    d sample / d px = (1 - ly) * (v01 - v00) + ly * (v11 - v10)

At an integer py (a kink of the bilinear interpolation) y0 = py, so the
derivative is the one from above (the right derivative).

>>> import numpy as np
>>> x = np.arange(9, dtype=np.float64).reshape(1, 1, 3, 3)
>>> offset = np.zeros((1, 2, 3, 3)); offset[:, 0] = 0.5      # half a row down
>>> deform_im2col(x, offset, None, (1, 1), (1, 1), (0, 0), (1, 1)).reshape(3, 3)
array([[1.5, 2.5, 3.5],
       [4.5, 5.5, 6.5],
       [3. , 3.5, 4. ]])
"""

import numpy as np

from minidl.kernels.reference.conv import conv_output_size


def _sampling_points(offset, kernel_size, stride, padding, dilation):
    """(py, px), each of shape (N, G, K, oh, ow): where every tap samples."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    n, _, oh, ow = offset.shape
    shifts = offset.reshape(n, -1, kh, kw, 2, oh, ow)
    rows = (np.arange(oh) * sh - ph)[:, None] + (np.arange(kh) * dh)[:, None, None, None]
    cols = (np.arange(ow) * sw - pw)[None, :] + (np.arange(kw) * dw)[None, :, None, None]
    # rows[i, 0, oy, 0] + shift, cols[0, j, 0, ox] + shift, broadcast over (i, j, oy, ox)
    py = rows.astype(offset.dtype) + shifts[:, :, :, :, 0]
    px = cols.astype(offset.dtype) + shifts[:, :, :, :, 1]
    return py.reshape(n, -1, kh * kw, oh, ow), px.reshape(n, -1, kh * kw, oh, ow)


def _corners(py, px, h, w):
    """The four corners of every sampling point, in the order 00, 01, 10, 11: a list of
    (y, x, weight, inside), y and x clipped into the image (so they can index it),
    inside saying which corners count."""
    y0, x0 = np.floor(py), np.floor(px)
    ly, lx = py - y0, px - x0
    y0, x0 = y0.astype(np.int64), x0.astype(np.int64)
    corners = []
    for y, wy in ((y0, 1 - ly), (y0 + 1, ly)):
        for x, wx in ((x0, 1 - lx), (x0 + 1, lx)):
            inside = (y >= 0) & (y < h) & (x >= 0) & (x < w)
            corners.append((np.clip(y, 0, h - 1), np.clip(x, 0, w - 1), wy * wx, inside))
    return corners


def _geometry(x_shape, offset, kernel_size, stride, padding, dilation):
    """(N, C, H, W, G, K, oh, ow)."""
    n, c, h, w = x_shape
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = kernel_size, stride, padding, dilation
    oh = conv_output_size(h, kh, sh, ph, dh)
    ow = conv_output_size(w, kw, sw, pw, dw)
    k = kh * kw
    return n, c, h, w, offset.shape[1] // (2 * k), k, oh, ow


def _index(n, c, groups):
    """Batch and channel indices shaped to broadcast against (N, G, C/G, K, oh, ow)."""
    batch = np.arange(n).reshape(n, 1, 1, 1, 1, 1)
    channel = np.arange(c).reshape(1, groups, c // groups, 1, 1, 1)
    return batch, channel


def _corner_values(x, corners, groups):
    """Each corner's value for every (n, g, c in g, k, oy, ox); zero outside the image."""
    n, c = x.shape[:2]
    batch, channel = _index(n, c, groups)
    # the corners have no channel axis: every channel of group g reads group g's points
    return [inside[:, :, None] * x[batch, channel, y[:, :, None], xc[:, :, None]]
            for y, xc, _, inside in corners]


def _modulation(mask, offset, k):
    """The mask as (N, G, 1, K, oh, ow), ones when there is none."""
    n, _, oh, ow = offset.shape
    groups = offset.shape[1] // (2 * k)
    if mask is None:
        return np.ones((n, groups, 1, k, oh, ow), dtype=offset.dtype)
    return mask.reshape(n, groups, 1, k, oh, ow)


def _to_columns(per_channel):
    """(N, G, C/G, K, oh, ow) -> cols (C*K, N*oh*ow)."""
    n, groups, per_group, k, oh, ow = per_channel.shape
    return np.ascontiguousarray(
        per_channel.reshape(n, groups * per_group * k, oh * ow).transpose(1, 0, 2)
    ).reshape(groups * per_group * k, n * oh * ow)


def _from_columns(cols, n, groups, k, oh, ow):
    """cols (C*K, N*oh*ow) -> (N, G, C/G, K, oh, ow)."""
    return cols.reshape(groups, -1, k, n, oh, ow).transpose(3, 0, 1, 2, 4, 5)


def deform_im2col(x, offset, mask, kernel_size, stride, padding, dilation):
    """(N, C, H, W) -> (C*kh*kw, N*oh*ow): the sampled, modulated columns."""
    n, c, h, w, groups, k, oh, ow = _geometry(x.shape, offset, kernel_size, stride, padding, dilation)
    py, px = _sampling_points(offset, kernel_size, stride, padding, dilation)
    corners = _corners(py, px, h, w)
    sample = sum(weight[:, :, None] * value
                 for (_, _, weight, _), value in zip(corners, _corner_values(x, corners, groups)))
    return _to_columns(_modulation(mask, offset, k) * sample)


def deform_col2im(cols, x_shape, offset, mask, kernel_size, stride, padding, dilation):
    """The input gradient: every column entry scattered to its four corners."""
    n, c, h, w, groups, k, oh, ow = _geometry(x_shape, offset, kernel_size, stride, padding, dilation)
    py, px = _sampling_points(offset, kernel_size, stride, padding, dilation)
    gcols = _modulation(mask, offset, k) * _from_columns(cols, n, groups, k, oh, ow)
    gx = np.zeros(x_shape, dtype=cols.dtype)
    batch, channel = _index(n, c, groups)
    for y, xc, weight, inside in _corners(py, px, h, w):
        index = np.broadcast_arrays(batch, channel, y[:, :, None], xc[:, :, None])
        np.add.at(gx, tuple(index), (weight * inside)[:, :, None] * gcols)
    return gx


def deform_col2im_coord(cols, x, offset, mask, kernel_size, stride, padding, dilation):
    """(offset gradient, mask gradient or None) for the column gradient ``cols``."""
    n, c, h, w, groups, k, oh, ow = _geometry(x.shape, offset, kernel_size, stride, padding, dilation)
    py, px = _sampling_points(offset, kernel_size, stride, padding, dilation)
    v00, v01, v10, v11 = _corner_values(x, _corners(py, px, h, w), groups)
    ly, lx = (py - np.floor(py))[:, :, None], (px - np.floor(px))[:, :, None]
    gcols = _from_columns(cols, n, groups, k, oh, ow)
    modulated = gcols * _modulation(mask, offset, k)
    d_py = (1 - lx) * (v10 - v00) + lx * (v11 - v01)
    d_px = (1 - ly) * (v01 - v00) + ly * (v11 - v10)
    # sum over the group's channels; (N, G, K, 2, oh, ow) is offset's channel order
    g_offset = np.stack([(modulated * d_py).sum(axis=2), (modulated * d_px).sum(axis=2)], axis=3)
    g_offset = g_offset.reshape(offset.shape).astype(cols.dtype, copy=False)
    if mask is None:
        return g_offset, None
    sample = (1 - ly) * (1 - lx) * v00 + (1 - ly) * lx * v01 + ly * (1 - lx) * v10 + ly * lx * v11
    return g_offset, (gcols * sample).sum(axis=2).reshape(mask.shape).astype(cols.dtype, copy=False)
