"""VGG's first design rule (seed 001): three stacked 3x3 convolutions see as much
as one 7x7 convolution, for 27C^2 parameters instead of 49C^2.

Everything here is measured on real layers (C channels in and out, no bias):

- receptive field: backpropagate from one output pixel in the middle of the
  map and count the input pixels that receive gradient (all weights 1, so no
  contribution cancels): a 7x7 square for both;
- parameters: counted from the layers' weights;
- FLOPs: from ``md.summary`` at H x W, 27HWC^2 against 49HWC^2.

Run:  python examples/stacked_3x3.py [--channels 64] [--size 56]
"""

import argparse

import numpy as np

import minidl as md

nn = md.nn


def stacked(channels):
    """Three 3x3 convolutions (padding 1) with ReLUs between them."""
    return nn.Sequential(
        nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.ReLU(),
        nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.ReLU(),
        nn.Conv2d(channels, channels, 3, padding=1, bias=False),
    )


def single(channels):
    """One 7x7 convolution (padding 3)."""
    return nn.Sequential(nn.Conv2d(channels, channels, 7, padding=3, bias=False))


def receptive_field(model, channels, size=15):
    """(height, width) of the input region that one central output pixel depends on,
    found by backpropagating from that pixel through ``model`` with all weights 1
    on an all-ones input."""
    for p in model.parameters():
        p.data[...] = 1.0
    x = md.tensor(np.ones((1, channels, size, size)), requires_grad=True)
    model.double()
    y = model(x)
    centre = size // 2
    y[0, 0, centre, centre].backward()
    rows, cols = np.nonzero(np.abs(x.grad[0]).sum(axis=0))
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


def compare(channels=64, size=56):
    """The numbers of both options: receptive field, parameters, FLOPs, and each in
    units of C^2 (parameters) and HWC^2 (FLOPs)."""
    results = {}
    for name, build in (("three 3x3", stacked), ("one 7x7", single)):
        model = build(channels)
        params = sum(p.size for p in model.parameters())
        flops = md.summary(model, (channels, size, size)).total_flops
        results[name] = {
            "receptive_field": receptive_field(build(channels), channels),
            "params": params,
            "params_per_C2": params / channels**2,
            "flops": flops,
            "flops_per_HWC2": flops / (size * size * channels**2),
        }
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--size", type=int, default=56)
    args = parser.parse_args(argv)
    results = compare(args.channels, args.size)
    print(f"C = {args.channels} channels, {args.size}x{args.size} maps")
    for name, r in results.items():
        h, w = r["receptive_field"]
        print(f"{name:10s} receptive field {h}x{w}  params {r['params']:>9,} = {r['params_per_C2']:g} C^2  "
              f"FLOPs {r['flops']:>13,} = {r['flops_per_HWC2']:g} HWC^2")
    return results


if __name__ == "__main__":
    main()
