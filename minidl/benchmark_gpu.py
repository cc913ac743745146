"""``minidl bench --device cuda``: training throughput and peak GPU memory of
minidl against PyTorch + cuDNN, in one process on one GPU.

Workloads (float32, random inputs and labels, SGD with momentum 0.9):

- ResNet-20, batch 128, 3x32x32, 10 classes (shortcut option A, 269,722 parameters);
- ResNet-50, batch 32, 3x224x224, 1000 classes (torchvision's layout, 25,557,032).

The PyTorch networks are built here layer for layer like minidl's; their
parameter counts are printed side by side. A step is zero_grad, forward,
cross-entropy, backward and the optimizer step, in that order for both. After
warm-up steps, rounds of minidl steps and PyTorch steps alternate (so a busy or
throttling GPU slows both alike); every step is timed between device
synchronisations and the median is reported as images per second.

TF32 is off on both sides: ``torch.backends.cuda.matmul.allow_tf32`` and
``torch.backends.cudnn.allow_tf32`` are False; CuPy's cuBLAS calls use TF32
only when ``CUPY_TF32=1`` (CuPy's default is 0), which this module pins to 0
before CuPy loads; ``NVIDIA_TF32_OVERRIDE=0`` is set too, which cuBLAS and
cuDNN honour. ``torch.backends.cudnn.benchmark`` is on: PyTorch at its fastest.

Peak memory counts live arrays, not cached free blocks: for minidl the CuPy
memory pool's ``used_bytes()``, sampled at every allocation of one extra,
untimed step by a ``cupy.cuda.MemoryHook``; for PyTorch
``torch.cuda.max_memory_allocated()`` over one step after
``reset_peak_memory_stats()``. Both include parameters, gradients, optimizer
state and the batch.

``run(args)`` (``minidl bench --device cuda``) reads these optional attributes
of ``args``, None meaning the default in brackets: ``warmup`` [5] steps,
``steps`` [20] timed steps per framework, ``rounds`` [4] alternations they are
split into, ``models`` [both workloads], ``no_torch`` [False]: time minidl
alone. The batch sizes are the workloads' own; ``--batch-size`` does not apply.
"""

import os
import statistics
import sys
import time

import numpy as np

from minidl.benchmark import torch_model

WORKLOADS = {
    # name: (batch, image shape, classes)
    "resnet20": (128, (3, 32, 32), 10),
    "resnet50": (32, (3, 224, 224), 1000),
}
TARGETS = "targets: minidl throughput >= 0.5x PyTorch's (goal 1.0x), peak memory <= 1.5x"
MIB = 2**20


def _pin_tf32_off():
    """Set the TF32 switches before CuPy, cuBLAS or cuDNN read them."""
    if "cupy" in sys.modules and os.environ.get("CUPY_TF32", "0") != "0":
        raise RuntimeError(
            "bench --device cuda: CuPy was loaded with CUPY_TF32="
            f"{os.environ['CUPY_TF32']}; run without it so both frameworks compute in full float32"
        )
    os.environ["CUPY_TF32"] = "0"
    os.environ["NVIDIA_TF32_OVERRIDE"] = "0"


# ---- PyTorch twins of minidl's networks ----------------------------------------

def _torch_resnet20(torch, num_classes):
    return torch_model("resnet20", num_classes)  # the CPU benchmark's twin, option-A shortcut


def _torch_resnet50(torch, num_classes):
    nn = torch.nn

    class Bottleneck(nn.Module):
        def __init__(self, in_channels, planes, stride):
            super().__init__()
            out_channels = 4 * planes
            self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.conv3 = nn.Conv2d(planes, out_channels, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(out_channels)
            self.downsample = None
            if stride != 1 or in_channels != out_channels:
                self.downsample = nn.Sequential(
                    nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
                )

        def forward(self, x):
            out = torch.relu(self.bn1(self.conv1(x)))
            out = torch.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            return torch.relu(out + (x if self.downsample is None else self.downsample(x)))

    layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    channels = 64
    for index, (planes, count) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3))):
        for block in range(count):
            layers.append(Bottleneck(channels, planes, 2 if index > 0 and block == 0 else 1))
            channels = 4 * planes
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes)]
    return nn.Sequential(*layers)


TORCH_BUILDERS = {"resnet20": _torch_resnet20, "resnet50": _torch_resnet50}


# ---- one framework's training step, timed and measured --------------------------

class _MinidlRunner:
    def __init__(self, md, cp, name, batch, shape, classes):
        self.md, self.cp = md, cp
        md.manual_seed(0)
        self.model = md.models.get(name, num_classes=classes).to("cuda").train()
        self.params = sum(p.size for p in self.model.parameters())
        rng = np.random.default_rng(0)
        self.x = md.tensor(cp.asarray(rng.standard_normal((batch,) + shape, dtype=np.float32)))
        self.y = cp.asarray(rng.integers(0, classes, batch))
        self.optimizer = md.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9)

    def sync(self):
        self.cp.cuda.get_current_stream().synchronize()

    def step(self):
        self.optimizer.zero_grad()
        loss = self.md.functional.cross_entropy(self.model(self.x), self.y)
        loss.backward()
        self.optimizer.step()

    def peak_bytes(self):
        cp = self.cp
        pool = cp.get_default_memory_pool()

        class PeakHook(cp.cuda.MemoryHook):
            name = "minidl_bench_peak"

            def __init__(self):
                super().__init__()
                self.peak = pool.used_bytes()

            def malloc_postprocess(self, **kwargs):
                self.peak = max(self.peak, pool.used_bytes())

        self.sync()
        hook = PeakHook()
        with hook:
            self.step()
            self.sync()
        return hook.peak


