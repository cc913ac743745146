"""The cost of the naive inception module, and what 1x1 bottlenecks save (seed 001).

Naive module on a 28x28x256 input: 1x1 (128), 3x3 (192) and 5x5 (96)
convolutions and a 3x3 max pool side by side. The pool keeps all 256 channels,
so the output is 28x28x(128+192+96+256) = 28x28x672, and the convolutions cost

    28*28*128*1*1*256 + 28*28*192*3*3*256 + 28*28*96*5*5*256 = 854,196,224

multiply-adds (854M). The version with bottlenecks (the lecture's: 1x1 reductions
to 64 before the 3x3 and the 5x5, a 64-map 1x1 projection after the pool) gives
28x28x480 for 271,351,808 (271M). The lecture's slide says 358M for it, but the
six terms it lists,

    28*28*64*256 + 28*28*64*256 + 28*28*128*256 + 28*28*192*3*3*64
    + 28*28*96*5*5*64 + 28*28*64*256,

add up to 271,351,808 too: 358M is an arithmetic slip on the slide, not a
different module (``lecture_bottleneck_terms`` sums them).

Measured with ``md.summary`` on ``models.googlenet``'s real modules; the
"conv" FLOPs are the convolution rows, the pooling rows (3x3 windows, counted
as the lecture counts POOL1) are listed apart.

Run:  python examples/inception_cost.py
"""

import numpy as np

import minidl as md
from minidl.models.googlenet import Inception, NaiveInception

SHAPE = (256, 28, 28)


def lecture_bottleneck_terms():
    """The slide's six terms for the module with bottlenecks, summed."""
    hw = 28 * 28
    return (hw * 64 * 256 + hw * 64 * 256 + hw * 128 * 256 + hw * 192 * 3 * 3 * 64
            + hw * 96 * 5 * 5 * 64 + hw * 64 * 256)


def module_costs():
    """{module: (output shape (C, H, W), conv FLOPs, pool FLOPs, params)}."""
    modules = {
        "naive": NaiveInception(256, 128, 192, 96),
        "bottleneck": Inception(256, 128, 64, 192, 64, 96, 64),
    }
    costs = {}
    for name, module in modules.items():
        table = md.summary(module, SHAPE)
        with md.no_grad():
            output = module(md.tensor(np.zeros((1,) + SHAPE, np.float32)))
        convs = sum(row.flops for row in table if row.kind == "Conv2d")
        pools = sum(row.flops for row in table if row.kind == "MaxPool2d")
        costs[name] = (tuple(output.shape[1:]), convs, pools, table.total_params)
    return costs


def main():
    costs = module_costs()
    print("inception modules on a 256x28x28 input (one image)")
    for name, (shape, convs, pools, params) in costs.items():
        print(f"{name:10s} output {'x'.join(map(str, shape)):10s} conv FLOPs {convs:>12,} ({convs / 1e6:.0f}M)"
              f"  + pool {pools:,}  params {params:,}")
    print(f"the lecture's six terms for the bottleneck module sum to {lecture_bottleneck_terms():,} "
          f"(the slide says 358M)")
    return costs


if __name__ == "__main__":
    main()
