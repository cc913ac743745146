"""Max and average pooling on the GPU: launchers for the kernels in pool.cu.

Same names, arguments and layouts as ``minidl.kernels.reference.pool``: the
op passes ``output_size`` (it decides ceil_mode), max pooling returns the
argmax relative to the window (int32, tap ``i*kw + j``, first maximum on ties,
a NaN winning over every number),
and the average divides by the window's cells inside the zero-padded input.
Both backward passes are gathers, one thread per input pixel: no atomics.
"""

import numpy as np

from minidl.kernels.cuda import loader


def _args(op, x_shape, output_size, kernel_size, stride, padding):
    """Kernel arguments after the pointers: planes (64-bit), then 32-bit sizes."""
    n, c, h, w = (int(s) for s in x_shape)
    (oh, ow), (kh, kw), (sh, sw), (ph, pw) = output_size, kernel_size, stride, padding
    sizes = loader.int32(
        op, height=h, width=w, out_h=oh, out_w=ow, kernel_h=kh, kernel_w=kw,
        stride_h=sh, stride_w=sw, pad_h=ph, pad_w=pw,
    )
    return (np.int64(n * c),) + sizes


def max_pool2d_forward(x, kernel_size, stride, padding, output_size):
    """(y, argmax): y[n, c, oy, ox] is the window's maximum, argmax its tap (int32)."""
    cp = loader.cupy()
    dtype = loader.float_dtype("max_pool2d_forward", x)
    x = cp.ascontiguousarray(x)
    shape = x.shape[:2] + tuple(output_size)
    y = cp.empty(shape, dtype=dtype)
    argmax = cp.empty(shape, dtype=np.int32)
    args = _args("max_pool2d_forward", x.shape, output_size, kernel_size, stride, padding)
    kernel = loader.function("pool.cu", "max_pool2d_forward", dtype)
    loader.launch(kernel, y.size, (x, y, argmax) + args)
    return y, argmax


def max_pool2d_backward(gy, argmax, x_shape, kernel_size, stride, padding):
    """Each input cell sums the gradients of the windows whose argmax names it."""
    cp = loader.cupy()
    dtype = loader.float_dtype("max_pool2d_backward", gy)
    if argmax.shape != gy.shape:
        raise ValueError(
            f"max_pool2d_backward (CUDA): argmax {argmax.shape} and gy {gy.shape} must have one shape"
        )
    gy = cp.ascontiguousarray(gy)
    argmax = cp.ascontiguousarray(argmax, dtype=np.int32)
    gx = cp.empty(tuple(int(s) for s in x_shape), dtype=dtype)
    args = _args("max_pool2d_backward", x_shape, gy.shape[2:], kernel_size, stride, padding)
    kernel = loader.function("pool.cu", "max_pool2d_backward", dtype)
    loader.launch(kernel, gx.size, (gy, argmax, gx) + args)
    return gx


def avg_pool2d_forward(x, kernel_size, stride, padding, output_size):
    cp = loader.cupy()
    dtype = loader.float_dtype("avg_pool2d_forward", x)
    x = cp.ascontiguousarray(x)
    y = cp.empty(x.shape[:2] + tuple(output_size), dtype=dtype)
    args = _args("avg_pool2d_forward", x.shape, output_size, kernel_size, stride, padding)
    kernel = loader.function("pool.cu", "avg_pool2d_forward", dtype)
    loader.launch(kernel, y.size, (x, y) + args)
    return y


def avg_pool2d_backward(gy, x_shape, kernel_size, stride, padding):
    cp = loader.cupy()
    dtype = loader.float_dtype("avg_pool2d_backward", gy)
    gy = cp.ascontiguousarray(gy)
    gx = cp.empty(tuple(int(s) for s in x_shape), dtype=dtype)
    args = _args("avg_pool2d_backward", x_shape, gy.shape[2:], kernel_size, stride, padding)
    kernel = loader.function("pool.cu", "avg_pool2d_backward", dtype)
    loader.launch(kernel, gx.size, (gy, gx) + args)
    return gx


def _adaptive_args(op, x_shape, output_size):
    n, c, h, w = (int(s) for s in x_shape)
    oh, ow = output_size
    return (np.int64(n * c),) + loader.int32(op, height=h, width=w, out_h=oh, out_w=ow)


def adaptive_avg_pool2d_forward(x, output_size):
    cp = loader.cupy()
    dtype = loader.float_dtype("adaptive_avg_pool2d_forward", x)
    x = cp.ascontiguousarray(x)
    y = cp.empty(x.shape[:2] + tuple(output_size), dtype=dtype)
    args = _adaptive_args("adaptive_avg_pool2d_forward", x.shape, output_size)
    kernel = loader.function("pool.cu", "adaptive_avg_pool2d_forward", dtype)
    loader.launch(kernel, y.size, (x, y) + args)
    return y


def adaptive_avg_pool2d_backward(gy, x_shape):
    cp = loader.cupy()
    dtype = loader.float_dtype("adaptive_avg_pool2d_backward", gy)
    gy = cp.ascontiguousarray(gy)
    gx = cp.empty(tuple(int(s) for s in x_shape), dtype=dtype)
    args = _adaptive_args("adaptive_avg_pool2d_backward", x_shape, gy.shape[2:])
    kernel = loader.function("pool.cu", "adaptive_avg_pool2d_backward", dtype)
    loader.launch(kernel, gx.size, (gy, gx) + args)
    return gx
