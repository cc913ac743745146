"""CIFAR-10/100 in both official layouts (python pickle and binary batches), built small in tmp dirs."""

import os
import pickle

import numpy as np
import pytest

from minidl.data import load_dataset
from minidl.data.cifar import read_binary_batch, read_pickle_batch


def cifar_images(count, seed):
    return np.random.default_rng(seed).integers(0, 256, (count, 3, 32, 32), dtype=np.uint8)


def write_pickle_batch(path, images, labels, label_key="labels"):
    """A batch as the official python layout stores it: a dict with bytes keys, rows of 3072 bytes."""
    batch = {b"batch_label": b"testing batch", b"data": images.reshape(len(images), -1),
             label_key.encode(): [int(v) for v in labels], b"filenames": [b"x.png"] * len(images)}
    if label_key == "fine_labels":
        batch[b"coarse_labels"] = [int(v) // 5 for v in labels]
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=2)


def write_binary_batch(path, images, labels, coarse=None):
    """Records of <label byte(s)><3072 pixel bytes>; CIFAR-100 puts the coarse label first."""
    columns = [np.asarray(labels, np.uint8)[:, None]]
    if coarse is not None:
        columns.insert(0, np.asarray(coarse, np.uint8)[:, None])
    rows = np.concatenate(columns + [images.reshape(len(images), -1)], axis=1)
    with open(path, "wb") as f:
        f.write(rows.tobytes())


def make_cifar10(root, layout, train_per_batch=4, test_count=5):
    """A small CIFAR-10 in ``root/<official folder>``; returns (train images, labels, test images, labels)."""
    folder = os.path.join(root, "cifar-10-batches-py" if layout == "python" else "cifar-10-batches-bin")
    os.makedirs(folder)
    train_images = cifar_images(5 * train_per_batch, 0)
    train_labels = np.arange(5 * train_per_batch) % 10
    test_images, test_labels = cifar_images(test_count, 1), (np.arange(test_count) * 3) % 10
    for i in range(5):
        part = slice(i * train_per_batch, (i + 1) * train_per_batch)
        if layout == "python":
            write_pickle_batch(os.path.join(folder, f"data_batch_{i + 1}"), train_images[part], train_labels[part])
        else:
            write_binary_batch(os.path.join(folder, f"data_batch_{i + 1}.bin"), train_images[part], train_labels[part])
    if layout == "python":
        write_pickle_batch(os.path.join(folder, "test_batch"), test_images, test_labels)
    else:
        write_binary_batch(os.path.join(folder, "test_batch.bin"), test_images, test_labels)
    return train_images, train_labels, test_images, test_labels


@pytest.mark.parametrize("layout", ["python", "binary"])
def test_cifar10_both_layouts(tmp_path, layout):
    train_images, train_labels, test_images, test_labels = make_cifar10(tmp_path, layout)
    train = load_dataset("cifar10", "train", data_dir=str(tmp_path))
    test = load_dataset("cifar10", "test", data_dir=str(tmp_path))
    assert train.images.shape == (20, 3, 32, 32) and train.num_classes == 10
    np.testing.assert_array_equal(train.images, train_images)  # batches concatenated in order
    np.testing.assert_array_equal(train.labels, train_labels)
    np.testing.assert_array_equal(test.images, test_images)
    np.testing.assert_array_equal(test.labels, test_labels)


