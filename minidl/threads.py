"""CPU threads for the GEMM-heavy ops: slices of the batch run side by side.

A convolution (or a linear layer) on the CPU cuts its batch into slices and
hands them to ``map_slices``, which shares them out among ``get_num_threads()``
threads: the caller and a small pool. Each thread runs its slices' im2col
(Numba, releasing the GIL), GEMMs (BLAS, releasing the GIL) and col2im
one after another, so the work of a slice stays in that core's cache.

The first time a CPU op maps slices, minidl takes the process over: malloc
keeps freed memory for the next step (``minidl.malloc``), BLAS is
asked for one thread (process-wide; only OpenBLAS can be asked, through its C
API, which is what NumPy's wheels ship), and Numba's parallel kernels run on
one thread when the calling thread launches them (``numba.set_num_threads``
is per thread). Both were measured on a two-core machine that other jobs
shared. OpenBLAS threading every GEMM itself: its threads spin-wait for each
other, each GEMM waited out the scheduler whenever another process held a
core, and a ResNet-20 training step went from under a second to tens of
seconds. Numba's thread pool: its threads spin for a while after each
parallel kernel, against minidl's threads, and a training step took 30%
(LeNet-5) to 55% (ResNet-20) longer than with its kernels on one thread.
Threads that block instead of spinning keep working under such load. Where
the BLAS thread count cannot be set, ``map_slices`` runs the slices on the
calling thread and leaves Numba alone, since threads of ours on top of
threads of BLAS would oversubscribe the cores.

>>> map_slices(lambda part: part.stop - part.start, split(10, 3))
[3, 3, 4]
"""

import atexit
import concurrent.futures
import ctypes
import os
import threading

from minidl import malloc

_state = {"threads": None, "pool": None, "blas_single": None}
_lock = threading.Lock()
_local = threading.local()  # .worker: a pool thread; .numba_single: Numba set to one thread


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def get_num_threads():
    """Threads that minidl's CPU ops use (default: the cores this process may run on)."""
    if _state["threads"] is None:
        _state["threads"] = _cores()
    return _state["threads"]


def set_num_threads(count):
    """Use ``count`` threads in minidl's CPU ops (1: everything on the calling thread)."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"set_num_threads: count must be an integer >= 1, got {count!r}")
    with _lock:
        _state["threads"] = count
        if _state["pool"] is not None:
            _state["pool"].shutdown(wait=True)
            _state["pool"] = None


def split(n, parts):
    """range(n) cut into ``parts`` near-equal consecutive slices (fewer if n < parts)."""
    parts = max(1, min(n, parts))
    return [slice(n * k // parts, n * (k + 1) // parts) for k in range(parts)]


def map_slices(fn, slices, device="cpu"):
    """[fn(s) for s in slices], the slices shared out among the CPU threads in order.

    Each thread gets a run of consecutive slices; results come back in the
    slices' order. Off the CPU, inside a pool thread, or with one thread, it
    is that plain loop.
    """
    slices = list(slices)
    threads = min(get_num_threads(), len(slices))
    if device != "cpu" or not _take_over() or threads < 2 or getattr(_local, "worker", False):
        return [fn(part) for part in slices]
    runs = [slices[s] for s in split(len(slices), threads)]
    pool = _pool()
    futures = [pool.submit(_run, fn, run) for run in runs[1:]]
    try:
        results = [fn(part) for part in runs[0]]
    finally:
        # Wait for every run, even if one failed: they write into shared arrays.
        concurrent.futures.wait(futures)
    for future in futures:
        results.extend(future.result())
    return results


# Work on this many elements or more is cut into FLAT_SLICES slices (below it,
# handing slices to other threads costs more than it saves).
PARALLEL_ELEMENTS = 2**18
FLAT_SLICES = 4


def map_flat(fn, size, device="cpu", length=None):
    """fn(part) for FLAT_SLICES slices of range(length), on the CPU threads, for work
    on ``size`` elements that splits along an axis of that length (default: the
    flat array itself, length = size; pooling passes its batch). Small or non-CPU
    work, or an axis of one, is one call, fn(slice(None)).

    >>> map_flat(lambda part: part, 10)
    [slice(None, None, None)]
    """
    length = size if length is None else length
    if device != "cpu" or size < PARALLEL_ELEMENTS or length < 2:
        return [fn(slice(None))]
    return map_slices(fn, split(length, FLAT_SLICES), device)


def sum_in_order(shares):
    """The slices' partial sums added in slice order (None if they are None), so a
    total never depends on which thread finished first."""
    if shares[0] is None:
        return None
    total = shares[0]
    for share in shares[1:]:
        total += share
    return total


def _run(fn, run):
    _local.worker = True
    _numba_single()
    return [fn(part) for part in run]


def _pool():
    with _lock:
        if _state["pool"] is None:
            _state["pool"] = concurrent.futures.ThreadPoolExecutor(
                max_workers=get_num_threads() - 1, thread_name_prefix="minidl"
            )
        return _state["pool"]


@atexit.register
def _shutdown():
    if _state["pool"] is not None:
        _state["pool"].shutdown(wait=False)


def _take_over():
    """BLAS on one thread (once per process) and Numba's kernels on one thread (once per
    calling thread; pool threads do the same in ``_run``); False, touching neither, if
    this BLAS cannot be asked. Also, once, ``malloc.keep_freed_memory()``."""
    if _state["blas_single"] is None:
        malloc.keep_freed_memory()
        setter = openblas_thread_setter()
        if setter is not None:
            setter(1)
        _state["blas_single"] = setter is not None
    if _state["blas_single"]:
        _numba_single()
    return _state["blas_single"]


def _numba_single():
    """Numba's parallel kernels on one thread when this thread launches them (once per thread)."""
    if not getattr(_local, "numba_single", False):
        import numba

        numba.set_num_threads(1)
        _local.numba_single = True


# OpenBLAS builds name the C function differently (NumPy's wheels use the scipy_ prefix).
_OPENBLAS_SETTERS = (
    "scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
    "openblas_set_num_threads64_", "openblas_set_num_threads",
)


def openblas_thread_setter():
    """openblas_set_num_threads of the OpenBLAS that NumPy loaded, or None if none is found."""
    import numpy  # noqa: F401  (loads its BLAS, so that it shows in the process's maps)

    try:
        with open("/proc/self/maps") as maps:
            paths = sorted({line.split()[-1] for line in maps if "openblas" in line.lower()})
    except OSError:  # not Linux
        return None
    for path in paths:
        library = ctypes.CDLL(path)
        for name in _OPENBLAS_SETTERS:
            setter = getattr(library, name, None)
            if setter is not None:
                setter.argtypes = [ctypes.c_int]
                return setter
    return None
