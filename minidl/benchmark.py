"""Training throughput of minidl beside PyTorch, on this machine, in one process.

One step is what training does: forward, softmax cross-entropy, backward and
an SGD step with momentum 0.9, on a batch of random images. When PyTorch is
importable the same network is built in PyTorch (same layers; ResNet-20 with
the parameter-free option-A shortcut) and the two are timed in turns, one
minidl step then one PyTorch step, so a change in the machine's load hits both
alike. The report gives the median images per second of each, after warm-up
steps that are not timed (Numba compiles, BLAS and allocators settle), and
their ratio (above 1: minidl is faster).

>>> results = run(["lenet5"], batch_size=2, steps=1, warmup=0, with_torch=False)
>>> results[0].model, results[0].torch_ips is None
('lenet5', True)
"""

import importlib.util
import statistics
import time
from dataclasses import dataclass

import numpy as np

# model name -> the input shape of one image
MODELS = {"lenet5": (1, 28, 28), "resnet20": (3, 32, 32)}
NUM_CLASSES = 10
LEARNING_RATE = 0.01
MOMENTUM = 0.9


@dataclass
class Result:
    """Median images/s of minidl and PyTorch (None without PyTorch) for one model."""

    model: str
    batch_size: int
    steps: int
    minidl_ips: float
    torch_ips: float = None

    @property
    def ratio(self):
        return None if self.torch_ips is None else self.minidl_ips / self.torch_ips


def torch_available():
    return importlib.util.find_spec("torch") is not None


def batch(model, batch_size, seed=0):
    """Random float32 images of the model's input shape and labels in [0, 10)."""
    rng = np.random.default_rng(seed)
    images = rng.standard_normal((batch_size,) + MODELS[model]).astype(np.float32)
    return images, rng.integers(0, NUM_CLASSES, batch_size)


def minidl_step(model, images, labels, device="cpu"):
    """A function that runs one training step of minidl's ``model`` on the batch."""
    import minidl as md

    md.manual_seed(0)
    net = md.models.get(model, num_classes=NUM_CLASSES).to(device)
    net.train()
    optimizer = md.optim.SGD(net.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)
    x = md.tensor(images, device=device)
    y = md.tensor(labels, device=device, dtype=np.int64) if device != "cpu" else labels

    def step():
        optimizer.zero_grad()
        loss = md.functional.cross_entropy(net(x), y)
        loss.backward()
        optimizer.step()

    return step


def torch_step(model, images, labels, device="cpu"):
    """The same step in PyTorch (the caller checks that torch is importable)."""
    import torch

    torch.manual_seed(0)
    net = torch_model(model).to(device)
    net.train()
    optimizer = torch.optim.SGD(net.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)
    x = torch.from_numpy(images).to(device)
    y = torch.from_numpy(labels).to(device)
    synchronize = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def step():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        optimizer.step()
        synchronize()

    return step


def torch_model(model, num_classes=NUM_CLASSES):
    """minidl's ``model`` written in PyTorch, layer for layer (the GPU benchmark uses it too)."""
    from torch import nn

    if model == "lenet5":
        return nn.Sequential(
            nn.Conv2d(1, 20, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(20, 50, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(50 * 7 * 7, 500), nn.ReLU(), nn.Linear(500, num_classes),
        )
    return _torch_resnet20(num_classes)


def _torch_resnet20(num_classes):
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
            out = torch.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            shortcut = x[:, :, ::self.stride, ::self.stride]
            if self.extra:  # option A: zero channels, half before and half after
                before = self.extra // 2
                shortcut = nn.functional.pad(shortcut, (0, 0, 0, 0, before, self.extra - before))
            return torch.relu(out + shortcut)

    layers = [nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
    c_in = 16
    for stage, width in enumerate((16, 32, 64)):
        for index in range(3):
            layers.append(Block(c_in, width, 2 if stage and index == 0 else 1))
            c_in = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes)]
    return nn.Sequential(*layers)


def time_in_turns(steps_by_name, steps, warmup):
    """Seconds per step of each function, called in turns: {name: [seconds, ...]}."""
    for _ in range(warmup):
        for step in steps_by_name.values():
            step()
    seconds = {name: [] for name in steps_by_name}
    for _ in range(steps):
        for name, step in steps_by_name.items():
            start = time.perf_counter()
            step()
            seconds[name].append(time.perf_counter() - start)
    return seconds


def run(models, batch_size=128, steps=20, warmup=3, with_torch=True, report=None):
    """Time each model; ``report`` (a callable) gets each Result as soon as it is measured."""
    results = []
    with_torch = with_torch and torch_available()
    for model in models:
        if model not in MODELS:
            raise ValueError(f"bench: unknown model {model!r}; choose from {', '.join(MODELS)}")
        images, labels = batch(model, batch_size)
        steps_by_name = {"minidl": minidl_step(model, images, labels)}
        if with_torch:
            steps_by_name["torch"] = torch_step(model, images, labels)
        seconds = time_in_turns(steps_by_name, steps, warmup)
        ips = {name: batch_size / statistics.median(s) for name, s in seconds.items()}
        result = Result(model, batch_size, steps, ips["minidl"], ips.get("torch"))
        results.append(result)
        if report is not None:
            report(result)
    return results


def format_result(result):
    line = f"{result.model:<10} batch {result.batch_size:<4} minidl {result.minidl_ips:8.1f} img/s"
    if result.torch_ips is not None:
        line += f"   pytorch {result.torch_ips:8.1f} img/s   ratio {result.ratio:5.2f}x"
    return line


def set_threads(count):
    """Use ``count`` threads in minidl (``minidl.threads``, which also keeps BLAS and
    Numba's kernels to one thread each) and in PyTorch. Returns the names of what was set."""
    from minidl import threads

    threads.set_num_threads(count)
    done = ["minidl"]
    if torch_available():
        import torch

        torch.set_num_threads(count)
        done.append("torch")
    return done
