"""The MPI backend: NumPy arrays through mpi4py's buffer collectives on COMM_WORLD.

mpi4py raises ``MPI.Exception`` when a collective fails (its default error
handler on COMM_WORLD returns errors instead of aborting); it is re-raised as
DistributedError naming the call and this rank. A rank that dies *without* an
MPI error (an exception in Python, outside any collective) would leave the
others waiting inside their next collective forever: code that can fail on one
rank alone calls ``minidl.distributed.abort()``, as the CLI does.
"""

from minidl.distributed import DistributedError


def _import_mpi():
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise ImportError(
            "init_process_group: backend 'mpi' needs mpi4py and an MPI library, which are not installed: "
            "pip install 'minidl[mpi]' (mpi4py and the MPICH wheel; no system packages needed)"
        ) from error
    return MPI


class MPIGroup:
    backend = "mpi"

    def __init__(self):
        self.MPI = _import_mpi()
        self.comm = self.MPI.COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self._ops = {"sum": self.MPI.SUM, "max": self.MPI.MAX, "min": self.MPI.MIN}

    def _call(self, what, collective, *args, **kwargs):
        try:
            collective(*args, **kwargs)
        except self.MPI.Exception as error:
            raise DistributedError(
                f"{what} failed on rank {self.rank} of {self.size}: {error.Get_error_string()} "
                "(did another rank die?)"
            ) from error

    def all_reduce(self, array, op):
        self._call("all_reduce", self.comm.Allreduce, self.MPI.IN_PLACE, array, op=self._ops[op])
        return array

    def broadcast(self, array, src):
        self._call("broadcast", self.comm.Bcast, array, root=src)
        return array

    def barrier(self):
        self._call("barrier", self.comm.Barrier)

    def abort(self, code):
        self.comm.Abort(code)
