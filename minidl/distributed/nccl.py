"""The NCCL backend: CuPy arrays through ``cupy.cuda.nccl`` on one GPU per rank.

Rank r uses GPU ``local rank mod GPUs`` of its host. NCCL needs every rank to
hold the same unique id before the communicator exists; rank 0 draws it and MPI
broadcasts it (mpi4py is needed for a world of more than one). Collectives on
CuPy arrays are queued on CuPy's current stream, in order with the kernels
around them. NumPy arrays (a training loop's few host numbers: losses, counts,
a Ctrl-C flag) travel over MPI, as PyTorch sends CPU tensors over Gloo.

Importing this module needs nothing; ``NCCLGroup()`` needs CuPy with NCCL and a GPU.
"""

import os

from minidl import backend
from minidl.distributed import DistributedError

# The launchers' names for a rank's index among the ranks of its own host.
_LOCAL_RANK_VARIABLES = ("MPI_LOCALRANKID", "OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID")


def _import_nccl():
    cupy = backend.require_cupy("init_process_group('nccl')")
    try:
        from cupy.cuda import nccl
    except ImportError as error:
        raise ImportError(
            "init_process_group: backend 'nccl' needs CuPy built with NCCL (cupy.cuda.nccl did not import); "
            "pip install nvidia-nccl-cu12 (or -cu13) next to CuPy"
        ) from error
    if not nccl.available:
        raise ImportError("init_process_group: backend 'nccl': CuPy found no NCCL library; "
                          "pip install nvidia-nccl-cu12 (or -cu13)")
    return cupy, nccl


class NCCLGroup:
    backend = "nccl"

    def __init__(self):
        cupy, self.nccl = _import_nccl()
        from minidl.distributed import _WorldOfOne, launcher_world_size

        self.mpi_comm = None
        self.host = _WorldOfOne()  # the group for NumPy arrays
        if (launcher_world_size() or 1) > 1:
            from minidl.distributed.mpi import MPIGroup

            self.host = MPIGroup()
            self.mpi_comm = self.host.comm
        self.rank = 0 if self.mpi_comm is None else self.mpi_comm.Get_rank()
        self.size = 1 if self.mpi_comm is None else self.mpi_comm.Get_size()
        local_rank = next((int(os.environ[v]) for v in _LOCAL_RANK_VARIABLES if v in os.environ), self.rank)
        cupy.cuda.Device(local_rank % cupy.cuda.runtime.getDeviceCount()).use()
        unique_id = self.nccl.get_unique_id() if self.rank == 0 else None
        if self.mpi_comm is not None:
            unique_id = self.mpi_comm.bcast(unique_id, root=0)
        self.cupy = cupy
        self.comm = self.nccl.NcclCommunicator(self.size, unique_id, self.rank)
        self._ops = {"sum": self.nccl.NCCL_SUM, "max": self.nccl.NCCL_MAX, "min": self.nccl.NCCL_MIN}
        self._dtypes = {"float16": self.nccl.NCCL_FLOAT16, "float32": self.nccl.NCCL_FLOAT32,
                        "float64": self.nccl.NCCL_FLOAT64, "int32": self.nccl.NCCL_INT32,
                        "int64": self.nccl.NCCL_INT64, "uint8": self.nccl.NCCL_UINT8}

    def _dtype(self, array, what):
        try:
            return self._dtypes[array.dtype.name]
        except KeyError:
            raise TypeError(f"{what}: NCCL takes {', '.join(self._dtypes)} arrays, got {array.dtype}") from None

    def _call(self, what, collective, *args):
        try:
            collective(*args)
        except self.nccl.NcclError as error:
            raise DistributedError(f"{what} failed on rank {self.rank} of {self.size}: {error}") from error

    def all_reduce(self, array, op):
        if not backend.is_cupy_array(array):
            return self.host.all_reduce(array, op)
        stream = self.cupy.cuda.get_current_stream().ptr
        self._call("all_reduce", self.comm.allReduce, array.data.ptr, array.data.ptr, array.size,
                   self._dtype(array, "all_reduce"), self._ops[op], stream)
        return array

    def broadcast(self, array, src):
        if not backend.is_cupy_array(array):
            return self.host.broadcast(array, src)
        stream = self.cupy.cuda.get_current_stream().ptr
        self._call("broadcast", self.comm.bcast, array.data.ptr, array.size, self._dtype(array, "broadcast"),
                   src, stream)
        return array

    def barrier(self):
        self.cupy.cuda.get_current_stream().synchronize()
        if self.mpi_comm is not None:
            self.mpi_comm.Barrier()

    def abort(self, code):
        if self.mpi_comm is not None:
            self.mpi_comm.Abort(code)
        raise SystemExit(code)
