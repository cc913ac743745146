"""minidl.threads: batch slices shared out among CPU threads, and the ops that use it
(conv2d, linear) giving the same results on any number of threads."""

import threading
import time
import weakref

import numpy as np
import pytest
import threadpoolctl
from hypothesis import given
from hypothesis import strategies as st

import minidl as md
from minidl import threads
from minidl.testing import strategies as mst

F = md.functional

# Slices run on several threads only where BLAS can be kept to one thread.
PARALLEL = any(library["user_api"] == "blas" for library in threadpoolctl.threadpool_info())


@pytest.fixture
def thread_count():
    """Set minidl's thread count for one test, and put it back afterwards."""
    before = threads.get_num_threads()
    yield threads.set_num_threads
    threads.set_num_threads(before)


@given(n=st.integers(0, 40), parts=st.integers(1, 9))
def test_split_covers_the_range_in_near_equal_slices(n, parts):
    slices = threads.split(n, parts)
    assert [i for s in slices for i in range(n)[s]] == list(range(n))
    sizes = [s.stop - s.start for s in slices]
    assert len(slices) == max(1, min(n, parts)) and max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize("count", [1, 2, 3, 8])
def test_map_slices_returns_results_in_order(thread_count, count):
    thread_count(count)
    slices = threads.split(23, 7)
    assert threads.map_slices(lambda s: (s.start, s.stop), slices) == [(s.start, s.stop) for s in slices]


def test_map_slices_runs_slices_side_by_side_on_the_cpu_only(thread_count):
    thread_count(2)
    # Each slice waits for the other at a barrier: it passes only if two threads run them at once.
    barrier = threading.Barrier(2 if PARALLEL else 1, timeout=10)
    idents = threads.map_slices(lambda s: (barrier.wait(), threading.get_ident())[1], threads.split(4, 2))
    assert len(set(idents)) == (2 if PARALLEL else 1)
    assert threads.map_slices(lambda s: threading.get_ident(), threads.split(4, 2), device="cuda") == (
        [threading.get_ident()] * 2
    )


def test_a_thread_that_is_free_takes_the_next_slice(thread_count):
    """One slow slice does not hold up the slices after it: the other thread takes them all."""
    thread_count(2)
    release = threading.Event()

    def work(part):
        if part.start == 0:
            release.wait(10 if PARALLEL else 0)  # until every other slice is done
            return threading.get_ident()
        if part.start == 5:
            release.set()
        return threading.get_ident()

    idents = threads.map_slices(work, threads.split(6, 6))
    if PARALLEL:  # slice 0's thread took nothing else
        assert idents.count(idents[0]) == 1 and len(set(idents[1:])) == 1


def test_taking_over_the_cores_keeps_every_blas_on_one_thread(thread_count):
    thread_count(2)
    threads.map_slices(lambda s: None, threads.split(4, 2))
    blas = [library for library in threadpoolctl.threadpool_info() if library["user_api"] == "blas"]
    assert blas and all(library["num_threads"] == 1 for library in blas)


def test_a_failing_slice_raises_after_every_started_slice_finished(thread_count):
    thread_count(2)
    started, done = [], []
    other_started = threading.Event()

    def work(part):
        started.append(part.start)
        if part.start == 0:
            other_started.wait(10 if PARALLEL else 0)
            raise RuntimeError("slice 0 failed")
        other_started.set()
        time.sleep(0.2)
        done.append(part.start)

    with pytest.raises(RuntimeError, match="slice 0 failed"):
        threads.map_slices(work, threads.split(6, 6))
    # slice 1 ran on the other thread and had finished; no slice was handed out after the failure
    assert (sorted(started), done) == (([0, 1], [1]) if PARALLEL else ([0], []))


def test_map_sums_adds_in_slice_order_whichever_slice_finishes_first(thread_count):
    """In float32 2^24 + 1 rounds back to 2^24: in slice order every +1 is lost, in any
    other order some are kept. Slice 0 finishes last, after every other share is in."""
    thread_count(2)
    last_done = threading.Event()

    def share(part):
        if part.start == 0:
            last_done.wait(10 if PARALLEL else 0)
            return np.array([2.0**24], np.float32), None
        if part.start == 5:
            last_done.set()
        return np.array([1.0], np.float32), None

    total, nothing = threads.map_sums(share, threads.split(6, 6))
    assert total.dtype == np.float32 and total[0] == 2.0**24 and nothing is None


