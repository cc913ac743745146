"""The datasets ``minidl train`` knows by name, where their files are, and how to read them.

    name            images           classes  on disk (any of)
    mnist           1x28x28 uint8    10       IDX files, gzipped or raw
    fashion-mnist   1x28x28 uint8    10       IDX files, gzipped or raw
    cifar10         3x32x32 uint8    10       cifar-10-batches-py/ or cifar-10-batches-bin/
    cifar100        3x32x32 uint8    100      cifar-100-python/ or cifar-100-binary/ (fine labels)

For each directory of the look-up order (``minidl.data.locations``) a dataset
is looked for in ``DIR/<name>/<folder>`` and ``DIR/<folder>``, where
``<folder>`` is the folder an official archive unpacks to. The IDX files have
no such folder and their names are the same for MNIST and Fashion-MNIST, so
they are read straight from ``DIR`` only when it is the explicit
``--data-dir``: both ``--data-dir ~/cifar`` (holding ``cifar-10-batches-py``)
and ``--data-dir ~/fashion`` (holding the four IDX files) work, and
``/usr/share/datasets/fashion-mnist`` is never mistaken for MNIST.

``download=True`` fetches the official files into ``DIR/<name>/`` with a
progress bar and checks their MD5 against the published sums.

>>> spec("fashion-mnist").num_classes, spec("fashion-mnist").mean
(10, (0.286,))
"""

import os
from dataclasses import dataclass
from typing import Callable

import numpy as np

from minidl.data import download as fetch
from minidl.data.cifar import read_binary_batch, read_pickle_batch
from minidl.data.dataset import ArrayDataset
from minidl.data.idx import read_idx
from minidl.data.locations import download_root, search_roots


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are in none of the places looked in; the message says where to put them."""


@dataclass(frozen=True)
class Layout:
    """One way a dataset's files lie on disk."""

    folder: str  # the folder an official archive unpacks to ("" for loose files)
    train: tuple
    test: tuple
    read: Callable  # read(paths, num_classes, name) -> ArrayDataset
    optional_gz: bool = False  # each file may also be stored gzipped, with ".gz" added


@dataclass(frozen=True)
class Source:
    """The official files: names with their published MD5, the mirrors, and whether to unpack them."""

    mirrors: tuple
    files: tuple  # (file name, md5)
    unpack: bool = False


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    title: str
    num_classes: int
    mean: tuple  # per channel, of the training images scaled to [0, 1]
    std: tuple
    layouts: tuple
    source: Source


def _read_idx_pair(paths, num_classes, name):
    images_path, labels_path = paths
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"{images_path}: expected uint8 images of shape (N, H, W), got {images.dtype} {images.shape}")
    if labels.ndim != 1:
        raise ValueError(f"{labels_path}: expected labels of shape (N,), got {labels.shape}")
    if len(labels) != len(images):
        raise ValueError(
            f"the labels do not match the images: {labels_path} has {len(labels)} labels, "
            f"{images_path} has {len(images)} images"
        )
    return ArrayDataset(images[:, None], labels, num_classes, name, source=labels_path)


def _cifar_reader(read_one):
    def read(paths, num_classes, name):
        parts = [read_one(path) for path in paths]
        for path, (images, labels) in zip(paths, parts):  # checked one by one: an error names the batch file
            ArrayDataset(images, labels, num_classes, name, source=path)
        images = np.concatenate([p[0] for p in parts]) if len(parts) > 1 else parts[0][0]
        labels = np.concatenate([p[1] for p in parts]) if len(parts) > 1 else parts[0][1]
        return ArrayDataset(images, labels, num_classes, name, source=", ".join(paths))
    return read


def _idx_spec(name, title, mean, std, mirrors, md5s):
    files = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    layout = Layout("", files[:2], files[2:], _read_idx_pair, optional_gz=True)
    source = Source(tuple(mirrors), tuple((f + ".gz", md5) for f, md5 in zip(files, md5s)))
    return DatasetSpec(name, title, 10, mean, std, (layout,), source)


_TORONTO = ("https://www.cs.toronto.edu/~kriz/",)

