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

    torch.manual_seed(0)
    net = torch_resnet20() if model_name == "resnet20" else torch_resnet50()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    x, y = torch.from_numpy(images), torch.from_numpy(labels)

    def step():
        loss = torch.nn.functional.cross_entropy(net(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def torch_resnet20(num_classes=10):
    """minidl's resnet20 (option A shortcuts) in PyTorch."""
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, c_in, c_out, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(c_out)
            self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(c_out)
            self.stride, self.extra = stride, c_out - c_in

        def forward(self, x):
            out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
            shortcut = x[:, :, ::self.stride, ::self.stride]
            if self.extra:
                before = self.extra // 2
                shortcut = nn.functional.pad(shortcut, (0, 0, 0, 0, before, self.extra - before))
            return torch.relu(out + shortcut)

    layers = [nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
    c_in = 16
    for stage, width in enumerate((16, 32, 64)):
        for index in range(3):
            layers.append(Block(c_in, width, 2 if stage and index == 0 else 1))
            c_in = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes))


def torch_resnet50(num_classes=10):
    """ResNet-50 (He et al. 2016; torchvision's layout, stride on the 3x3) in PyTorch."""
    import torch
    from torch import nn

    class Bottleneck(nn.Module):
        def __init__(self, c_in, planes, stride):
            super().__init__()
            c_out = planes * 4
            self.body = nn.Sequential(
                nn.Conv2d(c_in, planes, 1, bias=False), nn.BatchNorm2d(planes), nn.ReLU(),
                nn.Conv2d(planes, planes, 3, stride, 1, bias=False), nn.BatchNorm2d(planes), nn.ReLU(),
                nn.Conv2d(planes, c_out, 1, bias=False), nn.BatchNorm2d(c_out))
            self.shortcut = nn.Identity() if stride == 1 and c_in == c_out else nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

        def forward(self, x):
            return torch.relu(self.body(x) + self.shortcut(x))

    layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    c_in = 64
    for stage, (planes, count) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3))):
        for index in range(count):
            layers.append(Bottleneck(c_in, planes, 2 if stage and index == 0 else 1))
            c_in = planes * 4
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, num_classes))


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
