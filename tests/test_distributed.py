"""minidl.distributed, DistributedDataParallel, SyncBatchNorm and DistributedLoader in one process.

A process without a launcher is a world of one: collectives leave their arrays as
they are, DDP's averaging changes nothing and SyncBatchNorm is BatchNorm, which
lets finite differences check SyncBatchNorm's own backward here. The same code
on 2 real ranks is in tests/test_distributed_mpi.py.
"""

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
from minidl import distributed
from minidl.data import ArrayDataset, DataLoader, DistributedLoader
from minidl.data.distributed import shard_bounds
from minidl.nn.parallel import DistributedDataParallel, _bucketed
from minidl.testing import gradcheck
from minidl.testing import strategies as mst

F = md.functional


# ---- minidl.distributed ------------------------------------------------------
def test_without_a_launcher_the_world_is_one_and_collectives_leave_arrays_alone():
    assert not distributed.is_initialized() and distributed.get_backend() is None
    assert (distributed.get_rank(), distributed.get_world_size()) == (0, 1)
    array = np.arange(4.0)
    assert distributed.all_reduce(array, "max") is array and array.tolist() == [0, 1, 2, 3]
    assert distributed.broadcast(array, src=0) is array and array.tolist() == [0, 1, 2, 3]
    distributed.barrier()
    t = md.tensor([1.0, 2.0])
    assert distributed.all_reduce(t) is t.data


def test_bad_arguments_name_the_call():
    with pytest.raises(ValueError, match=r"all_reduce: op must be one of sum, max, min, got 'mean'"):
        distributed.all_reduce(np.ones(2), op="mean")
    with pytest.raises(ValueError, match=r"broadcast: src must be a rank in \[0, 1\), got 1"):
        distributed.broadcast(np.ones(2), src=1)
    with pytest.raises(TypeError, match="all_reduce: expected a NumPy or CuPy array .* got list"):
        distributed.all_reduce([1.0, 2.0])
    with pytest.raises(ValueError, match="init_process_group: backend must be one of mpi, nccl, got 'gloo'"):
        distributed.init_process_group("gloo")


def test_the_launcher_world_is_read_from_its_environment(monkeypatch):
    for name in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "MV2_COMM_WORLD_SIZE", "MPI_LOCALNRANKS",
                 "OMPI_COMM_WORLD_LOCAL_SIZE", "SLURM_NTASKS_PER_NODE"):
        monkeypatch.delenv(name, raising=False)
    assert distributed.launcher_world_size() is None and distributed.local_world_size() == 1
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "4")
    monkeypatch.setenv("OMPI_COMM_WORLD_LOCAL_SIZE", "2")
    assert distributed.launcher_world_size() == 4 and distributed.local_world_size() == 2


def test_a_backend_that_is_not_installed_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # import mpi4py now fails
    with pytest.raises(ImportError, match=r"backend 'mpi' needs mpi4py .* pip install 'minidl\[mpi\]'"):
        distributed.init_process_group("mpi")
    assert not distributed.is_initialized()


@pytest.mark.skipif(md.backend.cupy_available(), reason="a GPU is present: test_nccl_world_of_one runs instead")
def test_nccl_without_a_gpu_says_so():
    with pytest.raises(RuntimeError, match=r"init_process_group\('nccl'\) needs CuPy and an NVIDIA GPU"):
        distributed.init_process_group("nccl")
    assert not distributed.is_initialized()


@pytest.mark.cuda
@pytest.mark.skipif(os.environ.get("MINIDL_TEST_DEVICE", "cpu") != "cuda",
                    reason="no CUDA device (set MINIDL_TEST_DEVICE=cuda on a machine with an NVIDIA GPU and CuPy)")
