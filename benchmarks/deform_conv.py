"""deform_conv2d beside conv2d at ResNet-20's stage-3 shape, and where its time goes.

Shape: batch 128, 64 -> 64 channels, 8x8, 3x3 kernel, padding 1, float32;
offsets uniform in (-1, 1) (every tap off the grid), one offset group, with
and without the DCNv2 mask. Each line is the median wall time of forward plus
backward (all input gradients) over interleaved rounds, in one process.

The second table splits one deform_conv2d step into its parts, each timed on
the whole batch on one thread (minidl threads and BLAS at 1): the deformable
im2col (run twice per step: forward, and again in backward for the weight
gradient, as conv2d rebuilds its columns), the three GEMMs, the input-gradient
scatter and the offset/mask gradient; conv2d's im2col and col2im beside them.

    python benchmarks/deform_conv.py [--reps 10] [--rounds 3] [--cpu-time]

``--cpu-time`` measures the process's CPU time instead of the wall clock: on a
machine shared with other jobs it still says how much work each part does.
"""

import argparse
import statistics
import time

import numpy as np

import minidl as md
from minidl import threads
from minidl.kernels import cpu
from minidl.kernels.cpu import deform_conv as cpu_deform

F = md.functional

SHAPE = dict(n=128, c=64, out=64, size=8, k=3)
GEOMETRY = ((3, 3), (1, 1), (1, 1), (1, 1))


def arrays(seed=0):
    rng = np.random.default_rng(seed)
    n, c, out, size, k = (SHAPE[key] for key in ("n", "c", "out", "size", "k"))

    def f32(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    return dict(
        x=f32(n, c, size, size), w=f32(out, c, k, k) * 0.05, gy=f32(n, out, size, size),
        offset=rng.uniform(-1, 1, (n, 2 * k * k, size, size)).astype(np.float32),
        mask=rng.uniform(0, 1, (n, k * k, size, size)).astype(np.float32),
    )


def op_cases(a):
    def conv():
        x, w = md.tensor(a["x"], requires_grad=True), md.tensor(a["w"], requires_grad=True)
        F.conv2d(x, w, padding=1).backward(a["gy"])

    def deform(modulated):
        def step():
            x, w = md.tensor(a["x"], requires_grad=True), md.tensor(a["w"], requires_grad=True)
            offset = md.tensor(a["offset"], requires_grad=True)
            mask = md.tensor(a["mask"], requires_grad=True) if modulated else None
            F.deform_conv2d(x, offset, w, padding=1, mask=mask).backward(a["gy"])
        return step

    return {"conv2d": conv, "deform_conv2d, mask": deform(True), "deform_conv2d, no mask": deform(False)}


def part_cases(a):
    x, offset, mask, w, gy = a["x"], a["offset"], a["mask"], a["w"], a["gy"]
    cols = cpu.deform_im2col(x, offset, mask, *GEOMETRY)
    gy_cols = np.ascontiguousarray(gy.transpose(1, 0, 2, 3)).reshape(w.shape[0], -1)
    w2 = w.reshape(w.shape[0], -1)
    gcols = w2.T @ gy_cols
    return {
        "deform_im2col (x2 per step)": lambda: cpu.deform_im2col(x, offset, mask, *GEOMETRY),
        "GEMM forward  W @ cols": lambda: w2 @ cols,
        "GEMM weight   gy @ cols.T": lambda: gy_cols @ cols.T,
        "GEMM columns  W.T @ gy": lambda: w2.T @ gy_cols,
        "deform_col2im (input grad)": lambda: cpu.deform_col2im(gcols, x.shape, offset, mask, *GEOMETRY),
        "deform_col2im_coord (offset, mask)": lambda: cpu.deform_col2im_coord(gcols, x, offset, mask, *GEOMETRY),
        "conv im2col": lambda: cpu.im2col(x, *GEOMETRY),
        "conv col2im": lambda: cpu.col2im(gcols, x.shape, *GEOMETRY),
    }


def measure(table, reps, rounds, clock=time.perf_counter):
    """name -> median ms per call, the cases interleaved round by round."""
    for fn in table.values():
        fn()  # compile, warm the caches
    times = {name: [] for name in table}
    for _ in range(rounds):
        for name, fn in table.items():
            start = clock()
            for _ in range(reps):
                fn()
            times[name].append((clock() - start) / reps * 1e3)
    return {name: statistics.median(t) for name, t in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cpu-time", action="store_true", help="process CPU time, not wall time")
    args = parser.parse_args(argv)
    clock = time.process_time if args.cpu_time else time.perf_counter
    a = arrays()
    with open("/proc/loadavg") as f:
        print(f"load average: {f.read().split()[:3]}")
    print(f"shape (N, C, H, W) = ({SHAPE['n']}, {SHAPE['c']}, {SHAPE['size']}, {SHAPE['size']}), "
          f"3x3, padding 1, float32; minidl threads: {threads.get_num_threads()}; "
          f"{'CPU' if args.cpu_time else 'wall'} time")
    ops = measure(op_cases(a), args.reps, args.rounds, clock)
    for name, ms in ops.items():
        print(f"  {name:28s} forward+backward {ms:8.2f} ms  ({ms / ops['conv2d']:.2f}x conv2d)")

    threads.set_num_threads(1)
    one = measure(op_cases(a), args.reps, args.rounds, clock)
    print("one thread:")
    for name, ms in one.items():
        print(f"  {name:28s} forward+backward {ms:8.2f} ms  ({ms / one['conv2d']:.2f}x conv2d)")
    cpu_deform.PARALLEL_BYTES = 2**62  # the kernels on the calling thread, as inside the op
    parts = measure(part_cases(a), args.reps, args.rounds, clock)
    print("parts of one deform_conv2d step (with mask), whole batch, one thread:")
    step = {name: ms * (2 if name.startswith("deform_im2col") else 1)
            for name, ms in parts.items() if not name.startswith("conv ")}
    total = sum(step.values())
    for name, ms in parts.items():
        share = f"{step[name] / total:5.1%} of the parts" if name in step else ""
        print(f"  {name:36s} {ms:8.2f} ms  {share}")
    print(f"  {'sum of the parts':36s} {total:8.2f} ms  (the op on one thread: {one['deform_conv2d, mask']:.2f} ms)")
    return ops, one, parts


if __name__ == "__main__":
    main()
