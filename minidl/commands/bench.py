"""``minidl bench``: training throughput (images/s) beside PyTorch on this machine.

    minidl bench                                  # lenet5 and resnet20, batch 128, on the CPU
    minidl bench --models resnet20 --steps 30 --threads 2
    minidl bench --device cuda                    # the GPU benchmark (minidl.benchmark_gpu)

The measuring code is in ``minidl.benchmark``; see its docstring for what a
step is and how the two frameworks are timed.
"""

import importlib

STEPS, WARMUP = 20, 3


def add_arguments(parser):
    from minidl.benchmark import MODELS

    # Defaults left as None are filled by the device's own benchmark.
    parser.add_argument("--models", nargs="+", default=None, metavar="MODEL",
                        help=f"models to time (CPU default: {' '.join(MODELS)})")
    parser.add_argument("--batch-size", type=int, default=128, help="images per step (default 128)")
    parser.add_argument("--steps", type=int, default=None,
                        help=f"timed steps per framework; the median is reported (CPU default {STEPS})")
    parser.add_argument("--warmup", type=int, default=None,
                        help=f"untimed steps first (CPU default {WARMUP})")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for minidl and PyTorch (default: one per core)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--no-torch", action="store_true", help="time minidl alone")


def run(args):
    for name, least in (("batch_size", 1), ("steps", 1), ("warmup", 0)):
        value = getattr(args, name)
        if value is not None and value < least:
            raise SystemExit(f"minidl bench: --{name.replace('_', '-')} must be >= {least}, got {value}")
    if args.threads is not None and args.threads < 1:
        raise SystemExit("minidl bench: --threads must be >= 1")
    if args.device == "cuda":
        return _gpu_module().run(args)

    from minidl import benchmark

    models = args.models or list(benchmark.MODELS)
    steps = STEPS if args.steps is None else args.steps
    warmup = WARMUP if args.warmup is None else args.warmup
    unknown = [m for m in models if m not in benchmark.MODELS]
    if unknown:
        raise SystemExit(f"minidl bench: unknown model(s) {', '.join(unknown)}; "
                         f"choose from {', '.join(benchmark.MODELS)}")
    if args.threads is not None:
        print(f"threads: {args.threads} ({', '.join(benchmark.set_threads(args.threads))})")
    with_torch = not args.no_torch
    if with_torch and not benchmark.torch_available():
        print("PyTorch is not installed (pip install minidl[bench]): timing minidl alone")
    turns = ", in turns with PyTorch" if with_torch and benchmark.torch_available() else ""
    print(f"training steps on the CPU: median of {steps} after {warmup} warm-up{turns}")
    benchmark.run(models, args.batch_size, steps, warmup, with_torch,
                  report=lambda result: print(benchmark.format_result(result), flush=True))
    return 0


def _gpu_module():
    try:
        return importlib.import_module("minidl.benchmark_gpu")
    except ModuleNotFoundError as error:
        if error.name != "minidl.benchmark_gpu":
            raise
        raise SystemExit("minidl bench --device cuda: the GPU benchmark (minidl.benchmark_gpu) "
                         "is not part of this installation") from None