def test_map_sums_holds_no_share_it_can_already_add(thread_count):
    """On one thread every share is added as it comes: at most the total and one share
    are alive at once, not one per slice."""
    thread_count(1)
    alive, most = [0], [0]

    def share(part):
        array = np.ones(3)
        alive[0] += 1
        most[0] = max(most[0], alive[0])
        weakref.finalize(array, lambda: alive.__setitem__(0, alive[0] - 1))
        return (array,)

    (total,) = threads.map_sums(share, threads.split(8, 8))
    assert total.tolist() == [8.0] * 3 and most[0] <= 2


@pytest.mark.parametrize("count", [0, -1, 1.5, True, "2"])
def test_set_num_threads_rejects_bad_counts(count):
    with pytest.raises(ValueError, match="set_num_threads"):
        threads.set_num_threads(count)


def conv_and_grads(x, w, b, case):
    xt, wt, bt = (md.tensor(a, requires_grad=True) for a in (x, w, b))
    y = F.conv2d(xt, wt, bt, case.stride, case.padding, case.dilation, case.groups)
    y.backward(np.ones(y.shape) * np.linspace(-1, 1, y.size).reshape(y.shape))
    return y.numpy(), xt.grad, wt.grad, bt.grad


@given(case=mst.conv2d_cases(max_batch=6), seed=mst.seeds())
def test_conv2d_is_the_same_on_one_and_three_threads(case, seed):
    rng = mst.rng(seed)
    x, w = rng.uniform(-1, 1, case.x_shape), rng.uniform(-1, 1, case.w_shape)
    b = rng.uniform(-1, 1, case.w_shape[0])
    before = threads.get_num_threads()
    try:
        threads.set_num_threads(1)
        one = conv_and_grads(x, w, b, case)
        threads.set_num_threads(3)
        three = conv_and_grads(x, w, b, case)
    finally:
        threads.set_num_threads(before)
    for a, c in zip(one, three):  # the slicing does not depend on the threads: same bits
        assert a.tobytes() == c.tobytes()


@pytest.mark.parametrize("shape", [(7, 5), (2, 3, 5), (5,)])
def test_linear_in_feature_slices_matches_one_product(thread_count, monkeypatch, shape):
    rng = np.random.default_rng(0)
    x = md.tensor(rng.standard_normal(shape), requires_grad=True)
    w = md.tensor(rng.standard_normal((4, 5)), requires_grad=True)
    b = md.tensor(rng.standard_normal(4), requires_grad=True)
    gy = rng.standard_normal(shape[:-1] + (4,))
    thread_count(3)
    monkeypatch.setitem(threads.MIN_WORK, "macs", 0)  # slice even this small layer
    y = F.linear(x, w, b)
    y.backward(gy)
    x2 = x.numpy().reshape(-1, 5)
    gy2 = gy.reshape(-1, 4)
    np.testing.assert_allclose(y.numpy(), x.numpy() @ w.numpy().T + b.numpy(), rtol=1e-12)
    np.testing.assert_allclose(x.grad, (gy2 @ w.numpy()).reshape(shape), rtol=1e-12)
    np.testing.assert_allclose(w.grad, gy2.T @ x2, rtol=1e-12)
    np.testing.assert_allclose(b.grad, gy2.sum(axis=0), rtol=1e-12)


