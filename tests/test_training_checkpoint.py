"""Checkpoint files: exact round trips, no pickle, and atomic replacement when a save fails midway."""

import hashlib
import io
import json
import os
import pickle
import zipfile

import numpy as np
import pytest

import minidl as md
from minidl.training import CheckpointError, load_checkpoint, save_checkpoint
from minidl import atomic
from minidl.training import checkpoint


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


# ---- corruption is always detected ------------------------------------------

def _member_span(data, name):
    """(start, end) in the file of member ``name``: its zip local header, name and first 128 bytes
    (the whole npy header of a small array)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(name)
    start = info.header_offset
    return start, start + 30 + len(info.filename) + len(info.extra) + 128


def _flips(data, positions):
    for position in positions:
        for mask in (0x01, 0xFF):
            broken = bytearray(data)
            broken[position] ^= mask
            yield position, bytes(broken)


def _assert_every_flip_is_caught(tmp_path, data, positions):
    path = tmp_path / "flipped.npz"
    for position, broken in _flips(data, positions):
        path.write_bytes(broken)
        try:
            load_checkpoint(path)
        except CheckpointError as error:
            assert "flipped.npz" in str(error) and "allow_pickle" not in str(error)
        else:
            pytest.fail(f"a flipped byte at offset {position} loaded without an error")


def test_every_flipped_byte_of_a_small_checkpoint_is_caught(tmp_path):
    path = tmp_path / "c.npz"
    save_checkpoint(path, {"epoch": 1, "model": {"w": np.arange(3.0)}})
    data = path.read_bytes()
    _assert_every_flip_is_caught(tmp_path, data, range(len(data)))


def test_every_flipped_byte_of_the_header_and_a_large_arrays_header_is_caught(tmp_path):
    # numpy reads an npy member over 4 KiB only up to its array's end, never
    # reaching the CRC: a flipped header byte once shifted the data silently.
    path = tmp_path / "c.npz"
    save_checkpoint(path, {"epoch": 1, "model": {"w": np.arange(1000.0), "b": np.ones(700)}})
    data = path.read_bytes()
    header_start, _ = _member_span(data, "header.npy")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo("header.npy")
    header_end = header_start + 30 + len(info.filename) + len(info.extra) + info.file_size
    positions = list(range(header_start, header_end)) + list(range(*_member_span(data, "a0.npy")))
    _assert_every_flip_is_caught(tmp_path, data, positions)


def _reseal(path):
    """Recompute the checksum, as someone crafting a file would: only the structure is left to check."""
    data = bytearray(path.read_bytes())
    digest_length = checkpoint._DIGEST_LENGTH
    data[-digest_length:] = hashlib.sha256(data[:-digest_length]).hexdigest().encode("ascii")
    path.write_bytes(bytes(data))


def _write_zip(path, members, header=None):
    """A checkpoint-shaped zip: ``members`` maps names to raw member bytes."""
    with zipfile.ZipFile(path, "w") as archive:
        if header is not None:
            raw = io.BytesIO()
            np.lib.format.write_array(raw, np.frombuffer(json.dumps(header).encode(), np.uint8))
            archive.writestr("header.npy", raw.getvalue())
        for name, content in members.items():
            archive.writestr(name, content)


def _npy_with_header(text):
    header = text.encode("latin1")
    header += b" " * (-(10 + len(header) + 1) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + bytes(24)


V1 = {"format": "minidl-checkpoint", "version": 1, "state": {"model": {"w": {"__array__": "a0"}}}}


def _patched(path, offset_of, value):
    """Patch a field of both the local and the central zip header of the first member, then reseal."""
    data = bytearray(path.read_bytes())
    for signature, field in ((b"PK\x03\x04", offset_of[0]), (b"PK\x01\x02", offset_of[1])):
        at = data.index(signature) + field
        data[at:at + 2] = value.to_bytes(2, "little")
    path.write_bytes(bytes(data))
    _reseal(path)


CRAFTED = {
    "npy header cut short (numpy: TokenError)": (
        lambda p: _write_zip(
            p, {"a0.npy": _npy_with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), ")}, V1),
        "not a readable minidl checkpoint"),
    "npy header with a syntax error (numpy: SyntaxError)": (
        lambda p: _write_zip(p, {"a0.npy": _npy_with_header("{'descr': '<f8, 'shape': (3,)}")}, V1),
        "not a readable minidl checkpoint"),
    "npy member of Python objects": (
        lambda p: _write_zip(
            p, {"a0.npy": _npy_with_header("{'descr': '|O', 'fortran_order': False, 'shape': (3,), }")}, V1),
        "holds Python objects"),
    "npy header larger than its data": (
        lambda p: _write_zip(p, {"a0.npy": _npy_with_header(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000,), }")}, V1),
        "declares"),
    "unknown compression method (zipfile: NotImplementedError)": (
        lambda p: (save_checkpoint(p, {"epoch": 1}), _patched(p, (8, 10), 99)),
        "compression method"),
    "encrypted member (zipfile: RuntimeError)": (
        lambda p: (save_checkpoint(p, {"epoch": 1}), _patched(p, (6, 8), 1)),
        "encrypted"),
    "header that is a JSON list": (
        lambda p: _write_zip(p, {}, ["minidl-checkpoint", 2]),
        "not a minidl checkpoint"),
    "header without a state": (
        lambda p: _write_zip(p, {}, {"format": "minidl-checkpoint", "version": 1}),
        "without a state"),
    "member named by the header is missing (numpy: KeyError)": (
        lambda p: _write_zip(p, {}, V1),
        "has no member 'a0'"),
    "version 2 header without its checksum": (
        lambda p: _write_zip(p, {}, {"format": "minidl-checkpoint", "version": 2, "state": {}}),
        "checksum is missing"),
    "a pickle": (
        lambda p: p.write_bytes(pickle.dumps({"model": {}})),
        "not a readable minidl checkpoint"),
    "a bare npy file": (
        lambda p: p.write_bytes(_npy_with_header("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }")),
        "not a readable minidl checkpoint"),
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_crafted_files_give_one_checkpoint_error_naming_the_file(tmp_path, case):
    make, message = CRAFTED[case]
    path = tmp_path / "crafted.npz"
    make(path)
    with pytest.raises(CheckpointError, match=message) as info:
        load_checkpoint(path)
    assert "crafted.npz" in str(info.value) and "allow_pickle" not in str(info.value)


def test_version_1_checkpoints_still_load_with_their_crc_checked(tmp_path):
    path = tmp_path / "old.npz"
    raw = io.BytesIO()
    np.lib.format.write_array(raw, np.arange(600.0))
    _write_zip(path, {"a0.npy": raw.getvalue()}, V1)
    np.testing.assert_array_equal(load_checkpoint(path)["model"]["w"], np.arange(600.0))
    data = bytearray(path.read_bytes())
    data[data.index(raw.getvalue()[:16]) + 6] ^= 1  # the npy format version: numpy would still read it
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="old.npz"):
        load_checkpoint(path)


def test_a_required_key_that_is_missing_is_named(tmp_path):
    path = tmp_path / "bare.npz"
    save_checkpoint(path, {"epoch": 1})
    with pytest.raises(CheckpointError, match=r"bare.npz holds no 'model' \(it holds 'epoch'\)"):
        load_checkpoint(path, require=("model",))


def test_next_save_removes_the_temporaries_of_killed_saves_of_that_file(tmp_path):
    path = tmp_path / "last.npz"
    stale = tmp_path / ".last.npz.k1ll3d.tmp"  # left by a save killed with kill -9
    stale.write_bytes(b"half a checkpoint")
    other = tmp_path / ".best.npz.k1ll3d.tmp"  # another file's: not ours to judge
    other.write_bytes(b"half")
    save_checkpoint(path, {"epoch": 1})
    assert sorted(os.listdir(tmp_path)) == [".best.npz.k1ll3d.tmp", "last.npz"]


@pytest.mark.skipif(os.name != "posix", reason="flock is POSIX; without it a live writer's file cannot be told apart")
def test_a_temporary_that_a_live_writer_holds_is_kept(tmp_path):
    path = tmp_path / "last.npz"
    busy = tmp_path / ".last.npz.busy.tmp"
    with open(busy, "wb") as f:
        import fcntl

        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        save_checkpoint(path, {"epoch": 1})
        assert busy.exists()
    save_checkpoint(path, {"epoch": 2})
    assert sorted(os.listdir(tmp_path)) == ["last.npz"]


@pytest.mark.parametrize("command", [
    ["evaluate", "lenet5", "--checkpoint", "{path}"],
    ["train", "lenet5", "--resume-from", "{path}", "--out", "{out}"],
])
def test_cli_on_a_checkpoint_without_a_model_is_a_clean_error(tmp_path, capsys, command):
    from minidl import cli

    path = tmp_path / "bare.npz"
    save_checkpoint(path, {"epoch": 1})
    code = cli.main([arg.format(path=path, out=tmp_path / "run") for arg in command])
    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in err
    assert "bare.npz holds no" in err and "'model'" in err


@pytest.mark.parametrize("model", [[1, 2], "weights", 3.0])
def test_a_model_entry_that_is_not_a_state_dict_is_a_checkpoint_error(tmp_path, capsys, model):
    from minidl import cli

    path = tmp_path / "crafted.npz"
    save_checkpoint(path, {"model": model})
    with pytest.raises(CheckpointError, match=r"crafted.npz holds a 'model' that is not a state dict"):
        md.training.checkpoint.load_model_state(md.models.lenet5(), load_checkpoint(path), path, "lenet5")
    code = cli.main(["evaluate", "lenet5", "--checkpoint", str(path)])
    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in err and "not a state dict" in err
