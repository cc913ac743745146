"""``minidl bench``: training steps of minidl beside PyTorch on this machine, measured fairly.

    minidl bench                                  # lenet5 and resnet20, batch 128, on the CPU
    minidl bench --models resnet20 --steps 30 --rounds 5 --threads 2
    minidl bench --device cuda                    # resnet20 and resnet50 on the GPU, with peak memory

Each measurement runs in a process of its own (``minidl.commands.bench.step``):
sharing one process falsifies the comparison both ways, since PyTorch's OpenMP
threads keep spinning after its ops and take the cores from minidl's, and
minidl's malloc settings (``minidl.malloc``) spare PyTorch its page faults.
The processes alternate, minidl then PyTorch, for ``--rounds`` rounds, so a
change in the machine's load reaches both. Each round gives a ratio, PyTorch's
median step time over minidl's (above 1: minidl is faster); the report gives
the median ratio with the spread of the rounds (min, median, max) and warns
when the rounds disagree by more than ``NOISY_SPREAD``: then the machine was
too noisy for the figure to be trusted. It names the BLAS and the kernel each
framework ran (threadpoolctl), since a different BLAS kernel alone moves the
figure. On the GPU the workers run with TF32 off (``CUPY_TF32=0``,
``NVIDIA_TF32_OVERRIDE=0``, and PyTorch's switches), and the report adds the
peak memory of live arrays of one step.

``Options`` is the one options API: the command line fills it (``Options.from_args``),
and ``run(options)`` measures with it.
"""

import functools
import json
import os
import statistics
import subprocess
import sys
from dataclasses import asdict, dataclass, field

from minidl.commands.bench.step import FRAMEWORKS, WORKLOADS, Job

DEFAULT_MODELS = {"cpu": ("lenet5", "resnet20"), "cuda": ("resnet20", "resnet50")}
# Round ratios whose max / min exceeds this disagree too much to be one machine's figure.
NOISY_SPREAD = 1.15
GPU_TARGETS = "targets: minidl throughput >= 0.5x PyTorch's (goal 1.0x), peak memory <= 1.5x"
MIB = 2**20
WORKER = "import sys; from minidl.commands.bench.step import main; sys.exit(main(sys.argv[1:]))"


@dataclass(frozen=True)
class Options:
    """What to measure. ``models`` empty: the device's defaults; ``batch_size`` None: each model's own."""

    models: tuple = ()
    device: str = "cpu"
    batch_size: int = None
    steps: int = 20
    warmup: int = 3
    rounds: int = 3
    threads: int = None
    torch: bool = True

    def __post_init__(self):
        for name, least in (("batch_size", 1), ("steps", 1), ("warmup", 0), ("rounds", 1), ("threads", 1)):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < least):
                raise ValueError(f"minidl bench: --{name.replace('_', '-')} must be an integer >= {least}, "
                                 f"got {value!r}")
        if self.device not in DEFAULT_MODELS:
            raise ValueError(f"minidl bench: --device must be one of {', '.join(DEFAULT_MODELS)}, "
                             f"got {self.device!r}")
        unknown = [m for m in self.models if m not in WORKLOADS]
        if unknown:
            raise ValueError(f"minidl bench: unknown model(s) {', '.join(unknown)}; "
                             f"choose from {', '.join(WORKLOADS)}")

    @classmethod
    def from_args(cls, args):
        return cls(models=tuple(args.models or ()), device=args.device, batch_size=args.batch_size,
                   steps=args.steps, warmup=args.warmup, rounds=args.rounds, threads=args.threads,
                   torch=not args.no_torch)

    def chosen_models(self):
        return self.models or DEFAULT_MODELS[self.device]

    def job(self, framework, model):
        batch_size = self.batch_size or WORKLOADS[model][2]
        return Job(framework, model, batch_size, self.steps, self.warmup, self.device, self.threads)


def add_arguments(parser):
    defaults = Options()
    parser.add_argument("--models", nargs="+", default=None, metavar="MODEL",
                        help="models to time (default: " + "; ".join(
                            f"{device}: {' '.join(names)}" for device, names in DEFAULT_MODELS.items()) + ")")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="images per step (default: " + ", ".join(
                            f"{name} {batch}" for name, (_, _, batch) in WORKLOADS.items()) + ")")
    parser.add_argument("--steps", type=int, default=defaults.steps,
                        help=f"timed steps per process; each round reports their median (default {defaults.steps})")
    parser.add_argument("--warmup", type=int, default=defaults.warmup,
                        help=f"untimed steps first, in every process (default {defaults.warmup})")
    parser.add_argument("--rounds", type=int, default=defaults.rounds,
                        help=f"alternations minidl, PyTorch: the spread comes from them (default {defaults.rounds})")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for minidl and PyTorch (default: one per core)")
    parser.add_argument("--device", choices=tuple(DEFAULT_MODELS), default=defaults.device)
    parser.add_argument("--no-torch", action="store_true", help="time minidl alone")


def run(args):
    try:
        options = Options.from_args(args)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    return measure_and_report(options)


# ---- measuring: one process per framework and round ---------------------------------

