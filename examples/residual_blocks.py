"""Basic against bottleneck residual blocks (seed 001, "Residual Networks: Bottleneck Block").

A basic block on C channels is two 3x3 convolutions: 9HWC^2 + 9HWC^2 = 18HWC^2
multiply-adds. A bottleneck block works on 4C channels: a 1x1 convolution down
to C (4HWC^2), a 3x3 on C (9HWC^2) and a 1x1 back up to 4C (4HWC^2), 17HWC^2 in
all: deeper, with more non-linearities, on four times the channels, and
cheaper.

Measured with ``md.summary`` on the real blocks of ``models.resnet`` (the
convolution rows; batch norm adds a few HWC more, listed apart).

Run:  python examples/residual_blocks.py [--channels 64] [--size 56]
"""

import argparse

import minidl as md
from minidl.models.resnet import BasicBlock, Bottleneck


def block_costs(channels=64, size=56):
    """{block: (conv FLOPs, conv FLOPs / HWC^2, batch-norm FLOPs, per-conv FLOPs / HWC^2)}."""
    hwc2 = size * size * channels**2
    blocks = {
        "basic": (BasicBlock(channels, channels), channels),
        "bottleneck": (Bottleneck(4 * channels, channels), 4 * channels),
    }
    costs = {}
    for name, (block, in_channels) in blocks.items():
        table = md.summary(block, (in_channels, size, size))
        convs = [row.flops for row in table if row.kind == "Conv2d"]
        norms = sum(row.flops for row in table if row.kind.startswith("BatchNorm"))
        costs[name] = (sum(convs), sum(convs) / hwc2, norms, [f / hwc2 for f in convs])
    return costs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--size", type=int, default=56)
    args = parser.parse_args(argv)
    costs = block_costs(args.channels, args.size)
    print(f"C = {args.channels}, H = W = {args.size}")
    for name, (flops, units, norms, per_conv) in costs.items():
        parts = " + ".join(f"{u:g}" for u in per_conv)
        print(f"{name:10s} convolutions {flops:>12,} = ({parts}) HWC^2 = {units:g} HWC^2"
              f"   (+ batch norm {norms:,})")
    return costs


if __name__ == "__main__":
    main()
