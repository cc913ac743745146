"""How many digits each convolution algorithm loses in float32, on the layers it would serve.

For each layer shape (batch 16, N(0, 1) inputs and output gradients, He-scaled
weights) and each algorithm, the forward, data gradient and weight gradient are
computed in float32 and compared with the float64 im2col result:
error = max |float32 - float64| / max |float64|, in units of float32's eps
(1.19e-7). im2col's own float32 error is the yardstick.

    python benchmarks/winograd_error.py
"""

import numpy as np

from minidl import threads
from minidl.functional import conv_algorithms
from minidl.functional.conv import Conv2d

SHAPES = {  # name: (C, K, size, kernel, padding)
    "resnet20.s1 3x3 16@32": (16, 16, 32, 3, 1),
    "resnet20.s2 3x3 32@16": (32, 32, 16, 3, 1),
    "resnet20.s3 3x3 64@8": (64, 64, 8, 3, 1),
    "vgg-like 3x3 256@14": (256, 256, 14, 3, 1),
    "lenet5.conv2 5x5 20->50@14": (20, 50, 14, 5, 2),
    "alexnet_lrn.conv2 5x5 64@15": (64, 64, 15, 5, 2),
}
EPS = np.finfo(np.float32).eps


def passes(algorithm, x, w, gy, padding):
    chosen = conv_algorithms.choose_algorithm
    conv_algorithms.choose_algorithm = lambda *args: algorithm
    try:
        function = Conv2d((1, 1), (padding, padding), (1, 1), 1)
        function.needs_input_grad = (True, True)
        y = function.forward(x, w)
        gx, gw = function.backward(gy)
    finally:
        conv_algorithms.choose_algorithm = chosen
    return y, gx, gw


def main():
    threads.set_num_threads(1)
    rng = np.random.default_rng(0)
    print(f"{'layer':30} {'algorithm':14} {'forward':>8} {'data grad':>10} {'weight grad':>12}"
          "  (max error / max |value|, in eps)")
    for name, (c, k, size, r, padding) in SHAPES.items():
        x = rng.standard_normal((16, c, size, size))
        w = rng.standard_normal((k, c, r, r)) * np.sqrt(2 / (c * r * r))
        out = size + 2 * padding - r + 1
        gy = rng.standard_normal((16, k, out, out))
        exact = passes("im2col", x, w, gy, padding)
        for algorithm in ("im2col", "winograd_2x2", "winograd_4x4"):
            got = passes(algorithm, *(a.astype(np.float32) for a in (x, w, gy)), padding)
            errors = [np.abs(g - e).max() / np.abs(e).max() / EPS for g, e in zip(got, exact)]
            print(f"{name:30} {algorithm:14} " + " ".join(f"{e:{width}.1f}" for e, width in zip(errors, (8, 10, 12))))


if __name__ == "__main__":
    main()
