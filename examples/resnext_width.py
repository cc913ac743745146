"""ResNeXt's equal-cost width (seed 001): how wide may each of G paths be?

A bottleneck block on 4C channels (1x1 to C, 3x3 on C, 1x1 back to 4C) costs
17HWC^2 multiply-adds. Split it into G parallel paths of width c (1x1 to c,
3x3 on c, 1x1 back to 4C, outputs summed; a grouped convolution in practice):

    G * HW * (4Cc + 9c^2 + 4Cc) = HW * (9Gc^2 + 8GCc)

Equal cost means 9Gc^2 + 8GCc - 17C^2 = 0, whose positive root is

    c = C * (-8G + sqrt(64G^2 + 612G)) / (18G).

For C = 64: G = 4 gives c = 23.9 ~ 24 and G = 32 gives c = 3.97 ~ 4 (the
lecture's numbers; ResNeXt-50's 32x4d). ``check_with_blocks`` builds the real
layers (the bottleneck of ``models.resnet`` and the G paths as grouped
convolutions, as ResNeXt implements them) and reads their FLOPs from
``md.summary``: for the lecture's G = 4 and G = 32 they cost within 1% of the
bottleneck, the difference coming from rounding c to an integer (2.6% for
G = 8, where c = 13.7 rounds furthest).

Run:  python examples/resnext_width.py [--channels 64] [--groups 1 2 4 8 32]
"""

import argparse
import math

import minidl as md
from minidl.models.resnet import Bottleneck, conv1x1, conv3x3


def equal_cost_width(channels, groups):
    """The positive root c of 9Gc^2 + 8GCc - 17C^2 = 0."""
    a, b, c = 9 * groups, 8 * groups * channels, -17 * channels**2
    return (-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)


def conv_flops(block, in_channels, size):
    table = md.summary(block, (in_channels, size, size))
    return sum(row.flops for row in table if row.kind == "Conv2d")


def paths(channels, groups, width):
    """G paths of width c as grouped convolutions: 1x1 4C -> Gc, 3x3 Gc -> Gc in G groups,
    1x1 Gc -> 4C (the sum of the paths' outputs is the last 1x1 over all Gc maps)."""
    return md.nn.Sequential(conv1x1(4 * channels, groups * width),
                            conv3x3(groups * width, groups * width, groups=groups),
                            conv1x1(groups * width, 4 * channels))


def check_with_blocks(channels=64, groups=(4, 32), size=14):
    """{G: (c, rounded c, FLOPs of the G-path block, FLOPs of the bottleneck)}."""
    reference = conv_flops(Bottleneck(4 * channels, channels), 4 * channels, size)
    results = {}
    for g in groups:
        width = equal_cost_width(channels, g)
        rounded = max(1, round(width))
        results[g] = (width, rounded, conv_flops(paths(channels, g, rounded), 4 * channels, size), reference)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--groups", type=int, nargs="+", default=[1, 2, 4, 8, 32])
    args = parser.parse_args(argv)
    results = check_with_blocks(args.channels, tuple(args.groups))
    print(f"C = {args.channels}: bottleneck block 17HWC^2; G paths of width c cost HW(9Gc^2 + 8GCc)")
    for g, (width, rounded, flops, reference) in results.items():
        print(f"G = {g:3d}: c = {width:6.2f} -> {rounded:3d}   block FLOPs {flops:,} vs bottleneck {reference:,}"
              f" ({100 * (flops / reference - 1):+.2f}%)")
    return results


if __name__ == "__main__":
    main()
