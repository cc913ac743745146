"""VGG's second design rule (seed 001): after every 2x2 pool, double the channels.

Halving H and W divides a layer's memory by 4 and doubling C multiplies it by 2;
its parameters (9C^2) grow 4x, and its FLOPs (9HWC^2) stay the same, so every
stage of the network costs the same. Read from ``md.summary(vgg16)`` at
3x224x224: the convolutions whose input and output have the same channels are
grouped by stage, with the memory of one output, its parameters and its FLOPs.

Stages 1-4 (64 -> 512 channels) cost 1,849,688,064 multiply-adds per
convolution each. The rule stops at 512 channels: stage 5 keeps 512 on 14x14
maps, so its convolutions cost a quarter of that.

Run:  python examples/vgg_rule.py
"""

import minidl as md


def stages(table):
    """One entry per stage (by output resolution) of the C -> C convolutions:
    (resolution, channels, memory KB, params, FLOPs, count)."""
    result = {}
    previous_channels = None
    for row in table:
        if row.kind != "Conv2d":
            continue
        channels, height, width = row.output_shape
        same = previous_channels == channels
        previous_channels = channels
        if not same:
            continue
        entry = result.setdefault((height, width), [channels, row.memory, row.params, row.flops, 0])
        if entry[1:4] != [row.memory, row.params, row.flops]:
            raise AssertionError(f"convolutions of one stage differ: {row}")
        entry[4] += 1
    return [((h, w), *entry) for (h, w), entry in result.items()]


def main():
    table = md.summary(md.models.vgg16(), (3, 224, 224))
    rows = stages(table)
    print("VGG-16, the CxC 3x3 convolutions of each stage (one image)")
    print(f"{'maps':>9s} {'channels':>8s} {'memory KB':>10s} {'params':>10s} {'FLOPs':>15s} {'convs':>5s}")
    for (h, w), channels, memory, params, flops, count in rows:
        print(f"{h:>4d}x{w:<4d} {channels:>8d} {memory:>10,.0f} {params:>10,} {flops:>15,} {count:>5d}")
    return rows


if __name__ == "__main__":
    main()
