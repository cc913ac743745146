"""One framework's training step, timed in this process: what each ``minidl bench`` worker runs.

A step is what training does: zero the gradients, forward, softmax cross-entropy,
backward, and an SGD step (lr 0.01, momentum 0.9), on one batch of random float32
images and labels (the same numbers for both frameworks, from a seeded generator).
``measure`` builds the network, runs ``warmup`` untimed steps (Numba loads its
kernels, BLAS and the allocators settle, cuDNN picks its algorithms), then times
``steps`` steps one by one, each between two device synchronisations.

The command starts one process per measurement, which runs ``main`` on the job
as JSON (``{"framework": "minidl", "model": "lenet5", ...}``), and reads back
the one JSON line it prints last: the seconds of each timed step, the parameter
count, on a GPU the peak bytes of live arrays during one more step, and the
thread pools loaded in that process (``threadpoolctl.threadpool_info()``: which
BLAS, which of its kernels, how many threads).

>>> job = Job("minidl", "lenet5", batch_size=2, steps=1, warmup=0)
>>> result = measure(job)
>>> len(result["seconds"]), result["params"]
(1, 1256080)
"""

import json
import time
from dataclasses import asdict, dataclass

import numpy as np

LEARNING_RATE = 0.01
MOMENTUM = 0.9
FRAMEWORKS = ("minidl", "torch")

# model: (the shape of one image, classes, default batch size)
WORKLOADS = {
    "lenet5": ((1, 28, 28), 10, 128),
    "resnet20": ((3, 32, 32), 10, 128),
    "resnet50": ((3, 224, 224), 1000, 32),
    "cifar_alexnet_lrn": ((3, 32, 32), 10, 128),
}


class Unavailable(Exception):
    """The framework cannot run here (PyTorch absent, or without CUDA): a reason, not a crash."""


@dataclass(frozen=True)
class Job:
    """What one worker measures."""

    framework: str
    model: str
    batch_size: int
    steps: int
    warmup: int
    device: str = "cpu"
    threads: int = None


def batch(model, batch_size, seed=0):
    """Random float32 images of the model's input shape and labels below its class count."""
    shape, classes, _ = WORKLOADS[model]
    rng = np.random.default_rng(seed)
    images = rng.standard_normal((batch_size,) + shape).astype(np.float32)
    return images, rng.integers(0, classes, batch_size)


class _Minidl:
    def __init__(self, job):
        import minidl as md
        from minidl import backend, threads

        if job.threads is not None:
            threads.set_num_threads(job.threads)
        self.md = md
        self.cp = backend.require_cupy("minidl bench --device cuda") if job.device == "cuda" else None
        from minidl.commands.bench.twins import minidl_model

        md.manual_seed(0)
        self.model = minidl_model(job.model, WORKLOADS[job.model][1]).to(job.device).train()
        self.params = sum(p.size for p in self.model.parameters())
        images, labels = batch(job.model, job.batch_size)
        self.x = md.tensor(images, device=job.device)
        self.y = labels if self.cp is None else self.cp.asarray(labels)
        self.optimizer = md.optim.SGD(self.model.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)

    def sync(self):
        if self.cp is not None:
            self.cp.cuda.get_current_stream().synchronize()

    def step(self):
        self.optimizer.zero_grad()
        loss = self.md.functional.cross_entropy(self.model(self.x), self.y)
        loss.backward()
        self.optimizer.step()

    def peak_bytes(self):
        """Peak bytes of live arrays in CuPy's pool over one step (cached free blocks not counted)."""
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


class _Torch:
    def __init__(self, job):
        try:
            import torch
        except ImportError as error:
            raise Unavailable(f"PyTorch is not installed ({error}); pip install -e '.[bench]'") from None
        if job.device == "cuda":
            if not torch.cuda.is_available():
                raise Unavailable(f"PyTorch {torch.__version__} sees no CUDA device (a CPU-only build?)")
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cudnn.benchmark = True  # PyTorch at its fastest
        if job.threads is not None:
            torch.set_num_threads(job.threads)
        from minidl.commands.bench.twins import torch_model

        self.torch = torch
        torch.manual_seed(0)
        self.model = torch_model(job.model, WORKLOADS[job.model][1]).to(job.device).train()
        self.params = sum(p.numel() for p in self.model.parameters())
        images, labels = batch(job.model, job.batch_size)
        self.x = torch.from_numpy(images).to(job.device)
        self.y = torch.from_numpy(labels).to(job.device)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)
        self.cuda = job.device == "cuda"

    def sync(self):
        if self.cuda:
            self.torch.cuda.synchronize()

    def step(self):
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.torch.nn.functional.cross_entropy(self.model(self.x), self.y)
        loss.backward()
        self.optimizer.step()

    def peak_bytes(self):
        """``torch.cuda.max_memory_allocated()`` over one step: live tensors, not the cache."""
        self.sync()
        self.torch.cuda.reset_peak_memory_stats()
        self.step()
        self.sync()
        return self.torch.cuda.max_memory_allocated()


def measure(job):
    """Time ``job`` here: {"seconds": [per step], "params", "peak_bytes" (GPU, else None),
    "libraries": the thread pools loaded}. Raises Unavailable when the framework cannot run."""
    from threadpoolctl import threadpool_info

    runner = (_Minidl if job.framework == "minidl" else _Torch)(job)
    for _ in range(job.warmup):
        runner.step()
    seconds = []
    for _ in range(job.steps):
        runner.sync()
        start = time.perf_counter()
        runner.step()
        runner.sync()
        seconds.append(time.perf_counter() - start)
    return {
        "seconds": seconds,
        "params": int(runner.params),
        "peak_bytes": int(runner.peak_bytes()) if job.device == "cuda" else None,
        "libraries": [_library(pool) for pool in threadpool_info()],
    }


def _library(pool):
    """The fields of one threadpoolctl entry that say what ran: API, library, version, kernel, threads."""
    keys = ("user_api", "internal_api", "prefix", "version", "architecture", "num_threads")
    return {key: pool[key] for key in keys if pool.get(key) is not None}


def main(argv):
    """Measure the job given as JSON in argv[0]; print the result as one JSON line."""
    job = Job(**json.loads(argv[0]))
    try:
        result = measure(job)
    except Unavailable as reason:
        result = {"unavailable": str(reason)}
    print(json.dumps({"job": asdict(job), **result}), flush=True)
    return 0