class _TorchRunner:
    def __init__(self, torch, name, batch, shape, classes):
        self.torch = torch
        torch.manual_seed(0)
        self.model = TORCH_BUILDERS[name](torch, classes).cuda().train()
        self.params = sum(p.numel() for p in self.model.parameters())
        self.x = torch.randn((batch,) + shape, device="cuda")
        self.y = torch.randint(0, classes, (batch,), device="cuda")
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9)

    def sync(self):
        self.torch.cuda.synchronize()

    def step(self):
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.torch.nn.functional.cross_entropy(self.model(self.x), self.y)
        loss.backward()
        self.optimizer.step()

    def peak_bytes(self):
        self.sync()
        self.torch.cuda.reset_peak_memory_stats()
        self.step()
        self.sync()
        return self.torch.cuda.max_memory_allocated()


def _timed_steps(runner, count):
    times = []
    for _ in range(count):
        runner.sync()
        start = time.perf_counter()
        runner.step()
        runner.sync()
        times.append(time.perf_counter() - start)
    return times


def _compare(runners, warmup, steps, rounds):
    """{framework: (median seconds per step, peak bytes)}, steps interleaved by rounds."""
    for runner in runners.values():
        for _ in range(warmup):
            runner.step()
        runner.sync()
    times = {key: [] for key in runners}
    rounds = min(rounds, steps)
    for index in range(rounds):
        count = steps // rounds + (index < steps % rounds)
        for key, runner in runners.items():
            times[key] += _timed_steps(runner, count)
    return {key: (statistics.median(times[key]), runners[key].peak_bytes()) for key in runners}


def _import_torch():
    """torch with TF32 off, cuDNN autotuned; or (None, reason)."""
    try:
        import torch
    except ImportError as error:
        return None, f"PyTorch is not installed ({error}); install minidl[bench] with a CUDA build of torch"
    if not torch.cuda.is_available():
        return None, f"PyTorch {torch.__version__} sees no CUDA device (a CPU-only build?)"
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    return torch, None


def _option(args, name, default):
    value = getattr(args, name, None)
    return default if value is None else value


def run(args):
    """Benchmark the workloads; print one row each. Returns the exit status."""
    _pin_tf32_off()
    import minidl as md
    from minidl import backend

    try:
        cp = backend.require_cupy("minidl bench --device cuda")
    except RuntimeError as error:
        print(error, file=sys.stderr)
        return 1
    if getattr(args, "no_torch", False):
        torch, torch_missing = None, "--no-torch"
    else:
        torch, torch_missing = _import_torch()
    warmup, steps, rounds = (_option(args, name, default) for name, default in
                             (("warmup", 5), ("steps", 20), ("rounds", 4)))
    names = getattr(args, "models", None) or list(WORKLOADS)

    device = cp.cuda.runtime.getDeviceProperties(cp.cuda.runtime.getDevice())["name"]
    device = device.decode() if isinstance(device, bytes) else device
    print(f"GPU: {device}; CuPy {cp.__version__}"
          + (f"; PyTorch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}" if torch else "")
          + "; TF32 off on both; float32; medians of "
          f"{steps} steps after {warmup} warm-up steps, interleaved in {rounds} rounds")
    if torch is None:
        print(f"no PyTorch comparison: {torch_missing}")
    header = (f"{'workload':<10} {'batch':>5} {'params (md / torch)':>23} {'minidl img/s':>13} "
              f"{'torch img/s':>12} {'ratio':>6} {'minidl MiB':>11} {'torch MiB':>10} {'ratio':>6}")
    print(header)
    status = 0
    for name in names:
        if name not in WORKLOADS:
            print(f"{name:<10} unknown workload; known: {', '.join(WORKLOADS)}")
            status = 1
            continue
        if name not in md.models.list_models():
            print(f"{name:<10} missing: minidl.models has no {name!r} registered")
            status = 1
            continue
        batch, shape, classes = WORKLOADS[name]
        runners = {"minidl": _MinidlRunner(md, cp, name, batch, shape, classes)}
        if torch is not None:
            runners["torch"] = _TorchRunner(torch, name, batch, shape, classes)
        results = _compare(runners, warmup, steps, rounds)
        md_time, md_peak = results["minidl"]
        params = f"{runners['minidl'].params:,}"
        row = f"{name:<10} {batch:>5} "
        if torch is None:
            print(row + f"{params:>23} {batch / md_time:>13.1f} {'-':>12} {'-':>6} "
                  f"{md_peak / MIB:>11.1f} {'-':>10} {'-':>6}", flush=True)
        else:
            torch_time, torch_peak = results["torch"]
            params += f" / {runners['torch'].params:,}"
            print(row + f"{params:>23} {batch / md_time:>13.1f} {batch / torch_time:>12.1f} "
                  f"{torch_time / md_time:>6.2f} {md_peak / MIB:>11.1f} {torch_peak / MIB:>10.1f} "
                  f"{md_peak / torch_peak:>6.2f}", flush=True)
        del runners
        cp.get_default_memory_pool().free_all_blocks()
        if torch is not None:
            torch.cuda.empty_cache()
    print(TARGETS)
    return status
