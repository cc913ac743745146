"""Datasets, the DataLoader and batch transforms.

- ``load_dataset(name, split, data_dir=None, download=False)``: MNIST, Fashion-MNIST
  (IDX, gzipped or raw), CIFAR-10 and CIFAR-100 (python pickle or binary batches),
  found through the look-up order in ``minidl.data.locations``.
- ``ArrayDataset(images, labels)``: any in-memory images.
- ``DataLoader``: seeded shuffling, ``drop_last``, a background worker thread.
- ``DistributedLoader``: each rank's shard of every global batch (data-parallel training).
- ``transforms``: Normalize, RandomCrop, RandomHorizontalFlip, ColorJitter, Compose.

>>> import minidl as md
>>> md.data.known_datasets()
['cifar10', 'cifar100', 'fashion-mnist', 'mnist']
"""

from minidl.data import transforms
from minidl.data.catalog import (
    DatasetNotFoundError,
    download_dataset,
    known_datasets,
    load_dataset,
    locate,
    spec,
)
from minidl.data.dataset import ArrayDataset
from minidl.data.distributed import DistributedLoader
from minidl.data.download import DownloadError
from minidl.data.loader import DataLoader

__all__ = [
    "ArrayDataset", "DataLoader", "DistributedLoader", "DatasetNotFoundError", "DownloadError", "download_dataset",
    "known_datasets", "load_dataset", "locate", "spec", "transforms",
]
