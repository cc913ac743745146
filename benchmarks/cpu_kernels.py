"""The CPU kernels of pooling, batch norm, LRN, dropout and cross-entropy on
realistic shapes: the NumPy reference, the Numba kernel and PyTorch's op, in
interleaved rounds in one process, as median milliseconds per call.

Shapes: LeNet-5's first pooling (128, 20, 28, 28), ResNet-20's batch norms
(128, 16, 32, 32), (128, 32, 16, 16), (128, 64, 8, 8), AlexNet's first LRN
(8, 96, 55, 55), dropout masks of fully connected layers, a (128, 10) loss.

    python benchmarks/cpu_kernels.py [--reps 20] [--rounds 3] [--cpu-time]

``--cpu-time`` measures the process's CPU time instead of the wall clock: on a
machine shared with other jobs it still says how much work each kernel does
(run it with NUMBA_NUM_THREADS=1, it then sets PyTorch to one thread too).
"""

import argparse
import os
import time

import numpy as np
import torch
import torch.nn.functional as TF

from minidl.kernels import cpu, reference


def cases(rng):
    """name -> {implementation: a call with no arguments}."""
    def f32(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    table = pool_cases(f32)
    for shape in [(128, 16, 32, 32), (128, 32, 16, 16), (128, 64, 8, 8)]:
        table.update(batch_norm_cases(shape, f32))
    table.update(lrn_cases(f32))
    table.update(dropout_cases())
    table.update(loss_cases(f32, rng))
    return table


def pool_cases(f32):
    table = {}
    x = f32(128, 20, 28, 28)
    window = ((2, 2), (2, 2), (0, 0))
    _, argmax = cpu.max_pool2d_forward(x, *window, (14, 14))
    gy = f32(128, 20, 14, 14)
    tx, tgy = torch.from_numpy(x), torch.from_numpy(gy)
    _, indices = TF.max_pool2d(tx, 2, return_indices=True)
    table["max_pool2d forward (128,20,28,28) 2x2"] = dict(
        reference=lambda: reference.max_pool2d_forward(x, *window, (14, 14)),
        numba=lambda: cpu.max_pool2d_forward(x, *window, (14, 14)),
        torch=lambda: TF.max_pool2d(tx, 2, return_indices=True))
    table["max_pool2d backward"] = dict(
        reference=lambda: reference.max_pool2d_backward(gy, argmax, x.shape, *window),
        numba=lambda: cpu.max_pool2d_backward(gy, argmax, x.shape, *window),
        torch=lambda: torch.ops.aten.max_pool2d_with_indices_backward(
            tgy, tx, [2, 2], [2, 2], [0, 0], [1, 1], False, indices))
    table["avg_pool2d forward (128,20,28,28) 2x2"] = dict(
        reference=lambda: reference.avg_pool2d_forward(x, *window, (14, 14)),
        numba=lambda: cpu.avg_pool2d_forward(x, *window, (14, 14)),
        torch=lambda: TF.avg_pool2d(tx, 2))
    table["avg_pool2d backward"] = dict(
        reference=lambda: reference.avg_pool2d_backward(gy, x.shape, *window),
        numba=lambda: cpu.avg_pool2d_backward(gy, x.shape, *window),
        torch=lambda: torch.ops.aten.avg_pool2d_backward(tgy, tx, [2, 2], [2, 2], [0, 0], False, True, None))
    return table


def lrn_cases(f32):
    table = {}
    x, gy = f32(8, 96, 55, 55), f32(8, 96, 55, 55)
    tx, tgy = torch.from_numpy(x).requires_grad_(), torch.from_numpy(gy)
    lrn = (5, 1e-4, 0.75, 2.0)

    def torch_lrn():
        with torch.no_grad():
            return TF.local_response_norm(tx, 5, alpha=5e-4, beta=0.75, k=2.0)

    def torch_lrn_both():
        return torch.autograd.grad(TF.local_response_norm(tx, 5, alpha=5e-4, beta=0.75, k=2.0), tx, tgy)

    def both(kernels):
        y, scale = kernels.lrn_forward(x, *lrn)
        return kernels.lrn_backward(x, y, scale, gy, *lrn[:3])

    table["lrn forward (8,96,55,55) size 5"] = dict(
        reference=lambda: reference.lrn_forward(x, *lrn), numba=lambda: cpu.lrn_forward(x, *lrn), torch=torch_lrn)
    table["lrn forward + backward"] = dict(
        reference=lambda: both(reference), numba=lambda: both(cpu), torch=torch_lrn_both)
    return table


def dropout_cases():
    table = {}
    for shape in [(128, 500), (128, 4096)]:
        table[f"dropout mask {shape} p=0.5"] = dict(
            reference=lambda shape=shape: reference.dropout_mask(shape, 0.5, 123, np.float32),
            numba=lambda shape=shape: cpu.dropout_mask(shape, 0.5, 123, np.float32),
            torch=lambda shape=shape: TF.dropout(torch.ones(shape), 0.5, training=True))
    return table


def loss_cases(f32, rng):
    logits, labels = f32(128, 10), rng.integers(0, 10, 128)
    tlogits = torch.from_numpy(logits).requires_grad_()
    tlabels = torch.from_numpy(labels)

    def loss(kernels):
        _, log_prob = kernels.softmax_cross_entropy_forward(logits, labels)
        return kernels.softmax_cross_entropy_backward(log_prob, labels, np.full(128, 1 / 128, np.float32))

    # minidl.kernels.cpu serves cross-entropy with the NumPy reference: both columns are it.
    return {"cross_entropy forward + backward (128,10)": dict(
        reference=lambda: loss(reference), numba=lambda: loss(cpu),
        torch=lambda: torch.autograd.grad(TF.cross_entropy(tlogits, tlabels), tlogits))}


def batch_norm_cases(shape, f32):
    n, c = shape[:2]
    x, gy, gamma, beta = f32(*shape), f32(*shape), f32(c), f32(c)
    x3, gy3 = x.reshape(n, c, -1), gy.reshape(n, c, -1)
    tx = torch.from_numpy(x).requires_grad_()
    tgamma, tbeta = torch.from_numpy(gamma).requires_grad_(), torch.from_numpy(beta).requires_grad_()
    running = (torch.zeros(c), torch.ones(c))
    tgy = torch.from_numpy(gy)

    def torch_forward():
        with torch.no_grad():
            return TF.batch_norm(tx, *running, tgamma, tbeta, training=True)

    def torch_both():
        y = TF.batch_norm(tx, *running, tgamma, tbeta, training=True)
        return torch.autograd.grad(y, (tx, tgamma, tbeta), tgy)

    def both(kernels):
        _, mean, var = kernels.batch_norm_forward_train(x3, gamma, beta, 1e-5)
        return kernels.batch_norm_backward(gy3, x3, gamma, mean, var, 1e-5)

    return {
        f"batch_norm forward {shape}": dict(
            reference=lambda: reference.batch_norm_forward_train(x3, gamma, beta, 1e-5),
            numba=lambda: cpu.batch_norm_forward_train(x3, gamma, beta, 1e-5), torch=torch_forward),
        f"batch_norm forward + backward {shape}": dict(
            reference=lambda: both(reference), numba=lambda: both(cpu), torch=torch_both),
    }


def median_ms(call, reps, clock):
    call()
    times = []
    for _ in range(reps):
        start = clock()
        call()
        times.append(clock() - start)
    return 1e3 * float(np.median(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=20, help="calls per round (the reference gets a quarter)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cpu-time", action="store_true", help="process CPU time instead of wall time")
    args = parser.parse_args()
    clock = time.process_time if args.cpu_time else time.perf_counter
    threads = int(os.environ.get("NUMBA_NUM_THREADS", os.cpu_count()))
    torch.set_num_threads(threads)
    table = cases(np.random.default_rng(0))
    samples = {name: {impl: [] for impl in calls} for name, calls in table.items()}
    for _ in range(args.rounds):
        for name, calls in table.items():
            for impl, call in calls.items():
                reps = max(3, args.reps // 4) if impl == "reference" else args.reps
                samples[name][impl].append(median_ms(call, reps, clock))
    unit = "CPU ms" if args.cpu_time else "ms"
    print(f"{threads} thread(s), median {unit} per call")
    print(f"{'':48s} {'reference':>10s} {'numba':>10s} {'torch':>10s} {'torch/numba':>12s}")
    for name, results in samples.items():
        m = {impl: float(np.median(values)) for impl, values in results.items()}
        print(f"{name:48s} {m['reference']:10.3f} {m['numba']:10.3f} {m['torch']:10.3f} "
              f"{m['torch'] / m['numba']:12.2f}")


if __name__ == "__main__":
    main()
