"""Process groups over an existing engine: MPI (mpi4py) on CPUs, NCCL (CuPy) on GPUs.

Data-parallel training runs one process per core group, host or GPU, started by
a launcher (``mpiexec -n N ...``). Each process is a *rank* of the *world*;
collectives combine one array across all ranks, in place:

- ``init_process_group(backend="mpi")``: join the launcher's world ("nccl" on
  GPUs: CuPy arrays through ``cupy.cuda.nccl``, its unique id broadcast over MPI).
- ``get_rank()``, ``get_world_size()``, ``barrier()``
- ``all_reduce(array, op="sum")``: every rank ends with the elementwise sum
  (or "max", "min") of the arrays of all ranks.
- ``broadcast(array, src=0)``: every rank ends with rank ``src``'s array.

Without ``init_process_group`` (or without a launcher) the world is one
process and every collective leaves its array as it is, so code written for N
ranks runs unchanged in one. ``pip install 'minidl[mpi]'`` installs mpi4py and
the MPICH wheel (no system packages; ``mpiexec`` comes with it); importing
minidl never needs them.

>>> import numpy as np
>>> from minidl import distributed
>>> distributed.get_rank(), distributed.get_world_size()
(0, 1)
>>> distributed.all_reduce(np.array([1.0, 2.0]))
array([1., 2.])
"""

import os

from minidl import backend

BACKENDS = ("mpi", "nccl")
OPS = ("sum", "max", "min")

# What launchers put in each process's environment: the size of its world.
_LAUNCHER_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MV2_COMM_WORLD_SIZE")
# ... and the number of ranks on this process's host.
_LAUNCHER_LOCAL_SIZE_VARIABLES = ("MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE", "SLURM_NTASKS_PER_NODE")


class DistributedError(RuntimeError):
    """A collective failed (a rank died, the network broke); the message names the call and the rank."""


class _WorldOfOne:
    """The group before init_process_group: one rank; collectives leave arrays unchanged."""

    backend = None
    rank, size = 0, 1

    def all_reduce(self, array, op):
        return array

    def broadcast(self, array, src):
        return array

    def barrier(self):
        pass

    def abort(self, code):
        raise SystemExit(code)


_group = _WorldOfOne()


def launcher_world_size():
    """The world size a launcher (mpiexec, srun) announced to this process, or None without one."""
    for name in _LAUNCHER_SIZE_VARIABLES:
        if name in os.environ:
            return int(os.environ[name])
    return None


def local_world_size():
    """How many ranks the launcher started on this host (1 without a launcher): they share its cores."""
    for name in _LAUNCHER_LOCAL_SIZE_VARIABLES:
        if name in os.environ:
            return int(os.environ[name])
    return 1


def init_process_group(backend="mpi"):
    """Join the launcher's world with ``backend`` ("mpi" or "nccl"); returns the world size.

    Without a launcher the world is this one process. A backend that is not
    installed raises ImportError saying what to install.
    """
    global _group
    if backend not in BACKENDS:
        raise ValueError(f"init_process_group: backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if is_initialized():
        if _group.backend == backend:
            return _group.size
        raise RuntimeError(
            f"init_process_group: already initialized with backend {_group.backend!r}; "
            f"call destroy_process_group() before switching to {backend!r}"
        )
    if backend == "mpi":
        from minidl.distributed.mpi import MPIGroup

        _group = MPIGroup()
    else:
        from minidl.distributed.nccl import NCCLGroup

        _group = NCCLGroup()
    return _group.size


def destroy_process_group():
    """Leave the world: back to a world of one (MPI itself stays up until the process ends)."""
    global _group
    _group = _WorldOfOne()


def is_initialized():
    return _group.backend is not None


def get_backend():
    """"mpi", "nccl", or None before init_process_group."""
    return _group.backend


def get_rank():
    return _group.rank


def get_world_size():
    return _group.size


def barrier():
    """Wait until every rank has reached this call."""
    _group.barrier()


def all_reduce(array, op="sum"):
    """Combine ``array`` elementwise across ranks, in place; returns it.

    ``array`` is a contiguous NumPy array, or a CuPy array with backend
    "nccl" (there NumPy arrays go over MPI), or a Tensor (its ``.data``), with
    the same shape and dtype on every rank.
    """
    if op not in OPS:
        raise ValueError(f"all_reduce: op must be one of {', '.join(OPS)}, got {op!r}")
    return _group.all_reduce(_checked(array, "all_reduce"), op)


def broadcast(array, src=0):
    """Overwrite ``array`` on every rank with rank ``src``'s, in place; returns it."""
    if not isinstance(src, int) or not 0 <= src < _group.size:
        raise ValueError(f"broadcast: src must be a rank in [0, {_group.size}), got {src!r}")
    return _group.broadcast(_checked(array, "broadcast"), src)


def abort(code=1):
    """End every rank now (MPI_Abort): what a rank does on an error the others cannot see,
    so that they do not wait for it forever inside a collective."""
    _group.abort(code)


def _checked(array, op):
    from minidl.tensor import Tensor

    if isinstance(array, Tensor):
        array = array.data
    if not (hasattr(array, "__array_interface__") or hasattr(array, "__cuda_array_interface__")):
        raise TypeError(f"{op}: expected a NumPy or CuPy array (or a Tensor), got {type(array).__name__}")
    device = backend.device_of(array)
    if _group.backend == "mpi" and device != "cpu":
        raise TypeError(
            f"{op}: a CuPy array of shape {array.shape} on {device} with the 'mpi' backend, which moves host "
            "memory only; use init_process_group('nccl') for GPU arrays, or copy it to the host first"
        )
    if _group.backend is not None and not array.flags.c_contiguous:
        raise ValueError(f"{op}: the array of shape {array.shape} must be C-contiguous (it is reduced in place)")
    return array