def test_nccl_world_of_one():
    cp = md.backend.require_cupy("test_nccl_world_of_one")
    try:
        assert distributed.init_process_group("nccl") == 1
        array = cp.arange(6, dtype=cp.float32)
        assert distributed.all_reduce(array) is array and array.get().tolist() == list(range(6))
        distributed.broadcast(array, src=0)
        distributed.barrier()
        host = np.ones(3)
        assert distributed.all_reduce(host) is host and host.tolist() == [1, 1, 1]  # over MPI, or alone
    finally:
        distributed.destroy_process_group()


# ---- DistributedDataParallel ------------------------------------------------
def test_ddp_in_a_world_of_one_changes_no_gradient_and_saves_the_plain_state():
    md.manual_seed(0)
    net = md.models.lenet5()
    model = DistributedDataParallel(net)
    x = md.tensor(np.random.default_rng(0).random((3, 1, 28, 28), dtype=np.float32))
    F.cross_entropy(model(x), md.tensor(np.array([1, 2, 3]))).backward()
    before = [p.grad.copy() for p in net.parameters()]
    model.reduce_gradients()
    assert all(np.array_equal(a, p.grad) for a, p in zip(before, net.parameters()))
    assert list(model.state_dict()) == list(net.state_dict())  # no "module." prefix
    assert [id(p) for p in model.parameters()] == [id(p) for p in net.parameters()]


class _HalfUsed(md.nn.Module):
    def __init__(self):
        super().__init__()
        self.used, self.unused = md.nn.Linear(3, 2), md.nn.Linear(3, 2)

    def forward(self, x):
        return self.used(x)


def test_ddp_leaves_a_parameter_no_rank_used_without_a_gradient():
    net = _HalfUsed()
    model = DistributedDataParallel(net)
    model(md.tensor(np.ones((2, 3), np.float32))).sum().backward()
    model.reduce_gradients()
    assert net.used.weight.grad is not None and net.unused.weight.grad is None


def test_importing_minidl_needs_no_mpi():
    code = "import sys, minidl as md; md.nn.parallel; md.distributed.get_rank(); print('mpi4py' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr


def test_ddp_buckets_keep_the_parameter_order_and_the_cap():
    net = md.nn.Sequential(md.nn.Linear(100, 50), md.nn.Linear(50, 10), md.nn.Linear(10, 2))
    params = list(net.parameters())
    cap = 50 * 100 * 4  # the first weight exactly
    buckets = _bucketed(params, cap)
    assert [p for bucket in buckets for p in bucket] == params
    assert all(sum(p.data.nbytes for p in b) <= cap for b in buckets)
    assert [len(b) for b in buckets] == [1, 5]
    assert [len(b) for b in _bucketed(params, 1)] == [1] * 6  # each tensor larger than the cap: alone


def test_ddp_rejects_what_it_cannot_wrap():
    with pytest.raises(TypeError, match="DistributedDataParallel: module must be an nn.Module, got list"):
        DistributedDataParallel([md.nn.Linear(2, 2)])
    with pytest.raises(ValueError, match="bucket_cap_mb must be > 0, got 0"):
        DistributedDataParallel(md.nn.Linear(2, 2), bucket_cap_mb=0)


# ---- SyncBatchNorm -------------------------------------------------------------
@given(shape=mst.nchw_shapes(max_batch=3, max_channels=3, max_side=4), seed=mst.seeds(), flat=st.booleans())
def test_sync_batch_norm_gradients_match_finite_differences(shape, seed, flat):
    if flat:
        shape = shape[:2]
    if shape[0] * int(np.prod(shape[2:])) < 2:
        shape = (2,) + shape[1:]  # training needs two values per channel
    rng = np.random.default_rng(seed)
    x = md.tensor(rng.normal(size=shape), requires_grad=True)
    weight = md.tensor(rng.uniform(0.5, 2.0, shape[1]), requires_grad=True)
    bias = md.tensor(rng.normal(size=shape[1]), requires_grad=True)
    upstream = md.tensor(rng.normal(size=shape))
    gradcheck(lambda a, w, b: F.sync_batch_norm(a, None, None, w, b) * upstream, x, weight, bias)


