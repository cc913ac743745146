"""DataLoader: batching, drop_last, seeded shuffling, resuming mid-epoch, the worker thread."""

import threading
import time

import numpy as np
import pytest

import minidl as md
from minidl.data import ArrayDataset, DataLoader
from minidl.data import transforms as T


def numbered(n, classes=10):
    """Images whose every pixel is the example's index, so a batch shows which examples it holds."""
    images = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, 1, 2, 2)).copy()
    return ArrayDataset(images, np.arange(n) % classes, num_classes=classes)


def epoch_labels(loader, epoch=None):
    batches = loader if epoch is None else loader.batches(epoch)
    return [labels.tolist() for _, labels in batches]


@pytest.mark.parametrize("n, batch, drop_last, sizes", [
    (10, 3, False, [3, 3, 3, 1]), (10, 3, True, [3, 3, 3]), (9, 3, False, [3, 3, 3]), (9, 3, True, [3, 3, 3]),
    (1, 4, False, [1]),
])
def test_batch_sizes_and_len(n, batch, drop_last, sizes):
    loader = DataLoader(numbered(n), batch, drop_last=drop_last, prefetch=0)
    got = [len(labels) for _, labels in loader]
    assert got == sizes and len(loader) == len(sizes)


def test_batches_are_scaled_float32_and_int64_labels():
    images, labels = next(iter(DataLoader(numbered(4, classes=4), 4)))
    assert images.dtype == np.float32 and labels.dtype == np.int64
    np.testing.assert_allclose(images[:, 0, 0, 0], np.arange(4) / 255, rtol=1e-6)


def test_shuffle_covers_every_example_once_and_changes_each_epoch():
    loader = DataLoader(numbered(50, classes=50), 8, shuffle=True, seed=3)
    first, second = sum(epoch_labels(loader), []), sum(epoch_labels(loader), [])
    assert sorted(first) == sorted(second) == list(range(50))
    assert first != second and loader.epoch == 2


def test_same_seed_same_order_other_seed_other_order():
    data = numbered(40, classes=40)
    a = epoch_labels(DataLoader(data, 8, shuffle=True, seed=1), epoch=5)
    b = epoch_labels(DataLoader(data, 8, shuffle=True, seed=1), epoch=5)
    c = epoch_labels(DataLoader(data, 8, shuffle=True, seed=2), epoch=5)
    assert a == b and a != c


def test_default_seed_comes_from_minidl_generator():
    md.manual_seed(7)
    a = DataLoader(numbered(4), 2, shuffle=True).seed
    md.manual_seed(7)
    assert DataLoader(numbered(4), 2, shuffle=True).seed == a


def test_resuming_mid_epoch_gives_the_rest_of_that_epoch():
    transform = T.Compose([T.RandomCrop(2, padding=1), T.RandomHorizontalFlip()])
    loader = DataLoader(numbered(30, classes=30), 4, shuffle=True, seed=9, transform=transform)
    full = list(loader.batches(2))
    rest = list(loader.batches(2, start=5))
    assert len(rest) == len(full) - 5
    for (xa, ya), (xb, yb) in zip(full[5:], rest):
        np.testing.assert_array_equal(xa, xb)  # the same augmentation too
        np.testing.assert_array_equal(ya, yb)
    assert list(loader.batches(2, start=len(loader))) == []


def test_state_dict_restores_the_order():
    loader = DataLoader(numbered(20, classes=20), 5, shuffle=True, seed=4)
    epoch_labels(loader)
    state = loader.state_dict()
    expected = epoch_labels(loader)
    other = DataLoader(numbered(20, classes=20), 5, shuffle=True, seed=99)
    other.load_state_dict(state)
    assert epoch_labels(other) == expected


def test_worker_thread_gives_the_same_batches_as_no_thread():
    transform = T.Compose([T.RandomCrop(2, padding=1), T.ColorJitter(0.5, 0.5), T.Normalize([0.5], [0.2])])
    data = numbered(37, classes=37)
    threaded = list(DataLoader(data, 5, shuffle=True, seed=1, transform=transform, prefetch=3).batches(0))
    inline = list(DataLoader(data, 5, shuffle=True, seed=1, transform=transform, prefetch=0).batches(0))
    assert len(threaded) == len(inline)
    for (xa, ya), (xb, yb) in zip(threaded, inline):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)


def test_worker_error_reaches_the_consumer():
    def broken(images, rng):
        raise RuntimeError("transform broke")

    with pytest.raises(RuntimeError, match="transform broke"):
        list(DataLoader(numbered(8), 2, transform=broken, prefetch=2))


def test_leaving_early_stops_the_worker():
    before = {t.ident for t in threading.enumerate()}
    batches = DataLoader(numbered(100), 2, prefetch=2).batches(0)
    next(batches)
    batches.close()
    time.sleep(0.05)
    assert not [t for t in threading.enumerate() if t.ident not in before and t.name == "minidl-data-loader"]


def test_worker_overlaps_a_slow_consumer():
    """While the consumer works on a batch, the worker has already prepared the next ones."""
    prepared = []

    def recording(images, rng):
        prepared.append(time.perf_counter())
        return images

    loader = DataLoader(numbered(12), 2, transform=recording, prefetch=2)
    batches = loader.batches(0)
    next(batches)
    time.sleep(0.2)
    assert len(prepared) >= 3  # the first batch plus the two prefetched ones
    batches.close()


@pytest.mark.parametrize("kwargs, message", [
    (dict(batch_size=0), "batch_size must be a positive int"),
    (dict(batch_size=20, drop_last=True), "drop_last with batch_size 20 leaves no batch"),
    (dict(batch_size=2, prefetch=-1), "prefetch must be >= 0"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DataLoader(numbered(10), **kwargs)


def test_start_out_of_range():
    with pytest.raises(ValueError, match=r"start must be in \[0, 5\], got 6"):
        DataLoader(numbered(10), 2).batches(0, start=6)
