"""IDX files (MNIST, Fashion-MNIST): every dtype, gzipped and raw, broken files, and the real data."""

import gzip
import os

import numpy as np
import pytest

from minidl.data import load_dataset
from minidl.data.idx import read_idx

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
TYPE_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D, np.float64: 0x0E}


def idx_bytes(array):
    array = np.asarray(array)
    code = TYPE_CODES[array.dtype.type]
    header = bytes([0, 0, code, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path, array, gz=None):
    """Write ``array`` as an IDX file; gzipped when ``gz`` (default: when the name ends in .gz)."""
    data = idx_bytes(array)
    if gz if gz is not None else str(path).endswith(".gz"):
        data = gzip.compress(data)
    with open(path, "wb") as f:
        f.write(data)
    return path


@pytest.mark.parametrize("dtype", list(TYPE_CODES))
@pytest.mark.parametrize("gz", [False, True])
def test_every_dtype_round_trips(tmp_path, dtype, gz):
    rng = np.random.default_rng(0)
    array = (rng.standard_normal((3, 4, 5)) * 50).astype(dtype)
    path = write_idx(tmp_path / "x-idx3", array, gz=gz)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    np.testing.assert_array_equal(back, array)


def test_gzip_is_recognised_by_content_not_name(tmp_path):
    labels = np.array([1, 2, 3], np.uint8)
    path = write_idx(tmp_path / "labels-no-extension", labels, gz=True)
    np.testing.assert_array_equal(read_idx(path), labels)


def test_truncated_file_names_the_file(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(idx_bytes(np.zeros((10, 28, 28), np.uint8))[:-100])
    with pytest.raises(ValueError, match=r"train-images-idx3-ubyte is truncated.*\(10, 28, 28\)"):
        read_idx(path)


def test_file_longer_than_its_header_is_refused(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(idx_bytes(np.zeros(4, np.uint8)) + b"\x00")
    with pytest.raises(ValueError, match="labels is longer than its header says"):
        read_idx(path)


def test_bad_magic_names_the_file(tmp_path):
    path = tmp_path / "not-idx"
    path.write_bytes(b"PK\x03\x04 something else")
    with pytest.raises(ValueError, match="not-idx is not an IDX file"):
        read_idx(path)


def test_truncated_gzip_names_the_file(tmp_path):
    data = gzip.compress(idx_bytes(np.arange(1000, dtype=np.int32)))
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte\.gz is not a valid gzip file"):
        read_idx(path)


def test_corrupt_gzip_payload_names_the_file(tmp_path):
    data = bytearray(gzip.compress(idx_bytes(np.arange(1000, dtype=np.int32))))
    data[-8] ^= 0xFF  # the CRC no longer matches
    path = tmp_path / "broken.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"broken\.gz is not a valid gzip file"):
        read_idx(path)


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(ValueError, match="cannot read .*nowhere"):
        read_idx(tmp_path / "nowhere")


def test_real_fashion_mnist_from_the_debian_package():
    if not os.path.isdir(FASHION_DIR):
        pytest.fail(f"{FASHION_DIR} is missing: install the Debian package dataset-fashion-mnist "
                    "(`sudo apt-get install dataset-fashion-mnist`), as .ci/run does")
    train = load_dataset("fashion-mnist", "train")
    test = load_dataset("fashion-mnist", "test")
    assert (len(train), len(test)) == (60000, 10000)
    assert train.images.shape == (60000, 1, 28, 28) and train.images.dtype == np.uint8
    assert train.num_classes == 10
    # Fashion-MNIST is balanced: 6000 training and 1000 test images per class.
    np.testing.assert_array_equal(np.bincount(train.labels), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(test.labels), [1000] * 10)
    pixels = train.images / 255.0
    assert abs(pixels.mean() - 0.2860) < 1e-3 and abs(pixels.std() - 0.3530) < 1e-3


def test_dimensions_whose_product_overflows_name_the_file(tmp_path):
    # 65536**4 = 2**64 wrapped to 0 in int64: the empty file then "matched" its header.
    path = tmp_path / "overflow-idx1-ubyte"
    path.write_bytes(bytes([0, 0, 0x08, 4]) + np.array([65536] * 4, ">u4").tobytes())
    with pytest.raises(ValueError, match=r"overflow-idx1-ubyte is truncated: .* \(65536, 65536, 65536, 65536\)"):
        read_idx(path)
