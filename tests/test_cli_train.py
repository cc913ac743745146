"""``minidl train`` and ``minidl evaluate`` end to end, on a slice of the real Fashion-MNIST."""

import json
import os
import re

import pytest

from minidl import backend, cli
from minidl.data import locations
from test_data_idx import FASHION_DIR

SMALL = ["--limit-train", "256", "--limit-test", "128", "--no-progress"]


@pytest.fixture(autouse=True)
def fashion_mnist():
    if not os.path.isdir(FASHION_DIR):
        pytest.fail(f"{FASHION_DIR} is missing: install the Debian package dataset-fashion-mnist "
                    "(`sudo apt-get install dataset-fashion-mnist`), as .ci/run does")


def train(capsys, *argv):
    code = cli.main(["train", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def metrics(directory):
    with open(os.path.join(directory, "metrics.json")) as f:
        return json.load(f)


def numbers(records):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


def test_train_a_fraction_of_an_epoch_writes_everything_and_evaluate_agrees(tmp_path, capsys):
    out = str(tmp_path / "run")
    code, stdout, err = train(capsys, "lenet5", "--epochs", "1", "--out", out, *SMALL)
    assert code == 0, err
    assert sorted(os.listdir(out)) == ["best.npz", "curves.png", "last.npz", "metrics.json"]
    saved = metrics(out)
    assert saved["model"] == "lenet5" and saved["dataset"] == "fashion-mnist"
    assert saved["config"]["lr"] == 0.05 and saved["config"]["momentum"] == 0.9
    assert saved["config"]["weight_decay"] == 5e-4 and saved["config"]["batch_size"] == 128
    assert saved["config"]["schedule"] == "step" and saved["config"]["optimizer"] == "sgd"
    (record,) = saved["epochs"]
    assert set(record) == {"epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "seconds"}
    assert record["train_loss"] < 2.4 and record["test_acc"] > 0.1  # it learned something in two steps
    assert "test accuracy" in stdout

    code = cli.main(["evaluate", "lenet5", "--checkpoint", os.path.join(out, "last.npz"),
                     "--limit-test", "128", "--no-progress"])
    stdout, err = capsys.readouterr()
    assert code == 0, err
    assert f"accuracy {record['test_acc']:.2%}" in stdout and "128 images" in stdout


def test_resume_from_the_command_line_matches_a_straight_run(tmp_path, capsys):
    straight, split = str(tmp_path / "straight"), str(tmp_path / "split")
    assert train(capsys, "lenet5", "--epochs", "2", "--augment", "--out", straight, *SMALL)[0] == 0
    assert train(capsys, "lenet5", "--epochs", "1", "--augment", "--out", split, *SMALL)[0] == 0
    code, stdout, err = train(capsys, "lenet5", "--epochs", "2", "--augment", "--out", split, "--resume", *SMALL)
    assert code == 0, err
    assert "resuming" in stdout
    assert numbers(metrics(split)["epochs"]) == numbers(metrics(straight)["epochs"])


def test_a_run_directory_is_not_overwritten_by_accident(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert train(capsys, "lenet5", "--epochs", "1", "--out", out, *SMALL)[0] == 0
    before = open(os.path.join(out, "last.npz"), "rb").read()
    code, _, err = train(capsys, "lenet5", "--epochs", "1", "--out", out, *SMALL)
    assert code == 1 and "already holds a run" in err and "--resume" in err
    code, _, err = train(capsys, "lenet5", "--epochs", "2", "--out", out, "--resume", "--lr", "0.1", *SMALL)
    assert code == 1 and "--lr: checkpoint 0.05, now 0.1" in err
    code, stdout, _ = train(capsys, "lenet5", "--epochs", "1", "--out", out, "--resume", *SMALL)
    assert code == 0 and "nothing to do" in stdout
    assert open(os.path.join(out, "last.npz"), "rb").read() == before


def test_checkpoint_of_another_model(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert train(capsys, "lenet5", "--epochs", "1", "--out", out, *SMALL)[0] == 0
    code = cli.main(["evaluate", "resnet20", "--checkpoint", os.path.join(out, "last.npz"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert "saved from model 'lenet5'" in err
    assert "missing keys" in err and "conv1.weight" in err
    assert "unexpected keys" in err and "0.weight" in err
    code, _, err = train(capsys, "resnet20", "--epochs", "1", "--out", out, "--resume", *SMALL)
    assert code == 1 and "missing keys" in err and "unexpected keys" in err


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_nan_loss_stops_with_epoch_and_step_and_keeps_the_checkpoint(tmp_path, capsys):
    out = str(tmp_path / "run")
    assert train(capsys, "lenet5", "--epochs", "1", "--out", out, *SMALL)[0] == 0
    files = {name: open(os.path.join(out, name), "rb").read() for name in os.listdir(out)}
    code, _, err = train(capsys, "lenet5", "--epochs", "1", "--out", out, "--force", "--lr", "1e30",
                         "--limit-train", "512", "--limit-test", "128", "--no-progress")
    assert code == 1
    assert "the loss is nan at epoch 1, step 2 of 4" in err
    assert "last good checkpoint" in err and "last.npz is untouched" in err
    assert {name: open(os.path.join(out, name), "rb").read() for name in os.listdir(out)} == files


@pytest.mark.parametrize("argv, message", [
    (["lenet6"], "unknown model 'lenet6'; known models: .*lenet5"),
    (["lenet5", "--dataset", "imagenet"],
     "unknown dataset 'imagenet'; known datasets: cifar10, cifar100, fashion-mnist, mnist"),
    (["lenet5", "--augment", "crop,rotate"], "unknown augmentation rotate; known: crop, flip, jitter"),
    (["lenet5", "--epochs", "0"], "--epochs must be >= 1"),
    (["resnet20", *SMALL], r"model 'resnet20' does not take fashion-mnist images of shape \(1, 28, 28\)"),
])
def test_bad_names_and_numbers(tmp_path, capsys, argv, message):
    code, _, err = train(capsys, *argv, "--out", str(tmp_path / "run"))
    assert code == 1
    assert re.search(message, err), err


def test_missing_dataset_says_how_to_get_it(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("MINIDL_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(locations, "SYSTEM_ROOTS", ())
    code, _, err = train(capsys, "lenet5", "--dataset", "mnist", "--data-dir", str(tmp_path / "data"),
                         "--out", str(tmp_path / "run"))
    assert code == 1
    assert "MNIST handwritten digits (mnist) was not found" in err and "--download" in err
    assert os.path.join(str(tmp_path / "data"), "mnist") in err


def test_cuda_device(tmp_path, capsys):
    code, _, err = train(capsys, "lenet5", "--epochs", "1", "--device", "cuda", "--out", str(tmp_path / "run"), *SMALL)
    if backend.cupy_available():
        assert code == 0, err
        assert metrics(tmp_path / "run")["device"] == "cuda"
    else:
        assert code == 1
        assert "needs CuPy and an NVIDIA GPU" in err and "pip install minidl[cuda12]" in err
        assert not os.path.exists(tmp_path / "run")