@given(shape=mst.nchw_shapes(max_batch=4, max_channels=3, max_side=5), seed=mst.seeds())
def test_sync_batch_norm_in_a_world_of_one_is_batch_norm(shape, seed):
    shape = (shape[0] + 1,) + shape[1:]
    rng = np.random.default_rng(seed)
    x = rng.normal(1.0, 2.0, shape)
    upstream = rng.normal(size=shape)
    results = []
    for cls in (md.nn.BatchNorm2d, md.nn.SyncBatchNorm):
        layer = cls(shape[1]).double()
        t = md.tensor(x, requires_grad=True)
        layer(t).backward(upstream)
        layer.eval()
        evaluated = layer(md.tensor(x)).numpy()
        results.append([t.grad, layer.weight.grad, layer.bias.grad, layer.running_mean.data,
                        layer.running_var.data, evaluated])
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-10)


def test_sync_batch_norm_needs_two_values_per_channel():
    with pytest.raises(ValueError, match=r"sync_batch_norm: training needs more than one value per channel"):
        md.nn.SyncBatchNorm(2)(md.tensor(np.ones((1, 2), np.float32)))


def test_convert_sync_batchnorm_keeps_order_parameters_and_buffers():
    model = md.models.resnet20()
    before = [(name, id(t)) for name, t in list(model.named_parameters()) + list(model.named_buffers())]
    kinds = [type(m).__name__ for m in model.modules()]
    converted = md.nn.convert_sync_batchnorm(model)
    assert converted is model
    after = [(name, id(t)) for name, t in list(model.named_parameters()) + list(model.named_buffers())]
    assert after == before
    assert [type(m).__name__ for m in model.modules()] == [k.replace("BatchNorm2d", "SyncBatchNorm")
                                                          for k in kinds]
    assert "BatchNorm2d" in kinds
    single = md.nn.BatchNorm1d(3)
    assert type(md.nn.SyncBatchNorm.convert_sync_batchnorm(single)) is md.nn.SyncBatchNorm


# ---- DistributedLoader ---------------------------------------------------------
def _flip_some(images, rng):
    """A random transform: which images flip depends on the generator and the batch's size."""
    flip = rng.random(len(images)) < 0.5
    images[flip] = images[flip, ..., ::-1]
    return images


@given(count=st.integers(1, 40), batch=st.integers(1, 12), world=st.integers(1, 4), seed=mst.seeds(),
       epoch=st.integers(0, 3), transform=st.booleans())
def test_the_ranks_shards_make_up_exactly_one_process_batches(count, batch, world, seed, epoch, transform):
    images = np.random.default_rng(seed).integers(0, 256, (count, 1, 2, 3), dtype=np.uint8)
    data = ArrayDataset(images, np.arange(count))
    options = dict(shuffle=True, seed=seed, transform=_flip_some if transform else None, prefetch=0)
    one = list(DataLoader(data, batch, **options).batches(epoch))
    ranks = [list(DistributedLoader(data, batch, rank=r, world_size=world, **options).batches(epoch))
             for r in range(world)]
    assert all(len(shards) == len(one) for shards in ranks)
    for b, (whole_images, whole_labels) in enumerate(one):
        shards = [shards[b] for shards in ranks]
        assert [len(labels) for _, labels in shards] == [
            stop - start for start, stop in (shard_bounds(len(whole_labels), r, world) for r in range(world))]
        np.testing.assert_array_equal(np.concatenate([labels for _, labels in shards]), whole_labels)
        np.testing.assert_array_equal(np.concatenate([x for x, _ in shards]), whole_images)


def test_distributed_loader_checks_its_rank():
    data = ArrayDataset(np.zeros((4, 1, 1, 1), np.uint8), np.arange(4))
    with pytest.raises(ValueError, match=r"DistributedLoader: rank must be in \[0, 2\), got 2"):
        DistributedLoader(data, 2, rank=2, world_size=2)
