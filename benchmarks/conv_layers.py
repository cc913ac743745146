"""Every distinct convolution of LeNet-5, ResNet-20 and the AlexNet-with-LRN CIFAR net,
batch 128: minidl against ``torch.nn.functional.conv2d``, each framework in its own
process, alternated A B A B.

Forward, data gradient and weight gradient are timed apart (minidl's ``Conv2d``
Function with one gradient asked for at a time; PyTorch's
``aten.convolution_backward`` with one output mask bit set), as the median of
``--reps`` calls after a warm-up. Each round starts one fresh process per
framework, in turns (minidl first in even rounds, PyTorch first in odd ones):
sharing a process biases both ways (PyTorch's OpenMP threads spin after its ops
and take the cores; minidl's malloc settings spare PyTorch its page faults).
The ratio is PyTorch's time over minidl's (above 1 minidl is faster); its
median over the rounds is printed with the lowest and highest round.

The AlexNet-with-LRN CIFAR net is the classic cuda-convnet / TensorFlow-tutorial
one on 32x32 images: 5x5 3->64 (pad 2), 3x3/2 max pool to 15x15, LRN, 5x5 64->64
(pad 2). The shortcuts are ResNet-20's option-B 1x1 stride-2 convolutions.

    python benchmarks/conv_layers.py [--rounds 3] [--reps 5] [--threads 1]
    python benchmarks/conv_layers.py --quick          # the three known losers, 2 rounds
    python benchmarks/conv_layers.py --shapes resnet20.s3,lenet5.conv2
    python benchmarks/conv_layers.py --algorithms     # minidl alone: each algorithm, CPU time
    python benchmarks/conv_layers.py --baseline       # minidl on im2col everywhere: the "before"
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/conv_layers.py

With ``--threads 1`` (the default; the machine this was written on is shared)
both frameworks run on one thread: minidl's slices, its BLAS and Numba, and
PyTorch's intra-op pool. ``--cpu-time`` then times the work each does, which
other jobs on the machine disturb far less than the wall clock.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

BATCH = 128


@dataclass(frozen=True)
class Shape:
    c_in: int
    c_out: int
    size: int  # square input
    kernel: int
    stride: int = 1
    padding: int = 0

    @property
    def out_size(self):
        return (self.size + 2 * self.padding - self.kernel) // self.stride + 1

    def flops(self, batch=BATCH):
        """Multiply-adds times two of one pass (each of the three passes costs the same)."""
        return 2 * batch * self.c_out * self.c_in * self.kernel ** 2 * self.out_size ** 2


SHAPES = {
    "lenet5.conv1": Shape(1, 20, 28, 5, padding=2),
    "lenet5.conv2": Shape(20, 50, 14, 5, padding=2),
    "resnet20.stem": Shape(3, 16, 32, 3, padding=1),
    "resnet20.s1": Shape(16, 16, 32, 3, padding=1),
    "resnet20.s2.down": Shape(16, 32, 32, 3, stride=2, padding=1),
    "resnet20.s2": Shape(32, 32, 16, 3, padding=1),
    "resnet20.s3.down": Shape(32, 64, 16, 3, stride=2, padding=1),
    "resnet20.s3": Shape(64, 64, 8, 3, padding=1),
    "shortcut.1x1.s2": Shape(16, 32, 32, 1, stride=2),
    "shortcut.1x1.s3": Shape(32, 64, 16, 1, stride=2),
    "alexnet_lrn.conv1": Shape(3, 64, 32, 5, padding=2),
    "alexnet_lrn.conv2": Shape(64, 64, 15, 5, padding=2),
}
QUICK = ["resnet20.s3", "lenet5.conv2", "alexnet_lrn.conv2"]
PASSES = ("forward", "data grad", "weight grad")


def median_ms(call, reps, clock=time.perf_counter):
    call()
    call()  # warm-up: Numba compiles, BLAS and malloc settle
    times = []
    for _ in range(reps):
        start = clock()
        call()
        times.append(clock() - start)
    return 1e3 * statistics.median(times)


def cpu_median_ms(call, reps):
    """Median CPU time of the process (on one thread: the work done, whatever the load)."""
    return median_ms(call, reps, time.process_time)


def compare_algorithms(names, reps):
    """minidl only, in this process on one thread: each algorithm that can run a shape,
    forced in turn, CPU time per pass. The numbers behind ``choose_algorithm``."""
    import numpy as np

    from minidl import threads
    from minidl.functional import conv_algorithms

    threads.set_num_threads(1)
    chosen = conv_algorithms.choose_algorithm
    print(f"{'shape':20} {'algorithm':14} " + " ".join(f"{p:>12}" for p in PASSES) + f" {'sum':>8}  (CPU ms)")
    for name in names:
        shape = SHAPES[name]
        geometry = ((BATCH, shape.c_in, shape.size, shape.size), (shape.c_out, shape.c_in, shape.kernel, shape.kernel),
                    (shape.stride,) * 2, (shape.padding,) * 2, (1, 1), 1, "cpu")
        candidates = ["im2col", "im2col_images"]
        if shape.stride == 1 and shape.kernel in (3, 5):
            candidates += ["winograd_2x2", "winograd_4x4"]
        for algorithm in candidates:
            conv_algorithms.choose_algorithm = lambda *args, algorithm=algorithm: algorithm
            try:
                calls = minidl_calls(shape, np.random.default_rng(0))
                times = [cpu_median_ms(calls[p], reps) for p in PASSES]
            finally:
                conv_algorithms.choose_algorithm = chosen
            mark = " <- chosen" if algorithm == chosen(*geometry) else ""
            print(f"{name:20} {algorithm:14} " + " ".join(f"{t:12.2f}" for t in times) + f" {sum(times):8.2f}{mark}")


def minidl_calls(shape, rng):
    import numpy as np

    from minidl.functional.conv import Conv2d

    x = rng.standard_normal((BATCH, shape.c_in, shape.size, shape.size)).astype(np.float32)
    w = (0.1 * rng.standard_normal((shape.c_out, shape.c_in, shape.kernel, shape.kernel))).astype(np.float32)
    gy = rng.standard_normal((BATCH, shape.c_out, shape.out_size, shape.out_size)).astype(np.float32)
    function = Conv2d((shape.stride,) * 2, (shape.padding,) * 2, (1, 1), 1)

    def forward():  # as in training: both gradients wanted, so Winograd keeps its input points
        function.needs_input_grad = (True, True)
        return function.forward(x, w)

    def backward(mask):
        function.needs_input_grad = mask
        return function.backward(gy)

    forward()
    return {"forward": forward,
            "data grad": lambda: backward((True, False)),
            "weight grad": lambda: backward((False, True))}


def torch_calls(shape, rng):
    import torch
    import torch.nn.functional as TF

    def tensor(*dims, scale=1.0):
        return torch.from_numpy((scale * rng.standard_normal(dims)).astype("float32"))

    x = tensor(BATCH, shape.c_in, shape.size, shape.size)
    w = tensor(shape.c_out, shape.c_in, shape.kernel, shape.kernel, scale=0.1)
    gy = tensor(BATCH, shape.c_out, shape.out_size, shape.out_size)
    geometry = ([shape.stride] * 2, [shape.padding] * 2, [1, 1], False, [0, 0], 1)

    def backward(mask):
        with torch.no_grad():
            return torch.ops.aten.convolution_backward(gy, x, w, None, *geometry, mask)

    def forward():
        with torch.no_grad():
            return TF.conv2d(x, w, None, shape.stride, shape.padding)

    return {"forward": forward,
            "data grad": lambda: backward([True, False, False]),
            "weight grad": lambda: backward([False, True, False])}


def worker(framework, names, reps, threads, cpu_time=False, baseline=False):
    """Print {shape: {pass: median ms}} as JSON, for one framework in this process."""
    import numpy as np

    if baseline:  # im2col (and the 1x1 path) everywhere, as before conv_algorithms chose
        from minidl.functional import conv_algorithms

        rule = conv_algorithms.choose_algorithm
        conv_algorithms.choose_algorithm = lambda *args: "pointwise" if rule(*args) == "pointwise" else "im2col"

    if framework == "minidl":
        from minidl import threads as minidl_threads

        minidl_threads.set_num_threads(threads)
        make = minidl_calls
    else:
        import torch

        torch.set_num_threads(threads)
        make = torch_calls
    rng = np.random.default_rng(0)
    result = {}
    for name in names:
        calls = make(SHAPES[name], rng)
        clock = time.process_time if cpu_time else time.perf_counter
        result[name] = {p: median_ms(calls[p], reps, clock) for p in PASSES}
    print(json.dumps(result))


def run_worker(framework, names, reps, threads, cpu_time=False, baseline=False):
    env = dict(os.environ)
    if threads == 1:
        env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", NUMBA_NUM_THREADS="1", MKL_NUM_THREADS="1")
    command = [sys.executable, __file__, "--worker", framework, "--shapes", ",".join(names),
               "--reps", str(reps), "--threads", str(threads)]
    command += (["--cpu-time"] if cpu_time else []) + (["--baseline"] if baseline else [])
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def blas_line():
    try:
        import numpy  # noqa: F401  (loads the BLAS that threadpoolctl then sees)
        from threadpoolctl import threadpool_info

        info = [f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')}" for i in threadpool_info()
                if i.get("user_api") == "blas"]
        return ", ".join(info) or "no BLAS seen"
    except ImportError:
        return "threadpoolctl not installed"


def report(names, rounds):
    """Per shape and pass: medians over rounds, torch/minidl ratio (median [min-max]), GFLOP/s."""
    print(f"{'shape':20} {'pass':12} {'minidl ms':>10} {'torch ms':>9} {'ratio':>6} {'[spread]':>13}"
          f" {'GF/s md':>8} {'GF/s pt':>8}")
    totals = {"minidl": [0.0] * len(rounds), "torch": [0.0] * len(rounds)}
    for name in names:
        shape = SHAPES[name]
        per_shape = {"minidl": [0.0] * len(rounds), "torch": [0.0] * len(rounds)}
        for p in PASSES + ("all three",):
            if p == "all three":
                md_times, pt_times = per_shape["minidl"], per_shape["torch"]
                flops = 3 * shape.flops()
            else:
                md_times = [r["minidl"][name][p] for r in rounds]
                pt_times = [r["torch"][name][p] for r in rounds]
                flops = shape.flops()
                for k in range(len(rounds)):
                    per_shape["minidl"][k] += md_times[k]
                    per_shape["torch"][k] += pt_times[k]
            ratios = [pt / md for md, pt in zip(md_times, pt_times)]
            md_ms, pt_ms = statistics.median(md_times), statistics.median(pt_times)
            print(f"{name:20} {p:12} {md_ms:10.2f} {pt_ms:9.2f} {statistics.median(ratios):6.2f}"
                  f" [{min(ratios):.2f}-{max(ratios):.2f}]"
                  f" {flops / md_ms / 1e6:8.1f} {flops / pt_ms / 1e6:8.1f}")
        for f in totals:
            totals[f] = [a + b for a, b in zip(totals[f], per_shape[f])]
    ratios = [pt / md for md, pt in zip(totals["minidl"], totals["torch"])]
    print(f"all shapes, all passes: minidl {statistics.median(totals['minidl']):.1f} ms, "
          f"torch {statistics.median(totals['torch']):.1f} ms, ratio {statistics.median(ratios):.2f} "
          f"[{min(ratios):.2f}-{max(ratios):.2f}]")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--shapes", help="comma-separated names (default: all): " + ", ".join(SHAPES))
    parser.add_argument("--quick", action="store_true", help="the three known losers, 2 rounds")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time the process's CPU time, not the wall clock (with --threads 1: robust to load)")
    parser.add_argument("--baseline", action="store_true",
                        help="minidl with im2col everywhere (the algorithm before conv_algorithms)")
    parser.add_argument("--algorithms", action="store_true",
                        help="minidl alone: every algorithm on each shape, CPU time, one thread")
    parser.add_argument("--worker", choices=["minidl", "torch"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    names = args.shapes.split(",") if args.shapes else (QUICK if args.quick else list(SHAPES))
    unknown = [n for n in names if n not in SHAPES]
    if unknown:
        parser.error(f"unknown shapes {unknown}; known: {', '.join(SHAPES)}")
    if args.worker:
        return worker(args.worker, names, args.reps, args.threads, args.cpu_time, args.baseline)
    if args.algorithms:
        return compare_algorithms(names, args.reps)
    rounds_count = 2 if args.quick and args.rounds == 3 else args.rounds
    clock = "CPU time" if args.cpu_time else "wall clock"
    if args.baseline:
        clock += ", minidl on im2col (--baseline)"
    print(f"batch {BATCH}, float32, {args.threads} thread(s), {clock}, {rounds_count} rounds x {args.reps} reps; "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}; BLAS: {blas_line()}")
    print(f"load average before: {open('/proc/loadavg').read().strip()}")
    rounds = []
    for k in range(rounds_count):
        order = ("minidl", "torch") if k % 2 == 0 else ("torch", "minidl")
        rounds.append({f: run_worker(f, names, args.reps, args.threads, args.cpu_time, args.baseline and f == "minidl")
                       for f in order})
    report(names, rounds)
    print(f"load average after: {open('/proc/loadavg').read().strip()}")


if __name__ == "__main__":
    main()
