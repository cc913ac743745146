"""Peak memory (RSS) of training steps, minidl or PyTorch, one framework per process.

Builds the model and one random batch, notes the peak resident set so far
(``ru_maxrss``: imports, weights, the batch), runs ``--steps`` training steps
(forward, cross-entropy, backward, SGD with momentum) and prints the peak
again: the difference is what the steps added. Run each framework in its own
process, so neither inherits the other's allocations or malloc settings:

    python benchmarks/peak_memory.py minidl resnet20 --batch-size 128
    python benchmarks/peak_memory.py torch resnet20 --batch-size 128
    python benchmarks/peak_memory.py minidl resnet50 --batch-size 16 --size 224
"""

import argparse
import resource
import time

import numpy as np

MODELS = ("resnet20", "resnet50")


def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def minidl_step(model_name, images, labels):
    import minidl as md

    md.manual_seed(0)
    model = md.models.get(model_name, num_classes=10)
    optimizer = md.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = md.tensor(images), md.tensor(labels)

    def step():
        loss = md.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def torch_step(model_name, images, labels):
    import torch

    from minidl.commands.bench.twins import torch_model

    torch.manual_seed(0)
    net = torch_model(model_name)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    x, y = torch.from_numpy(images), torch.from_numpy(labels)

    def step():
        loss = torch.nn.functional.cross_entropy(net(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("framework", choices=("minidl", "torch"))
    parser.add_argument("model", choices=MODELS)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--size", type=int, default=None, help="image side (default 32; 224 for resnet50)")
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    size = args.size or (224 if args.model == "resnet50" else 32)
    rng = np.random.default_rng(0)
    images = rng.standard_normal((args.batch_size, 3, size, size)).astype(np.float32)
    labels = rng.integers(0, 10, args.batch_size)
    build = minidl_step if args.framework == "minidl" else torch_step
    step = build(args.model, images, labels)
    before = peak_mib()
    started = time.perf_counter()
    for _ in range(args.steps):
        step()
    seconds = (time.perf_counter() - started) / args.steps
    after = peak_mib()
    print(f"{args.framework} {args.model} b{args.batch_size} {size}x{size}: peak RSS {after:.0f} MiB "
          f"(before the steps {before:.0f} MiB, steps added {after - before:.0f} MiB); {seconds:.2f} s/step")


if __name__ == "__main__":
    main()
