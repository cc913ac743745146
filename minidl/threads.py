"""CPU threads: one place decides how an op's work is cut and shared among cores.

An op states its work (how long the axis it can be cut along is, and how much
work lies on it: elements streamed through memory, or a GEMM's multiply-adds)
and hands a function of one slice to ``map_work``; this module decides whether
the work is worth cutting and into how many slices (``cut``), and shares the
slices out among ``get_num_threads()`` threads: the caller and a small pool.
Each thread takes the next slice not yet taken and runs its Numba kernels
(which release the GIL) and GEMMs (BLAS, which releases it too) one after
another, so a slice's work stays in that core's cache. A convolution also
bounds its slices' bytes (``cut``'s ``budget``: columns that fit the cache).

The first time a CPU op maps slices, minidl takes the process over: malloc
keeps freed memory for the next step (``minidl.malloc``), BLAS is asked
for one thread (process-wide, through ``threadpoolctl``, which knows
OpenBLAS, MKL and BLIS), and Numba's parallel kernels run on one thread when
the calling thread launches them (``numba.set_num_threads`` is per thread).
Both were measured on a two-core machine that other jobs shared. OpenBLAS
threading every GEMM itself: its threads spin-wait for each other, each GEMM
waited out the scheduler whenever another process held a core, and a
ResNet-20 training step went from under a second to tens of seconds. Numba's
thread pool: its threads spin for a while after each parallel kernel,
against minidl's threads, and a training step took 30% (LeNet-5) to 55%
(ResNet-20) longer than with its kernels on one thread. Threads that block
instead of spinning keep working under such load. Where no BLAS that
threadpoolctl knows is loaded, ``map_slices`` runs the slices on the calling
thread and leaves Numba alone, since threads of ours on top of threads of
BLAS would oversubscribe the cores.

>>> map_slices(lambda part: part.stop - part.start, split(10, 3))
[3, 3, 4]
"""

import atexit
import concurrent.futures
import os
import threading

import threadpoolctl

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
    """[fn(s) for s in slices], the slices shared out among the CPU threads.

    The threads take the slices one at a time, in order, each the next one not yet
    taken when it is free, so a thread that starts late (the pool's wake-up) or
    runs slower (another process on its core) takes fewer. Results come back in
    the slices' order, whichever thread made them. Off the CPU, inside a pool
    thread, or with one thread, it is that plain loop.
    """
    slices = list(slices)
    threads = min(get_num_threads(), len(slices))
    if device != "cpu" or not _take_over() or threads < 2 or getattr(_local, "worker", False):
        return [fn(part) for part in slices]
    job = _Job(fn, slices)
    pool = _pool()
    futures = [pool.submit(_run, job) for _ in range(threads - 1)]
    try:
        job.work()
    finally:
        # Wait for every slice started, even if one failed: they write into shared arrays.
        concurrent.futures.wait(futures)
    for future in futures:
        future.result()
    return job.results


class _Job:
    """The slices of one ``map_slices`` call, handed out one at a time to the threads
    that call ``work``; after a slice fails, no more are handed out."""

    def __init__(self, fn, slices):
        self.fn, self.slices = fn, slices
        self.results = [None] * len(slices)
        self._next = 0
        self._lock = threading.Lock()

    def _take(self):
        with self._lock:
            index = self._next
            self._next += 1
            return index

    def work(self):
        while (index := self._take()) < len(self.slices):
            try:
                self.results[index] = self.fn(self.slices[index])
            except BaseException:
                with self._lock:
                    self._next = len(self.slices)
                raise


# Work below this much is done in one piece: handing slices to other threads
# costs more than it saves (each bound is about 0.2 ms of one core's time).
# Elements count memory traffic (elementwise ops, pooling, batch norm);
# multiply-adds count a GEMM's arithmetic (linear layers).
MIN_WORK = {"elements": 2**18, "macs": 2**22}
# Work above it is cut into this many slices. A constant, not the thread count,
# so that a result (and the rounding of a sum over slices) never depends on how
# many threads ran it.
SLICES = 4


