"""Where a training step's time goes: wall time per op, forward and backward.

Wraps the forward and backward of every ``Function`` with a timer, runs
training steps (forward, cross-entropy, backward, SGD) of a registered model
on random images, and prints the mean time per step of each, slowest first.
A pooled op's time is the calling thread's wall time: work it hands to
minidl's other threads counts while the caller waits for it.

    python benchmarks/op_times.py lenet5 [--batch-size 128] [--steps 20] [--threads N]
    python benchmarks/op_times.py resnet20 --input 3x32x32
    python benchmarks/op_times.py cifar_alexnet_lrn --input 3x32x32   # minidl bench's own nets too
"""

import argparse
import time
from collections import defaultdict

import numpy as np

import minidl as md
from minidl import threads
from minidl.autograd import Function
from minidl.commands.bench.twins import minidl_model


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _instrument(totals):
    """Time every Function's own forward and backward into ``totals`` (name -> seconds)."""
    for cls in set(_subclasses(Function)):
        for method in ("forward", "backward"):
            if method in cls.__dict__:
                setattr(cls, method, _timed(cls.__dict__[method], method, totals))


def _timed(function, method, totals):
    def timed(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return function(self, *args, **kwargs)
        finally:  # named by the op's class, which may inherit the method (Add from _Binary)
            totals[f"{type(self).__name__}.{method}"] += time.perf_counter() - start

    return timed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--input", default="1x28x28", help="one image's shape, CxHxW (default 1x28x28)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, help="minidl's thread count (default: one per core)")
    args = parser.parse_args()
    if args.threads:
        threads.set_num_threads(args.threads)

    shape = tuple(int(size) for size in args.input.split("x"))
    md.manual_seed(0)
    net = minidl_model(args.model)
    opt = md.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    rng = np.random.default_rng(0)
    x = md.tensor(rng.standard_normal((args.batch_size,) + shape).astype(np.float32))
    labels = rng.integers(0, 10, args.batch_size)
    totals = defaultdict(float)

    def step():
        loss = md.functional.cross_entropy(net(x), labels)
        opt.zero_grad()
        loss.backward()
        start = time.perf_counter()
        opt.step()
        totals["SGD.step"] += time.perf_counter() - start

    for _ in range(args.warmup):
        step()
    _instrument(totals)
    totals.clear()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    per_step = (time.perf_counter() - start) / args.steps
    print(f"{args.model}, batch {args.batch_size}, {threads.get_num_threads()} thread(s): "
          f"{1000 * per_step:.1f} ms per training step")
    for label, seconds in sorted(totals.items(), key=lambda item: -item[1]):
        print(f"  {label:32s} {1000 * seconds / args.steps:8.2f} ms")


if __name__ == "__main__":
    main()
