"""CIFAR-10 and CIFAR-100 batch files, in both official layouts.

Python layout (``cifar-10-batches-py``, ``cifar-100-python``): each file is a
pickled dict with ``b"data"``, a uint8 array (N, 3072), and the labels under
``b"labels"`` (CIFAR-10) or ``b"fine_labels"`` (CIFAR-100). Binary layout
(``cifar-10-batches-bin``, ``cifar-100-binary``): fixed-size records of the
label byte(s) then 3072 pixel bytes; CIFAR-100 records hold the coarse label,
then the fine one. In both, a row is 1024 red, 1024 green, then 1024 blue
bytes, each plane 32x32 in row-major order, so it reshapes to (3, 32, 32).

The pickles are read by an unpickler that only builds NumPy arrays, lists and
dicts: a file from the internet cannot run code. Every problem raises a
ValueError naming the file.

>>> import os, tempfile, numpy as np
>>> path = os.path.join(tempfile.mkdtemp(), "test_batch.bin")
>>> record = bytes([3]) + bytes(range(256)) * 12
>>> with open(path, "wb") as f:
...     _ = f.write(record * 2)
>>> images, labels = read_binary_batch(path, label_bytes=1)
>>> images.shape, labels.tolist()
((2, 3, 32, 32), [3, 3])
"""

import importlib
import io
import pickle

import numpy as np

from minidl.data.idx import read_bytes

PIXELS = 3 * 32 * 32

# (module, name) pairs the official pickles (Python 2 cPickle of NumPy arrays)
# and re-pickled copies (Python 3, protocol 2 stores bytes via _codecs.encode) need.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _ArraysOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a CIFAR batch holds only arrays")
        if module.startswith("numpy.core."):  # NumPy 2 moved numpy.core to numpy._core
            module = "numpy._core." + module[len("numpy.core."):]
        return getattr(importlib.import_module(module), name)


def _rows_to_images(data, path):
    data = np.asarray(data)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != PIXELS:
        raise ValueError(
            f"{path}: expected uint8 image rows of shape (N, {PIXELS}), got {data.dtype} {data.shape}"
        )
    return np.ascontiguousarray(data.reshape(-1, 3, 32, 32))


def _whole_numbers(values, path, label_key):
    """``values`` as int64, refusing what is not a list of whole numbers (None, strings, 2.5)."""
    try:
        array = np.asarray(values)
    except ValueError as error:  # ragged nested lists
        raise ValueError(f"{path}: {label_key!r} must be a list of integers: {error}") from None
    if array.dtype.kind == "f" and np.isfinite(array).all() and (array == np.round(array)).all():
        return array.astype(np.int64)
    if array.dtype.kind not in "iu" or array.ndim != 1:
        got = f"{type(values).__name__} of {array.dtype}" if array.ndim else repr(values)
        if array.dtype.kind == "f":
            got = f"fractional values such as {array[array != np.round(array)][:1].tolist()}"
        raise ValueError(f"{path}: {label_key!r} must be a list of integers, got {got}")
    return array.astype(np.int64)


def read_pickle_batch(path, label_key):
    """(images uint8 (N, 3, 32, 32), labels int64 (N,)) from a python-layout batch file.

    ``label_key``: "labels" for CIFAR-10, "fine_labels" (or "coarse_labels") for CIFAR-100.
    """
    raw = read_bytes(path)
    try:
        batch = _ArraysOnlyUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as error:  # a corrupt pickle can raise almost anything
        raise ValueError(f"{path} is not a CIFAR python batch (truncated or corrupt): {error}") from error
    if not isinstance(batch, dict):
        raise ValueError(f"{path} is not a CIFAR python batch: it holds a {type(batch).__name__}, not a dict")
    batch = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    for key in ("data", label_key):
        if key not in batch:
            raise ValueError(f"{path} is not a CIFAR python batch: no {key!r} entry (it has {sorted(batch)})")
    images = _rows_to_images(batch["data"], path)
    labels = _whole_numbers(batch[label_key], path, label_key)
    if labels.shape != (len(images),):
        raise ValueError(
            f"{path}: {len(images)} images but {labels.size} {label_key} - the labels do not match the images"
        )
    return images, labels


def read_binary_batch(path, label_bytes, label_index=None):
    """(images uint8 (N, 3, 32, 32), labels int64 (N,)) from a binary-layout batch file.

    ``label_bytes``: 1 for CIFAR-10, 2 for CIFAR-100 (coarse then fine);
    ``label_index`` picks which label byte to use (default: the last, the fine label).
    """
    raw = read_bytes(path)
    record = label_bytes + PIXELS
    if not raw or len(raw) % record:
        raise ValueError(
            f"{path} is truncated or not a CIFAR binary batch: {len(raw)} bytes is not a whole number "
            f"of {record}-byte records ({label_bytes} label byte(s) + {PIXELS} pixels)"
        )
    rows = np.frombuffer(raw, np.uint8).reshape(-1, record)
    index = label_bytes - 1 if label_index is None else label_index
    labels = rows[:, index].astype(np.int64)
    return _rows_to_images(rows[:, label_bytes:], path), labels
