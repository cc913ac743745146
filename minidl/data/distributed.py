"""DistributedLoader: each rank's shard of every global batch, so N ranks see what one process sees.

Batch b of epoch e is the same global batch as in a DataLoader of the same
``batch_size`` and ``seed`` (its indices come from the permutation seeded with
(seed, e)); rank r of W keeps the contiguous shard ``shard_bounds(len(batch), r, W)``
of it. Together the ranks cover exactly the images one process would see, in
its batches, each image once, including the last, smaller batch of an epoch
(split as evenly as it goes: shards differ by at most one image). Everything
follows from (seed, epoch, batch number), so a resumed run shards its batches
as the uninterrupted run did.

With a ``transform`` (augmentation), each rank transforms the whole global batch
with the generator one process would use and keeps its shard: the augmented
images are then bit-identical to one process's, at the price of every rank
augmenting the global batch (cheap next to the model's step).

>>> import numpy as np
>>> from minidl.data.dataset import ArrayDataset
>>> data = ArrayDataset(np.zeros((7, 1, 1, 1), np.uint8), np.arange(7))
>>> [[labels.tolist() for _, labels in DistributedLoader(data, 4, rank=r, world_size=2)] for r in (0, 1)]
[[[0, 1], [4]], [[2, 3], [5, 6]]]
"""

from minidl.data.loader import DataLoader


def shard_bounds(count, rank, world_size):
    """[start, stop) of rank's shard when ``count`` items are split over world_size ranks."""
    return rank * count // world_size, (rank + 1) * count // world_size


class DistributedLoader(DataLoader):
    """DistributedLoader(dataset, batch_size, rank=None, world_size=None, **DataLoader options).

    ``batch_size`` is the *global* batch; ``rank`` and ``world_size`` default to
    minidl.distributed's. ``len()`` is the number of global batches, the same on
    every rank. A shard may be empty when a batch has fewer images than ranks.
    """

    def __init__(self, dataset, batch_size=1, rank=None, world_size=None, **options):
        from minidl import distributed

        super().__init__(dataset, batch_size, **options)
        self.rank = distributed.get_rank() if rank is None else int(rank)
        self.world_size = distributed.get_world_size() if world_size is None else int(world_size)
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"DistributedLoader: rank must be in [0, {self.world_size}), got {self.rank}")

    def _batch(self, epoch, b, index):
        start, stop = shard_bounds(len(index), self.rank, self.world_size)
        if self.transform is None:
            return super()._batch(epoch, b, index[start:stop])
        images, labels = super()._batch(epoch, b, index)
        return images[start:stop], labels[start:stop]
