"""Data-parallel scaling on this machine: 1 process x 2 threads against 2 ranks x 1 thread.

For each model, trains for a few steps (forward, cross-entropy, backward, SGD
with momentum; random images, global batch 128) twice, each in fresh
processes: one process with minidl's 2 threads, then ``mpiexec -n 2`` ranks of
one thread each, each on its shard of 64 under DistributedDataParallel. Prints
the median images/s of each, the time per step spent averaging gradients
(``reduce_gradients``: the allreduce of the gradient buckets), and what that
predicts for N hosts: each step allreduces every gradient once, and a ring
allreduce sends (and receives) 2 (N - 1) / N times those bytes per rank.

    python benchmarks/scaling.py [--models lenet5 resnet20] [--steps 10] [--batch-size 128]

Needs the [mpi] extra (mpiexec next to the Python running this). On a shared
machine the numbers move from run to run: quote the load average with them.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

INPUTS = {"lenet5": (1, 28, 28), "resnet20": (3, 32, 32)}
NETWORKS_GBIT = (1, 10, 100)  # link speeds for the N-host prediction


def worker(model_name, batch_size, steps, warmup, threads_per_rank):
    """One rank (or the single process): time the steps; print a JSON line from rank 0."""
    import minidl as md
    from minidl import distributed, threads
    from minidl.nn.parallel import DistributedDataParallel

    threads.set_num_threads(threads_per_rank)
    world = 1
    if distributed.launcher_world_size():
        world = distributed.init_process_group("mpi")
    rank = distributed.get_rank()
    md.manual_seed(0)
    net = md.models.get(model_name, num_classes=10, in_channels=INPUTS[model_name][0])
    model = DistributedDataParallel(net) if world > 1 else net
    optimizer = md.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    local = batch_size // world
    rng = np.random.default_rng(rank)
    x = md.tensor(rng.random((local,) + INPUTS[model_name], dtype=np.float32))
    y = md.tensor(rng.integers(0, 10, local))
    step_seconds, reduce_seconds = [], []
    for step in range(warmup + steps):
        distributed.barrier()
        started = time.perf_counter()
        loss = md.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        reduce_started = time.perf_counter()
        if world > 1:
            model.reduce_gradients()
        reduced = time.perf_counter()
        optimizer.step()
        distributed.barrier()
        if step >= warmup:
            step_seconds.append(time.perf_counter() - started)
            reduce_seconds.append(reduced - reduce_started)
    gradient_bytes = sum(p.data.nbytes for p in net.parameters())
    if rank == 0:
        print(json.dumps({"step": statistics.median(step_seconds), "reduce": statistics.median(reduce_seconds),
                          "gradient_bytes": gradient_bytes, "world": world}))


def measure(model, batch_size, steps, warmup, ranks):
    """Run the worker in fresh processes: 1 x 2 threads, or ``ranks`` x 1 thread under mpiexec."""
    here = os.path.abspath(__file__)
    command = [sys.executable, here, "--worker", model, str(batch_size), str(steps), str(warmup)]
    if ranks == 1:
        command.append("2")
    else:
        mpiexec = os.path.join(os.path.dirname(sys.executable), "mpiexec")
        command = [mpiexec, "-n", str(ranks)] + command + ["1"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def prediction(result, batch_size):
    """Lines: per-step allreduce bytes for N hosts against the measured compute of a step."""
    g = result["gradient_bytes"]
    lines = []
    for hosts in (2, 4, 8, 16):
        sent = 2 * (hosts - 1) / hosts * g
        times = ", ".join(f"{sent / (gbit * 1e9 / 8) * 1e3:.1f} ms at {gbit} Gbit/s" for gbit in NETWORKS_GBIT)
        lines.append(f"    {hosts:2d} hosts: {sent / 1e6:6.2f} MB sent per rank per step ({times})")
    return lines


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        model, batch, steps, warmup, threads_per_rank = sys.argv[2], *map(int, sys.argv[3:7])
        return worker(model, batch, steps, warmup, threads_per_rank)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(INPUTS), choices=list(INPUTS))
    parser.add_argument("--batch-size", type=int, default=128, help="the global batch (default 128)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    args = parser.parse_args()
    print(f"load average: {open('/proc/loadavg').read().split()[:3]} (a shared machine: numbers move run to run)")
    for model in args.models:
        one = measure(model, args.batch_size, args.steps, args.warmup, 1)
        two = measure(model, args.batch_size, args.steps, args.warmup, 2)
        print(f"{model}, global batch {args.batch_size}: "
              f"1 process x 2 threads {args.batch_size / one['step']:.0f} img/s ({one['step'] * 1e3:.0f} ms/step); "
              f"2 ranks x 1 thread {args.batch_size / two['step']:.0f} img/s ({two['step'] * 1e3:.0f} ms/step, "
              f"of which allreduce {two['reduce'] * 1e3:.1f} ms); speed-up {one['step'] / two['step']:.2f}x")
        print(f"  gradients: {one['gradient_bytes'] / 1e6:.2f} MB per step; compute per step "
              f"{one['step'] * 1e3:.0f} ms here for batch {args.batch_size}, ideally that / N on N hosts. "
              "Ring allreduce:")
        print("\n".join(prediction(one, args.batch_size)))


if __name__ == "__main__":
    main()
