"""DataLoader: shuffled, augmented batches, prepared in a background thread.

Each pass over the loader is one epoch. With ``shuffle``, epoch e visits the
examples in the order of a permutation drawn from a generator seeded with
(seed, e, 0), and batch b of that epoch is augmented with a generator seeded
with (seed, e, 1, b). Nothing depends on the previous epoch or on timing, so
the loader's whole state is (seed, epoch): a checkpoint stores it and a
resumed run sees exactly the batches the uninterrupted run saw, even from the
middle of an epoch (``batches(epoch, start)``).

A batch is (images float32 (B, C, H, W), labels int64 (B,)), NumPy arrays on
the host; uint8 pixels are scaled to [0, 1] before ``transform`` runs. With
``prefetch`` > 0 a worker thread assembles the next batches (indexing, the
float conversion, augmentation: NumPy releases the GIL in all of them) while
the model computes on the current one.

>>> import numpy as np
>>> from minidl.data.dataset import ArrayDataset
>>> data = ArrayDataset(np.arange(5, dtype=np.uint8).reshape(5, 1, 1, 1), np.arange(5))
>>> [labels.tolist() for _, labels in DataLoader(data, batch_size=2)]
[[0, 1], [2, 3], [4]]
>>> [labels.tolist() for _, labels in DataLoader(data, batch_size=2, drop_last=True)]
[[0, 1], [2, 3]]
"""

import queue
import threading

import numpy as np

from minidl import random

_PERMUTATION, _AUGMENTATION = 0, 1


class DataLoader:
    """DataLoader(dataset, batch_size=1, shuffle=False, drop_last=False, transform=None,
    seed=None, prefetch=2).

    ``dataset[indices]`` must return (images, labels) arrays (ArrayDataset
    does). ``seed`` defaults to a draw from minidl's generator, so
    ``md.manual_seed`` makes the order repeatable. ``prefetch`` is how many
    batches the worker thread may prepare ahead (0: no thread).
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, transform=None,
                 seed=None, prefetch=2):
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be a positive int, got {batch_size!r}")
        if prefetch < 0:
            raise ValueError(f"DataLoader: prefetch must be >= 0, got {prefetch}")
        if len(dataset) == 0:
            raise ValueError("DataLoader: the dataset is empty")
        if drop_last and len(dataset) < batch_size:
            raise ValueError(
                f"DataLoader: drop_last with batch_size {batch_size} leaves no batch of a dataset of {len(dataset)}"
            )
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.transform = transform
        self.prefetch = prefetch
        self.seed = int(random.generator().integers(0, 2**63 - 1)) if seed is None else int(seed)
        self.epoch = 0

    def __len__(self):
        """The number of batches in an epoch."""
        full, rest = divmod(len(self.dataset), self.batch_size)
        return full if self.drop_last or rest == 0 else full + 1

    def __iter__(self):
        """One epoch (the next one: each pass advances ``epoch``)."""
        self.epoch += 1
        return self.batches(self.epoch - 1)

    def batches(self, epoch, start=0):
        """The batches of ``epoch`` from batch number ``start`` on (for resuming mid-epoch)."""
        if not 0 <= start <= len(self):
            raise ValueError(f"DataLoader.batches: start must be in [0, {len(self)}], got {start}")
        produce = (self._batch(epoch, b, index) for b, index in self._indices(epoch, start))
        return produce if self.prefetch == 0 else _prefetched(produce, self.prefetch)

    def _indices(self, epoch, start):
        n = len(self.dataset)
        if self.shuffle:
            order = np.random.default_rng([self.seed, epoch, _PERMUTATION]).permutation(n)
        else:
            order = np.arange(n)
        for b in range(start, len(self)):
            yield b, order[b * self.batch_size:(b + 1) * self.batch_size]

    def _batch(self, epoch, b, index):
        images, labels = self.dataset[index]
        if images.dtype == np.uint8:
            images = images.astype(np.float32)
            images *= np.float32(1 / 255)
        else:
            images = np.array(images, dtype=np.float32)
        if self.transform is not None:
            rng = np.random.default_rng([self.seed, epoch, _AUGMENTATION, b])
            images = self.transform(images, rng)
        return images, np.asarray(labels, dtype=np.int64)

    def state_dict(self):
        return {"seed": self.seed, "epoch": self.epoch}

    def load_state_dict(self, state):
        self.seed, self.epoch = int(state["seed"]), int(state["epoch"])


class _End:
    """Marks the end of the worker's batches; carries its exception if it failed."""

    def __init__(self, error=None):
        self.error = error


def _prefetched(produce, depth):
    """Iterate ``produce`` in a daemon thread, at most ``depth`` items ahead of the consumer."""
    ready = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item):
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work():
        try:
            for item in produce:
                if not put(item):
                    return
        except BaseException as error:  # handed to the consumer, raised there
            put(_End(error))
            return
        put(_End())

    worker = threading.Thread(target=work, name="minidl-data-loader", daemon=True)
    worker.start()
    try:
        while True:
            item = ready.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        stop.set()
        worker.join()