@pytest.mark.parametrize("pool", ["max", "avg"])
@pytest.mark.parametrize("shape", [(6, 3, 9, 7), (2, 1, 5, 5), (5, 2, 4, 6)])
def test_pooling_in_batch_slices_equals_one_call(thread_count, monkeypatch, pool, shape):
    # Small inputs, sliced anyway: every plane is pooled on its own, so the pieces put
    # together must be the whole batch's result bit for bit, forward and backward.
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape)
    x[0, 0, 0, :2] = 1.0  # a tie

    def run(parallel_elements):
        monkeypatch.setitem(threads.MIN_WORK, "elements", parallel_elements)
        xt = md.tensor(x, requires_grad=True)
        call = F.max_pool2d if pool == "max" else F.avg_pool2d
        y = call(xt, 3, stride=2, padding=1, ceil_mode=True)
        y.backward(np.arange(y.size, dtype=np.float64).reshape(y.shape) - y.size / 2)
        return y.numpy(), xt.grad

    thread_count(3)
    whole = run(2**62)
    sliced = run(0)
    for a, b in zip(whole, sliced):
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_in_flat_slices_equals_numpy(thread_count, monkeypatch, dtype):
    monkeypatch.setitem(threads.MIN_WORK, "elements", 0)
    thread_count(3)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 5, 7)).astype(dtype)
    x[0, 0, :3] = [0.0, -0.0, np.nan]
    x_t = md.tensor(x[:, ::2], requires_grad=True)  # not contiguous
    y = F.relu(x_t)
    gy = rng.standard_normal(y.shape).astype(dtype)
    y.backward(gy)
    np.testing.assert_array_equal(y.numpy(), np.maximum(x[:, ::2], 0))
    np.testing.assert_array_equal(x_t.grad, gy * (x[:, ::2] > 0))


def test_cut_is_one_slice_below_the_minimum_work_and_slices_above_it():
    for kind, least in threads.MIN_WORK.items():
        assert threads.cut(10, least - 1, kind) == [slice(0, 10)]
        assert threads.cut(10, least, kind) == threads.split(10, threads.SLICES)
        assert threads.cut(10, 2**40, kind, device="cuda") == [slice(0, 10)]
        assert threads.cut(1, 2**40, kind) == [slice(0, 1)]
    # the slices cut the stated axis, whatever the work on it
    assert threads.cut(3, 2**40) == threads.split(3, threads.SLICES) == [slice(0, 1), slice(1, 2), slice(2, 3)]


def test_cut_with_a_budget_keeps_each_slice_within_it():
    # 10 items of 3 bytes in at most 7 bytes: 2 items a slice, 5 slices, whatever the work.
    for work, device in ((0, "cpu"), (2**40, "cpu"), (2**40, "cuda")):
        parts = threads.cut(10, work, device=device, item_bytes=3, budget=7)
        assert parts == threads.split(10, 5)
    # a budget below one item still gives slices of one item
    assert threads.cut(3, 0, item_bytes=100, budget=1) == threads.split(3, 3)
    # within budget, the work decides
    assert threads.cut(10, 2**40, item_bytes=1, budget=100) == threads.split(10, threads.SLICES)
    assert threads.cut(10, 0, item_bytes=1, budget=100) == [slice(0, 10)]


def test_cut_rejects_an_unknown_kind_of_work():
    with pytest.raises(ValueError, match="cut: kind must be one of"):
        threads.cut(10, 2**40, "flops")


def test_keep_freed_memory_can_be_turned_off():
    # In a fresh process each: the setting is made once per process. (CI runs on glibc.)
    import subprocess
    import sys

    code = "from minidl import malloc; print(malloc.keep_freed_memory())"
    for setting, expected in (("0", "False"), ("1", "True")):
        env = dict(__import__("os").environ, MINIDL_KEEP_FREED_MEMORY=setting)
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        assert out.stdout.strip() == expected


@pytest.mark.parametrize("relu", [False, True])
def test_batch_norm_in_channel_slices_equals_one_call(thread_count, monkeypatch, relu):
    # Each channel's statistics are its own: slices of channels on three threads
    # must give the whole call's bits, forward and backward.
    rng = np.random.default_rng(6)
    x = rng.standard_normal((4, 7, 3, 5)).astype(np.float32)
    gy = rng.standard_normal(x.shape).astype(np.float32)
    op = F.batch_norm_relu if relu else F.batch_norm

    def run(least):
        monkeypatch.setitem(threads.MIN_WORK, "elements", least)
        xt = md.tensor(x, requires_grad=True)
        w, b = md.tensor(np.linspace(0.5, 2, 7, dtype=np.float32)), md.tensor(np.linspace(-1, 1, 7, dtype=np.float32))
        w.requires_grad = b.requires_grad = True
        y = op(xt, None, None, w, b, training=True)
        y.backward(gy)
        return y.numpy(), xt.grad, w.grad, b.grad

    thread_count(3)
    for a, b in zip(run(2**62), run(0)):
        assert a.tobytes() == b.tobytes()
