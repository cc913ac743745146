"""``minidl bench`` runs end to end on tiny settings (the timings mean nothing here:
speed is measured by running the benchmark, never asserted in a test)."""

import importlib
import sys
import types

import pytest

import minidl as md
from minidl import benchmark, cli


def bench(capsys, *options):
    code = cli.main(["bench", "--batch-size", "2", "--steps", "1", "--warmup", "1", *options])
    return code, capsys.readouterr().out


def test_bench_times_both_models(capsys):
    code, out = bench(capsys)
    assert code == 0
    rows = [line for line in out.splitlines() if "img/s" in line]
    assert [row.split()[0] for row in rows] == ["lenet5", "resnet20"]
    if benchmark.torch_available():
        assert all("pytorch" in row and "ratio" in row for row in rows)


@pytest.fixture
def restore_threads():
    """--threads sets minidl's, Numba's and PyTorch's thread counts: put them back."""
    import numba

    from minidl import threads

    before = threads.get_num_threads(), numba.get_num_threads()
    torch = importlib.import_module("torch") if benchmark.torch_available() else None
    torch_before = torch.get_num_threads() if torch else None
    yield
    threads.set_num_threads(before[0])
    numba.set_num_threads(before[1])
    if torch:
        torch.set_num_threads(torch_before)


def test_bench_without_torch(capsys, restore_threads):
    code, out = bench(capsys, "--models", "lenet5", "--no-torch", "--threads", "1")
    assert code == 0
    assert "pytorch" not in out and "lenet5" in out


def test_run_reports_each_result():
    seen = []
    results = benchmark.run(["lenet5"], batch_size=3, steps=2, warmup=0, with_torch=False,
                            report=seen.append)
    assert seen == results and results[0].batch_size == 3 and results[0].minidl_ips > 0


@pytest.mark.parametrize("options, message", [
    (["--models", "vgg99"], "unknown model"),
    (["--steps", "0"], "--steps must be >= 1"),
    (["--threads", "0"], "--threads must be >= 1"),
])
def test_bench_rejects_bad_options(capsys, options, message):
    with pytest.raises(SystemExit, match=message):
        bench(capsys, *options)


def test_cuda_goes_to_the_gpu_benchmark(capsys, monkeypatch):
    calls = []
    fake = types.ModuleType("minidl.benchmark_gpu")
    fake.run = lambda args: calls.append(args) or 0
    monkeypatch.setitem(sys.modules, "minidl.benchmark_gpu", fake)
    code, _ = bench(capsys, "--device", "cuda")
    assert code == 0 and len(calls) == 1 and calls[0].device == "cuda"


def test_cuda_without_the_gpu_benchmark_is_a_clear_error(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "minidl.benchmark_gpu", None)  # import raises
    with pytest.raises(SystemExit, match="benchmark_gpu"):
        bench(capsys, "--device", "cuda")


@pytest.mark.parametrize("model", list(benchmark.MODELS))
def test_pytorch_twin_has_the_same_parameters(model):
    torch = pytest.importorskip("torch", reason="compares with PyTorch, not installed: pip install -e '.[bench]'")
    ours = md.models.get(model)
    theirs = benchmark.torch_model(model)
    assert [p.shape for p in ours.parameters()] == [tuple(p.shape) for p in theirs.parameters()]
    images, _ = benchmark.batch(model, 2)
    with torch.no_grad():
        assert tuple(theirs(torch.from_numpy(images)).shape) == (2, benchmark.NUM_CLASSES)
