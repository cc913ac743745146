"""Checks that need several ranks; tests/test_distributed_mpi.py runs them with ``mpiexec -n 2``.

    mpiexec -n 2 python tests/mpi_checks.py OUT_DIR

Each rank runs every check and writes what it measured to OUT_DIR/rank<r>.json;
the tests read those files and assert.
"""

import json
import os
import sys

import numpy as np

STEPS, LR, MOMENTUM, WEIGHT_DECAY = 4, 0.05, 0.9, 5e-4


def _data(count, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((count, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, count)


def _train_lenet(batches, ddp=None, bucket_cap_mb=25):
    """LeNet-5 after SGD steps on ``batches`` (a list of (images, labels)); the flat parameters."""
    import minidl as md
    from minidl.nn.parallel import DistributedDataParallel

    md.manual_seed(0)
    net = md.models.lenet5()
    model = DistributedDataParallel(net, bucket_cap_mb) if ddp else net
    optimizer = md.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    start = np.concatenate([p.data.ravel() for p in net.parameters()])
    first_grads = None
    for images, labels in batches:
        loss = md.functional.cross_entropy(model(md.tensor(images)), md.tensor(labels))
        optimizer.zero_grad()
        loss.backward()
        if ddp:
            model.reduce_gradients()
        if first_grads is None:
            first_grads = np.concatenate([p.grad.ravel() for p in net.parameters()])
        optimizer.step()
    final = np.concatenate([p.data.ravel() for p in net.parameters()])
    return start, final, first_grads, len(model._buckets) if ddp else 0


def check_ddp(rank, world):
    """2 ranks x batch 64 against 1 process x batch 128; small buckets against one; no_sync."""
    import minidl as md
    from minidl import distributed
    from minidl.nn.parallel import DistributedDataParallel

    images, labels = _data(128 * STEPS)
    whole = [(images[s * 128:(s + 1) * 128], labels[s * 128:(s + 1) * 128]) for s in range(STEPS)]
    shard = [(x[rank * 64:(rank + 1) * 64], y[rank * 64:(rank + 1) * 64]) for x, y in whole]
    start, one, one_grads, _ = _train_lenet(whole)
    _, ranks, ranks_grads, buckets = _train_lenet(shard, ddp=True)
    _, small, _, small_buckets = _train_lenet(shard, ddp=True, bucket_cap_mb=0.05)
    replicas = distributed.all_reduce(ranks.astype(np.float64), "max") - ranks
    # Shards of 63 and 65 (an epoch's last, odd batch): weighted by size, still the batch's mean gradient.
    uneven = [(x[:63], y[:63]) if rank == 0 else (x[63:], y[63:]) for x, y in whole[:1]]
    _, _, uneven_grads, _ = _train_lenet(uneven, ddp=True)

    # no_sync: two micro-batches of 32 per rank accumulated, then one averaging.
    md.manual_seed(0)
    net = md.models.lenet5()
    model = DistributedDataParallel(net)
    micro = [(x[:32], y[:32]) for x, y in shard[:1]] + [(x[32:], y[32:]) for x, y in shard[:1]]
    with model.no_sync():
        for x, y in micro:
            md.functional.cross_entropy(model(md.tensor(x)), md.tensor(y)).backward()
        model.reduce_gradients()  # inside no_sync: does nothing
    local = np.concatenate([p.grad.ravel() for p in net.parameters()])
    local_spread = distributed.all_reduce(local.astype(np.float64), "max") - local
    model.reduce_gradients()
    accumulated = np.concatenate([p.grad.ravel() for p in net.parameters()])
    md.manual_seed(0)
    reference = md.models.lenet5()
    x, y = whole[0]
    for part in (np.r_[0:32, 64:96], np.r_[32:64, 96:128]):  # the global micro-batches
        md.functional.cross_entropy(reference(md.tensor(x[part])), md.tensor(y[part])).backward()
    expected = np.concatenate([p.grad.ravel() for p in reference.parameters()])
    return {
        "param_diff": float(np.abs(ranks - one).max()),
        "param_scale": float(np.abs(one).max()),
        "moved": float(np.abs(one - start).max()),
        "grad_diff": float(np.abs(ranks_grads - one_grads).max()),
        "grad_scale": float(np.abs(one_grads).max()),
        "uneven_grad_diff": float(np.abs(uneven_grads - one_grads).max()),
        "buckets": buckets, "small_buckets": small_buckets,
        "small_vs_one_bucket": float(np.abs(small - ranks).max()),
        "replica_spread": float(np.abs(replicas).max()),
        "no_sync_local_spread": float(np.abs(local_spread).max()),
        "no_sync_diff": float(np.abs(accumulated - expected).max()),
        "no_sync_scale": float(np.abs(expected).max()),
    }


def check_sync_batch_norm(rank, world):
    """SyncBatchNorm on uneven shards (3 and 5 images) against BatchNorm2d on the whole batch of 8."""
    import minidl as md
    from minidl import distributed

    rng = np.random.default_rng(1)
    x = rng.normal(2.0, 3.0, (8, 3, 5, 4))
    upstream = rng.normal(size=x.shape)
    bounds = [(0, 3), (3, 8)][rank]
    part = slice(*bounds)

    def layer(cls):
        module = cls(3).double()
        module.weight.data[:] = [0.5, 1.5, -2.0]
        module.bias.data[:] = [0.1, -0.2, 0.3]
        return module

    bn = layer(md.nn.BatchNorm2d)
    xb = md.tensor(x, requires_grad=True)
    bn(xb).backward(upstream)
    yb = bn(md.tensor(x)).numpy()  # second forward: running stats updated twice, as below
    sync = layer(md.nn.SyncBatchNorm)
    xs = md.tensor(x[part], requires_grad=True)
    sync(xs).backward(upstream[part])
    ys = sync(md.tensor(x[part])).numpy()
    gweight = distributed.all_reduce(sync.weight.grad.copy())
    gbias = distributed.all_reduce(sync.bias.grad.copy())
    return {
        "y": float(np.abs(ys - yb[part]).max()),
        "gx": float(np.abs(xs.grad - xb.grad[part]).max()),
        "gx_scale": float(np.abs(xb.grad).max()),
        "gweight": float(np.abs(gweight - bn.weight.grad).max()),
        "gbias": float(np.abs(gbias - bn.bias.grad).max()),
        "running_mean": float(np.abs(sync.running_mean.data - bn.running_mean.data).max()),
        "running_var": float(np.abs(sync.running_var.data - bn.running_var.data).max()),
        "local_bn_differs": float(np.abs(layer(md.nn.BatchNorm2d)(md.tensor(x[part])).numpy()
                                         - yb[part]).max()),
    }


def check_collectives(rank, world):
    from minidl import distributed

    summed = distributed.all_reduce(np.array([rank + 1.0, 10.0 * rank]))
    biggest = distributed.all_reduce(np.array([rank], dtype=np.int64), "max")
    smallest = distributed.all_reduce(np.array([rank], dtype=np.int64), "min")
    sent = distributed.broadcast(np.full(3, float(rank)), src=world - 1)
    distributed.barrier()
    try:
        distributed.all_reduce(np.ones((4, 4))[:, 1])
        strided = "no error"
    except ValueError as error:
        strided = str(error)
    return {"rank": distributed.get_rank(), "world": distributed.get_world_size(),
            "backend": distributed.get_backend(), "sum": summed.tolist(), "max": biggest.tolist(),
            "min": smallest.tolist(), "broadcast": sent.tolist(), "strided": strided}


def main(out_dir):
    from minidl import distributed

    distributed.init_process_group("mpi")
    rank, world = distributed.get_rank(), distributed.get_world_size()
    results = {"collectives": check_collectives(rank, world), "ddp": check_ddp(rank, world),
               "sync_batch_norm": check_sync_batch_norm(rank, world)}
    with open(os.path.join(out_dir, f"rank{rank}.json"), "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1])