def run_worker(job):
    """Measure ``job`` in a fresh Python process; its result dict (see ``step.measure``)."""
    env = dict(os.environ)
    if job.device == "cuda":  # read by CuPy, cuBLAS and cuDNN when they load: full float32
        env.update(CUPY_TF32="0", NVIDIA_TF32_OVERRIDE="0")
    command = [sys.executable, "-c", WORKER, json.dumps(asdict(job))]
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise SystemExit(f"minidl bench: the {job.framework} worker for {job.model} failed "
                         f"(exit status {done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(lines[-1])


@dataclass
class Comparison:
    """The rounds of one model: per framework, each round's median seconds per step."""

    model: str
    batch_size: int
    medians: dict  # framework -> [median seconds, one per round]
    results: dict  # framework -> the first round's worker result (params, peak, libraries)
    unavailable: dict = field(default_factory=dict)  # framework -> why it could not run

    def images_per_second(self, framework):
        return self.batch_size / statistics.median(self.medians[framework])

    def ratios(self):
        """PyTorch's median step time over minidl's, per round (above 1: minidl is faster)."""
        if "torch" not in self.medians:
            return []
        return [theirs / ours for ours, theirs in zip(self.medians["minidl"], self.medians["torch"])]

    def spread(self):
        """(min, median, max) of the round ratios; of minidl's img/s when there is no PyTorch."""
        values = self.ratios() or [self.batch_size / m for m in self.medians["minidl"]]
        return min(values), statistics.median(values), max(values)

    def noisy(self):
        low, _, high = self.spread()
        return len(self.medians["minidl"]) > 1 and high > NOISY_SPREAD * low


def compare(options, model, frameworks, worker=run_worker):
    """Alternate the frameworks' processes for ``options.rounds`` rounds on ``model``.
    A framework that cannot run here drops out, its reason kept in ``unavailable``."""
    frameworks = list(frameworks)
    medians, results, unavailable = {name: [] for name in frameworks}, {}, {}
    for _ in range(options.rounds):
        for name in list(frameworks):
            result = worker(options.job(name, model))
            if "unavailable" in result:
                unavailable[name] = result["unavailable"]
                frameworks.remove(name)
                del medians[name]
                continue
            medians[name].append(statistics.median(result["seconds"]))
            results.setdefault(name, result)
    return Comparison(model, options.job("minidl", model).batch_size, medians, results, unavailable)


# ---- reporting --------------------------------------------------------------------

def describe_libraries(libraries):
    """threadpoolctl's entries in one line: 'blas: openblas 0.3.30 (kernel Haswell, 1 thread); ...'."""
    parts = []
    for pool in libraries:
        name = " ".join(str(pool[key]) for key in ("internal_api", "version") if key in pool)
        details = [f"kernel {pool['architecture']}"] if "architecture" in pool else []
        if "prefix" in pool and pool["prefix"] != pool.get("internal_api"):
            details.append(pool["prefix"])
        threads = pool.get("num_threads", "?")
        details.append(f"{threads} thread" + ("" if threads == 1 else "s"))
        parts.append(f"{pool['user_api']}: {name} ({', '.join(details)})")
    return "; ".join(parts) or "none loaded"


def format_comparison(comparison, device):
    c = comparison
    line = f"{c.model:<9} batch {c.batch_size:<4} minidl {c.images_per_second('minidl'):9,.1f} img/s"
    low, middle, high = c.spread()
    if c.ratios():
        line += (f"   pytorch {c.images_per_second('torch'):9,.1f} img/s   ratio {middle:5.2f}x"
                 f"   rounds min {low:.2f} / median {middle:.2f} / max {high:.2f}")
    else:
        line += f"   rounds min {low:,.1f} / median {middle:,.1f} / max {high:,.1f} img/s"
    if device == "cuda":
        ours, theirs = c.results["minidl"], c.results.get("torch")
        line += f"   params {ours['params']:,}   peak {ours['peak_bytes'] / MIB:,.1f} MiB"
        if theirs is not None:
            line += (f" (pytorch: params {theirs['params']:,}, peak {theirs['peak_bytes'] / MIB:,.1f} MiB,"
                     f" ratio {ours['peak_bytes'] / theirs['peak_bytes']:.2f})")
    return line


def noise_warning(comparison):
    low, _, high = comparison.spread()
    what = "ratios" if comparison.ratios() else "minidl img/s"
    return (f"warning: {comparison.model}: the rounds' {what} run from {low:,.2f} to {high:,.2f} "
            f"(max/min {high / low:.2f} > {NOISY_SPREAD}): the machine was too noisy to trust this figure; "
            "run again on a quiet machine, or with more --rounds")


def _load_average():
    try:
        return " ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def measure_and_report(options, worker=run_worker, out=None):
    """Measure every chosen model and report one row each, with the libraries and any warning,
    through ``out`` (default: print, flushed). Returns the exit status."""
    out = out or functools.partial(print, flush=True)
    frameworks = FRAMEWORKS if options.torch else ("minidl",)
    if options.device == "cuda":
        from minidl import backend

        try:
            backend.require_cupy("minidl bench --device cuda")
        except RuntimeError as error:
            print(error, file=sys.stderr)
            return 1
    out(f"training steps on {options.device}: each framework in its own process, {options.rounds} round(s) of "
        f"{' then '.join(frameworks)}, median of {options.steps} timed steps after {options.warmup} warm-up "
        f"in each; load average {_load_average()}")
    if options.device == "cuda":
        out("TF32 off in both frameworks; peak memory counts live arrays over one more step")
    described = set()
    for model in options.chosen_models():
        comparison = compare(options, model, frameworks, worker)
        for name, reason in comparison.unavailable.items():  # e.g. PyTorch absent: minidl alone
            out(f"no {'PyTorch' if name == 'torch' else name} comparison: {reason}")
        frameworks = tuple(comparison.medians)
        for name in frameworks:
            if name not in described:
                described.add(name)
                out(f"{name} threads and BLAS: {describe_libraries(comparison.results[name]['libraries'])}")
        out(format_comparison(comparison, options.device))
        if options.rounds == 1:
            out(f"{model}: one round gives no spread; use --rounds 3 or more to judge the noise")
        elif comparison.noisy():
            out(noise_warning(comparison))
    if options.device == "cuda":
        out(GPU_TARGETS)
    return 0
