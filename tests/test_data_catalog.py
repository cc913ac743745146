"""Finding datasets: the look-up order, the not-found message, and mismatched files."""

import os

import numpy as np
import pytest

from minidl.data import DatasetNotFoundError, load_dataset, locate
from minidl.data import locations
from test_data_idx import FASHION_DIR, write_idx

NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def make_idx_dataset(directory, train=6, test=4, gz=True, label_offset=0):
    os.makedirs(directory, exist_ok=True)
    rng = np.random.default_rng(label_offset)
    suffix = ".gz" if gz else ""
    for name, count in ((NAMES[0], train), (NAMES[2], test)):
        write_idx(os.path.join(directory, name + suffix), rng.integers(0, 256, (count, 28, 28), dtype=np.uint8))
    for name, count in ((NAMES[1], train), (NAMES[3], test)):
        write_idx(os.path.join(directory, name + suffix), ((np.arange(count) + label_offset) % 10).astype(np.uint8))
    return directory


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No $MINIDL_DATA, a fresh home (so an empty ~/.cache/minidl) and no system directories."""
    monkeypatch.delenv("MINIDL_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setattr(locations, "SYSTEM_ROOTS", (str(tmp_path / "system"),))
    return tmp_path


def test_lookup_order(isolated, monkeypatch):
    tmp = isolated
    system = make_idx_dataset(tmp / "system" / "mnist", label_offset=4)
    assert locate("mnist", "train")[0][0].startswith(str(system))

    cache = make_idx_dataset(tmp / "home" / ".cache" / "minidl" / "mnist", label_offset=3)
    assert locate("mnist", "train")[0][0].startswith(str(cache))

    env = make_idx_dataset(tmp / "env" / "mnist", label_offset=2)
    monkeypatch.setenv("MINIDL_DATA", str(tmp / "env"))
    assert locate("mnist", "train")[0][0].startswith(str(env))

    explicit = make_idx_dataset(tmp / "explicit", label_offset=1)  # the files right in --data-dir
    paths, _ = locate("mnist", "train", data_dir=str(explicit))
    assert paths[0].startswith(str(explicit))
    assert load_dataset("mnist", "train", data_dir=str(explicit)).labels[0] == 1


def test_debian_location_is_searched_by_default(monkeypatch, tmp_path):
    if not os.path.isdir(FASHION_DIR):
        pytest.fail(f"{FASHION_DIR} is missing: install the Debian package dataset-fashion-mnist")
    monkeypatch.delenv("MINIDL_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    paths, _ = locate("fashion-mnist", "test")
    assert paths == [os.path.join(FASHION_DIR, "t10k-images-idx3-ubyte.gz"),
                     os.path.join(FASHION_DIR, "t10k-labels-idx1-ubyte.gz")]


def test_raw_and_gzipped_idx_files(isolated):
    raw = load_dataset("mnist", "test", data_dir=make_idx_dataset(isolated / "raw", gz=False))
    packed = load_dataset("mnist", "test", data_dir=make_idx_dataset(isolated / "gz", gz=True))
    np.testing.assert_array_equal(raw.images, packed.images)
    assert raw.images.shape == (4, 1, 28, 28)


def test_not_found_says_where_to_put_the_files(isolated):
    with pytest.raises(DatasetNotFoundError) as info:
        load_dataset("mnist", "train", data_dir=str(isolated / "mine"))
    message = str(info.value)
    assert str(isolated / "mine") in message  # where it looked
    assert "train-images-idx3-ubyte" in message  # what it needs
    assert "--download" in message
    assert os.path.join(str(isolated / "mine"), "mnist") in message  # where to put the files


def test_unknown_dataset_lists_the_known_ones():
    known = "cifar10, cifar100, fashion-mnist, mnist"
    with pytest.raises(ValueError, match=f"unknown dataset 'imagenet'; known datasets: {known}"):
        load_dataset("imagenet")


def test_labels_that_do_not_match_the_images(isolated):
    directory = make_idx_dataset(isolated / "bad", train=6)
    write_idx(os.path.join(directory, NAMES[1] + ".gz"), np.zeros(5, np.uint8))
    with pytest.raises(ValueError, match=r"labels do not match the images: .*train-labels-idx1-ubyte\.gz has 5 labels, "
                                         r".*train-images-idx3-ubyte\.gz has 6 images"):
        load_dataset("mnist", "train", data_dir=str(directory))


def test_label_out_of_range_names_the_file(isolated):
    directory = make_idx_dataset(isolated / "bad")
    write_idx(os.path.join(directory, NAMES[3] + ".gz"), np.array([0, 1, 10, 2], np.uint8))
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte\.gz: mnist labels must be in \[0, 10\)"):
        load_dataset("mnist", "test", data_dir=str(directory))


def test_truncated_file_names_the_file(isolated):
    directory = make_idx_dataset(isolated / "bad")
    path = os.path.join(directory, NAMES[2] + ".gz")
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[:40])
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte\.gz is not a valid gzip file"):
        load_dataset("mnist", "test", data_dir=str(directory))


def test_loose_idx_files_are_only_taken_from_an_explicit_directory(isolated, monkeypatch):
    make_idx_dataset(isolated / "env")  # IDX files right in $MINIDL_DATA: MNIST or Fashion-MNIST?
    monkeypatch.setenv("MINIDL_DATA", str(isolated / "env"))
    with pytest.raises(DatasetNotFoundError):
        locate("mnist", "train")
    assert locate("mnist", "train", data_dir=str(isolated / "env"))[0][0].startswith(str(isolated / "env"))
