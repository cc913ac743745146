"""Where PyTorch's training step spends its time: ``op_times.py``'s table for PyTorch.

Runs training steps (forward, cross-entropy, backward, SGD with momentum) of
the PyTorch twin of a network ``minidl bench`` times (``minidl.commands.bench.twins``)
on random images under ``torch.profiler``, and prints the mean self CPU time per
step of each ATen op, slowest first: the time inside the op less that of the ops
it calls, so the rows add up to the step. Run it beside ``op_times.py`` with the
same model, batch and thread count, each in its own process:

    python benchmarks/op_times_torch.py resnet20 --threads 1
    python benchmarks/op_times.py resnet20 --input 3x32x32 --threads 1

PyTorch's convolution backward is one op (``convolution_backward``: data and
weight gradient), where minidl's ``Conv2d.backward`` is one row too.
"""

import argparse
import time

import torch
from torch.profiler import ProfilerActivity, profile

from minidl.commands.bench.step import WORKLOADS, batch
from minidl.commands.bench.twins import torch_model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=tuple(WORKLOADS))
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, help="PyTorch's intra-op threads (default: its own choice)")
    parser.add_argument("--rows", type=int, default=25, help="ops to print (default 25)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = torch_model(args.model, WORKLOADS[args.model][1]).train()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    images, labels = batch(args.model, args.batch_size)
    x, y = torch.from_numpy(images), torch.from_numpy(labels)

    def step():
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(net(x), y).backward()
        opt.step()

    for _ in range(args.warmup):
        step()
    start = time.perf_counter()
    for _ in range(args.steps):
        step()
    per_step = (time.perf_counter() - start) / args.steps
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(args.steps):
            step()
    rows = sorted(prof.key_averages(), key=lambda row: -row.self_cpu_time_total)
    print(f"{args.model} (PyTorch {torch.__version__}), batch {args.batch_size}, "
          f"{torch.get_num_threads()} thread(s): {1000 * per_step:.1f} ms per training step (unprofiled)")
    profiled = sum(row.self_cpu_time_total for row in rows) / 1000 / args.steps
    print(f"  self CPU time of all ops, profiled: {profiled:.1f} ms per step")
    for row in rows[:args.rows]:
        share = row.self_cpu_time_total / 1000 / args.steps
        print(f"  {row.key:56s} {share:8.2f} ms  ({row.count // args.steps} calls)")


if __name__ == "__main__":
    main()