def cut(length, work, kind="elements", device="cpu", item_bytes=0, budget=None):
    """The slices of range(length) that ``work`` (of ``kind``, a MIN_WORK key) lying
    along an axis of that length is done in: one, slice(0, length), for small or
    non-CPU work or an axis of one; else SLICES of near-equal length (fewer if the
    axis is shorter). With a ``budget`` (bytes, on any device), more slices where
    needed so that none holds more than that at ``item_bytes`` per item (a slice
    holds one item at least): a convolution's columns, which must fit a cache.

    >>> cut(128, 10)
    [slice(0, 128, None)]
    >>> cut(128, 10**8, "macs")
    [slice(0, 32, None), slice(32, 64, None), slice(64, 96, None), slice(96, 128, None)]
    >>> len(cut(128, 10, item_bytes=2**20, budget=2**24))
    8
    """
    if kind not in MIN_WORK:
        raise ValueError(f"cut: kind must be one of {sorted(MIN_WORK)}, got {kind!r}")
    pieces = SLICES if device == "cpu" and work >= MIN_WORK[kind] else 1
    if budget is not None:
        pieces = max(pieces, -(-length * item_bytes // budget))
    return split(length, pieces)


def map_work(fn, length, work, kind="elements", device="cpu"):
    """[fn(part) for part in cut(length, work, kind, device)], the slices on the CPU threads.

    >>> map_work(lambda part: part, 10, 10)
    [slice(0, 10, None)]
    """
    return map_slices(fn, cut(length, work, kind, device), device)


def map_sums(fn, slices, device="cpu"):
    """The slices' partial sums: ``fn(part)`` returns a tuple of arrays (or Nones), and item
    k of the result is item k summed over the slices, in slice order, so a total never
    depends on which thread finished first (None if the first slice's is None).

    A share is added as soon as every share before it is in, so only the shares that
    arrive early wait, not all of them: a ResNet-50 layer with 512 channels returns
    a 38 MiB share of its Winograd weight gradient from each of its 8 slices.

    >>> map_sums(lambda part: (part.stop - part.start, None), split(10, 3))
    (10, None)
    """
    sums = _OrderedSums()
    map_slices(lambda item: sums.add(item[0], fn(item[1])), list(enumerate(slices)), device)
    return sums.totals


class _OrderedSums:
    """Totals of the tuples handed to ``add`` with indices 0, 1, 2, ..., added in index order."""

    def __init__(self):
        self.totals, self._next, self._waiting = None, 0, {}
        self._lock = threading.Lock()

    def add(self, index, shares):
        with self._lock:
            self._waiting[index] = shares
            while self._next in self._waiting:
                shares = self._waiting.pop(self._next)
                if self.totals is None:
                    self.totals = tuple(shares)
                else:
                    self.totals = tuple(None if total is None else _add_into(total, share)
                                        for total, share in zip(self.totals, shares))
                self._next += 1


def _add_into(total, share):
    total += share
    return total


def _run(job):
    _local.worker = True
    _numba_single()
    job.work()


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
    no BLAS that threadpoolctl knows is loaded. Also, once, ``malloc.keep_freed_memory()``."""
    if _state["blas_single"] is None:
        malloc.keep_freed_memory()
        _state["blas_single"] = blas_single_thread()
    if _state["blas_single"]:
        _numba_single()
    return _state["blas_single"]


def blas_single_thread():
    """Ask every BLAS loaded in this process (OpenBLAS, MKL, BLIS) for one thread;
    True if there is one and each now runs one thread."""
    import numpy  # noqa: F401  (loads its BLAS, so that threadpoolctl finds it)

    controller = threadpoolctl.ThreadpoolController().select(user_api="blas")
    if not controller.lib_controllers:
        return False
    controller.limit(limits=1)
    return all(library.num_threads == 1 for library in controller.lib_controllers)


def _numba_single():
    """Numba's parallel kernels on one thread when this thread launches them (once per thread)."""
    if not getattr(_local, "numba_single", False):
        import numba

        numba.set_num_threads(1)
        _local.numba_single = True