_SPECS = {
    spec.name: spec
    for spec in (
        _idx_spec(
            "mnist", "MNIST handwritten digits", (0.1307,), (0.3081,),
            ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
            ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
             "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c"),
        ),
        _idx_spec(
            "fashion-mnist", "Fashion-MNIST (Zalando)", (0.2860,), (0.3530,),
            ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
             "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
            ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
             "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"),
        ),
        DatasetSpec(
            "cifar10", "CIFAR-10", 10, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616),
            (
                Layout("cifar-10-batches-py", tuple(f"data_batch_{i}" for i in range(1, 6)), ("test_batch",),
                       _cifar_reader(lambda path: read_pickle_batch(path, "labels"))),
                Layout("cifar-10-batches-bin", tuple(f"data_batch_{i}.bin" for i in range(1, 6)),
                       ("test_batch.bin",), _cifar_reader(lambda path: read_binary_batch(path, 1))),
            ),
            Source(_TORONTO, (("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"),), unpack=True),
        ),
        DatasetSpec(
            "cifar100", "CIFAR-100 (fine labels)", 100, (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762),
            (
                Layout("cifar-100-python", ("train",), ("test",),
                       _cifar_reader(lambda path: read_pickle_batch(path, "fine_labels"))),
                Layout("cifar-100-binary", ("train.bin",), ("test.bin",),
                       _cifar_reader(lambda path: read_binary_batch(path, 2))),
            ),
            Source(_TORONTO, (("cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85"),), unpack=True),
        ),
    )
}


def known_datasets():
    return sorted(_SPECS)


def spec(name):
    """The DatasetSpec called ``name``; an unknown name lists the known ones."""
    if name not in _SPECS:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(known_datasets())}")
    return _SPECS[name]


def _existing(directory, file_name, optional_gz):
    for candidate in (file_name, file_name + ".gz") if optional_gz else (file_name,):
        path = os.path.join(directory, candidate)
        if os.path.isfile(path):
            return path
    return None


def _candidate_dirs(dataset, layout, data_dir):
    for root in search_roots(data_dir):
        yield os.path.normpath(os.path.join(root, dataset.name, layout.folder))
        # Loose IDX files say nothing of which dataset they hold: they are taken
        # straight from a directory only when it was named explicitly.
        if layout.folder or root == data_dir:
            yield os.path.normpath(os.path.join(root, layout.folder))


def locate(name, split, data_dir=None):
    """(paths of the split's files, layout) at the first place that has all of them."""
    dataset = spec(name)
    if split not in ("train", "test"):
        raise ValueError(f"{name}: split must be 'train' or 'test', got {split!r}")
    for layout in dataset.layouts:
        for directory in _candidate_dirs(dataset, layout, data_dir):
            paths = [_existing(directory, f, layout.optional_gz) for f in getattr(layout, split)]
            if all(paths):
                return paths, layout
    raise DatasetNotFoundError(_not_found_message(dataset, data_dir))


def _not_found_message(dataset, data_dir):
    places = []
    for layout in dataset.layouts:
        for directory in _candidate_dirs(dataset, layout, data_dir):
            if directory not in places:
                places.append(directory)
    layouts = "; or ".join(
        (f"a folder {layout.folder}/ holding " if layout.folder else "")
        + ", ".join(layout.train + layout.test)
        + (" (each may be gzipped)" if layout.optional_gz else "")
        for layout in dataset.layouts
    )
    target = os.path.join(download_root(data_dir), dataset.name)
    hint = " or `sudo apt-get install dataset-fashion-mnist`" if dataset.name == "fashion-mnist" else ""
    return (
        f"{dataset.title} ({dataset.name}) was not found. Looked in:\n  " + "\n  ".join(places)
        + f"\nIt needs {layouts}.\nFetch it with --download{hint}, or download "
        + ", ".join(f for f, _ in dataset.source.files) + f" from {dataset.source.mirrors[0]}"
        + (" and unpack it" if dataset.source.unpack else "") + f" into {target}"
    )


def download_dataset(name, data_dir=None, progress=True):
    """Fetch the official files of ``name`` into ``<download root>/<name>/``; the directory."""
    dataset = spec(name)
    target = os.path.join(download_root(data_dir), dataset.name)
    source = dataset.source
    for file_name, md5 in source.files:
        path = os.path.join(target, file_name)
        if os.path.isfile(path) and fetch.md5_of(path) == md5:
            continue
        try:
            fetch.download([mirror + file_name for mirror in source.mirrors], path, md5, progress)
        except fetch.DownloadError as error:
            wanted = "\n  ".join(f"{source.mirrors[0]}{f}  (MD5 {m})" for f, m in source.files)
            raise fetch.DownloadError(
                f"{error}\nWithout a network, download on another machine\n  {wanted}\n"
                + ("unpack it " if source.unpack else "") + f"and put the files in {target} "
                "(or in a directory you pass with --data-dir or $MINIDL_DATA)"
            ) from error
        if source.unpack:
            fetch.unpack_tar(path, target)
            os.unlink(path)
    return target


def load_dataset(name, split="train", data_dir=None, download=False, progress=True):
    """The ``split`` ("train" or "test") of dataset ``name`` as an ArrayDataset of uint8 images.

    With ``download``, a dataset found nowhere is fetched first.
    """
    try:
        paths, layout = locate(name, split, data_dir)
    except DatasetNotFoundError:
        if not download:
            raise
        download_dataset(name, data_dir, progress)
        paths, layout = locate(name, split, data_dir)
    return layout.read(paths, spec(name).num_classes, name)