@pytest.mark.parametrize("layout", ["python", "binary"])
def test_cifar100_both_layouts_use_fine_labels(tmp_path, layout):
    images, fine = cifar_images(6, 2), np.array([0, 99, 42, 7, 13, 64])
    test_images, test_fine = cifar_images(2, 3), np.array([5, 98])
    if layout == "python":
        folder = tmp_path / "cifar100" / "cifar-100-python"
        folder.mkdir(parents=True)
        write_pickle_batch(folder / "train", images, fine, "fine_labels")
        write_pickle_batch(folder / "test", test_images, test_fine, "fine_labels")
    else:
        folder = tmp_path / "cifar100" / "cifar-100-binary"
        folder.mkdir(parents=True)
        write_binary_batch(folder / "train.bin", images, fine, coarse=fine // 5)
        write_binary_batch(folder / "test.bin", test_images, test_fine, coarse=test_fine // 5)
    train = load_dataset("cifar100", "train", data_dir=str(tmp_path))
    test = load_dataset("cifar100", "test", data_dir=str(tmp_path))
    assert train.num_classes == 100
    np.testing.assert_array_equal(train.labels, fine)
    np.testing.assert_array_equal(train.images, images)
    np.testing.assert_array_equal(test.labels, test_fine)


def test_rows_are_red_green_blue_planes(tmp_path):
    """The official row layout: 1024 red bytes, then green, then blue, each 32x32 row-major."""
    row = np.concatenate([np.full(1024, 10), np.full(1024, 20), np.arange(1024) % 256]).astype(np.uint8)
    path = tmp_path / "one.bin"
    path.write_bytes(bytes([7]) + row.tobytes())
    images, labels = read_binary_batch(path, label_bytes=1)
    assert labels.tolist() == [7]
    assert (images[0, 0] == 10).all() and (images[0, 1] == 20).all()
    assert images[0, 2, 0, 1] == 1 and images[0, 2, 1, 0] == 32  # row-major within a plane


def test_truncated_binary_batch_names_the_file(tmp_path):
    path = tmp_path / "data_batch_1.bin"
    path.write_bytes(bytes(3073 * 2 - 10))
    with pytest.raises(ValueError, match=r"data_batch_1\.bin is truncated"):
        read_binary_batch(path, label_bytes=1)


def test_truncated_pickle_batch_names_the_file(tmp_path):
    path = tmp_path / "data_batch_3"
    write_pickle_batch(path, cifar_images(3, 0), [1, 2, 3])
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(ValueError, match="data_batch_3 is not a CIFAR python batch"):
        read_pickle_batch(path, "labels")


def test_pickle_that_would_run_code_is_refused(tmp_path):
    class Exploit:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    path = tmp_path / "test_batch"
    with open(path, "wb") as f:
        pickle.dump({b"data": Exploit(), b"labels": []}, f, protocol=2)
    with pytest.raises(ValueError, match="refusing to load"):
        read_pickle_batch(path, "labels")


def test_labels_that_do_not_match_the_images(tmp_path):
    path = tmp_path / "data_batch_1"
    write_pickle_batch(path, cifar_images(3, 0), [1, 2])
    with pytest.raises(ValueError, match="3 images but 2 labels - the labels do not match the images"):
        read_pickle_batch(path, "labels")


def test_label_out_of_range_names_the_file(tmp_path):
    make_cifar10(tmp_path, "binary")
    bad = tmp_path / "cifar-10-batches-bin" / "test_batch.bin"
    write_binary_batch(bad, cifar_images(2, 0), [3, 12])
    with pytest.raises(ValueError, match=r"test_batch\.bin.*labels must be in \[0, 10\).*12"):
        load_dataset("cifar10", "test", data_dir=str(tmp_path))


def test_official_pickles_name_numpy_core(tmp_path):
    """The official files were pickled when NumPy's module was numpy.core (NumPy 2: numpy._core)."""
    path = tmp_path / "data_batch_1"
    images = cifar_images(2, 5)
    write_pickle_batch(path, images, [4, 5])
    data = path.read_bytes()
    old_style = data.replace(b"numpy._core.multiarray\n", b"numpy.core.multiarray\n")
    assert old_style != data
    path.write_bytes(old_style)
    loaded, labels = read_pickle_batch(path, "labels")
    np.testing.assert_array_equal(loaded, images)
    assert labels.tolist() == [4, 5]


def _pickle_with_labels(path, labels):
    batch = {b"data": cifar_images(2, 0).reshape(2, -1), b"labels": labels}
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=2)


@pytest.mark.parametrize("labels, message", [
    (None, "got None"),
    (["3", "4"], "must be a list of integers"),
    ([2.5, 1.0], r"fractional values such as \[2\.5\]"),
    ([[1], [2]], "must be a list of integers"),
])
def test_labels_that_are_not_whole_numbers_name_the_file(tmp_path, labels, message):
    path = tmp_path / "data_batch_1"
    _pickle_with_labels(path, labels)
    with pytest.raises(ValueError, match=message) as error:
        read_pickle_batch(path, "labels")
    assert "data_batch_1" in str(error.value) and "'labels'" in str(error.value)


def test_whole_float_labels_are_kept(tmp_path):
    path = tmp_path / "data_batch_1"
    _pickle_with_labels(path, [1.0, 7.0])
    assert read_pickle_batch(path, "labels")[1].tolist() == [1, 7]


def test_label_out_of_range_names_the_one_batch_that_holds_it(tmp_path):
    make_cifar10(tmp_path, "python")
    bad = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    write_pickle_batch(bad, cifar_images(2, 0), [3, 12])
    with pytest.raises(ValueError, match=r"data_batch_3: cifar10 labels must be in \[0, 10\)") as error:
        load_dataset("cifar10", "train", data_dir=str(tmp_path))
    assert "data_batch_1" not in str(error.value) and "data_batch_5" not in str(error.value)
