"""Checkpoint files: exact round trips, no pickle, and atomic replacement when a save fails midway."""

import json
import os
import zipfile

import numpy as np
import pytest

import minidl as md
from minidl.training import CheckpointError, load_checkpoint, save_checkpoint
from minidl import atomic


def state():
    rng = np.random.default_rng(0)
    return {
        "epoch": 3,
        "model": {"conv.weight": rng.standard_normal((2, 1, 3, 3)).astype(np.float32),
                  "bn.running_var": rng.random(2)},
        "optimizer": {"state": {0: {"step": 7, "exp_avg": rng.standard_normal(4).astype(np.float16)}},
                      "param_groups": [{"lr": 0.1 / 3, "betas": (0.9, 0.999), "params": [0]}]},
        "rng": md.random.get_state(),
        "best": float("inf"),
        "history": [{"test_acc": 0.1 + 0.2}],
    }


def test_round_trip_is_exact(tmp_path):
    original = state()
    path = tmp_path / "last.npz"
    save_checkpoint(path, original)
    loaded = load_checkpoint(path)
    for key, array in original["model"].items():
        assert loaded["model"][key].dtype == array.dtype
        np.testing.assert_array_equal(loaded["model"][key], array)
    saved_opt = loaded["optimizer"]
    assert saved_opt["state"]["0"]["step"] == 7 and isinstance(saved_opt["state"]["0"]["step"], int)
    np.testing.assert_array_equal(saved_opt["state"]["0"]["exp_avg"], original["optimizer"]["state"][0]["exp_avg"])
    assert saved_opt["param_groups"][0]["lr"] == 0.1 / 3  # floats come back bit for bit
    assert saved_opt["param_groups"][0]["betas"] == [0.9, 0.999]
    assert loaded["rng"] == original["rng"]  # the 128-bit generator state, exactly
    assert loaded["best"] == float("inf") and loaded["history"][0]["test_acc"] == 0.1 + 0.2


def test_format_is_npz_with_a_json_header_and_no_pickle(tmp_path):
    path = tmp_path / "c.npz"
    save_checkpoint(path, state())
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    assert "header.npy" in names and all(name.endswith(".npy") for name in names)
    with np.load(path, allow_pickle=False) as archive:  # nothing in it needs pickle
        header = json.loads(archive["header"].tobytes())
        assert header["format"] == "minidl-checkpoint"
        for name in archive.files:
            assert archive[name].dtype != object


def test_restored_generator_repeats_the_stream(tmp_path):
    md.manual_seed(5)
    md.random.generator().random(3)
    save_checkpoint(tmp_path / "c.npz", {"rng": md.random.get_state()})
    expected = md.random.generator().random(4)
    md.manual_seed(99)
    md.random.set_state(load_checkpoint(tmp_path / "c.npz")["rng"])
    np.testing.assert_array_equal(md.random.generator().random(4), expected)


def test_failed_save_midway_leaves_the_previous_checkpoint_whole(tmp_path, monkeypatch):
    path = tmp_path / "last.npz"
    save_checkpoint(path, {"epoch": 1, "w": np.zeros(1000)})
    before = path.read_bytes()
    real_write_array = np.lib.format.write_array
    calls = []

    def fail_on_second_array(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("No space left on device")
        return real_write_array(*args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", fail_on_second_array)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(path, {"epoch": 2, "w": np.ones(1000), "v": np.ones(1000)})
    assert len(calls) == 2  # it failed with part of the new file written
    assert path.read_bytes() == before
    assert load_checkpoint(path)["epoch"] == 1
    assert os.listdir(tmp_path) == ["last.npz"]  # no temporary file left behind


def test_interrupt_during_the_write_leaves_the_previous_file(tmp_path):
    path = tmp_path / "metrics.json"
    atomic.write_atomically(path, lambda f: f.write(b"old"))

    def half_then_ctrl_c(f):
        f.write(b"new and lon")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic.write_atomically(path, half_then_ctrl_c)
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["metrics.json"]


def test_new_files_get_the_usual_permissions(tmp_path):
    path = tmp_path / "c.npz"
    save_checkpoint(path, {"epoch": 0})
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~atomic._UMASK


@pytest.mark.parametrize("content, message", [
    (None, "no checkpoint at"),
    (b"garbage that is not a zip", "not a readable minidl checkpoint"),
    ("truncated", "not a readable minidl checkpoint"),
])
def test_bad_files_name_the_path(tmp_path, content, message):
    path = tmp_path / "broken.npz"
    if content == "truncated":
        save_checkpoint(path, state())
        path.write_bytes(path.read_bytes()[:300])
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message) as info:
        load_checkpoint(path)
    assert "broken.npz" in str(info.value)


def test_foreign_npz_is_refused(tmp_path):
    path = tmp_path / "weights.npz"
    np.savez(path, w=np.zeros(3))
    with pytest.raises(CheckpointError, match="weights.npz is not a minidl checkpoint"):
        load_checkpoint(path)


def test_unstorable_value_is_a_clear_error(tmp_path):
    with pytest.raises(TypeError, match="cannot store a object"):
        save_checkpoint(tmp_path / "c.npz", {"thing": object()})
    assert os.listdir(tmp_path) == []  # nothing was written
