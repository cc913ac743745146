"""Checkpoint files: nested state (dicts, lists, numbers, strings, arrays) in an .npz archive.

The arrays go into the archive as NumPy ``.npy`` members (host copies: CuPy
arrays are copied off the GPU first); everything else goes into one JSON
header, stored as the member ``header``, where each array is replaced by
``{"__array__": "<member name>"}``. Loading uses ``allow_pickle=False``, so a
checkpoint can hold no code, and floats and ints come back exactly (JSON
writes floats with their shortest round-tripping repr, and Python ints of any
size, like the generator's 128-bit state). Dict keys come back as strings and
tuples as lists.

Saving goes through ``write_atomically``: a crash or Ctrl-C while a checkpoint
is written leaves the previous one whole.

Corruption is always detected. The archive's comment holds a SHA-256 of every
byte before it, checked before anything is parsed; each member is read whole,
so the zip's CRC-32 is checked too (numpy alone stops reading a member at the
end of its array, before the CRC: a flipped byte in an npy header once loaded
shifted data silently). Whatever is wrong with a file, corrupt, truncated or
crafted, ``load_checkpoint`` raises one ``CheckpointError`` that names it.

>>> import os, tempfile, numpy as np
>>> path = os.path.join(tempfile.mkdtemp(), "last.npz")
>>> save_checkpoint(path, {"epoch": 3, "model": {"w": np.arange(3.0)}})
>>> load_checkpoint(path)
{'epoch': 3, 'model': {'w': array([0., 1., 2.])}}
"""

import hashlib
import io
import json
import zipfile
from collections.abc import Mapping

import numpy as np

from minidl import backend
from minidl.atomic import write_atomically

FORMAT = "minidl-checkpoint"
VERSION = 2
# Version 1 files (no checksum) still load, with each member's CRC-32 checked.
READABLE_VERSIONS = (1, 2)
_ARRAY = "__array__"
_CHECKSUM = b"minidl-sha256:"
_DIGEST_LENGTH = 64


class CheckpointError(ValueError):
    """The file is not a readable minidl checkpoint; the message names it."""


def _pack(value, arrays):
    if isinstance(value, dict):
        return {str(k): _pack(v, arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_pack(v, arrays) for v in value]
    if isinstance(value, np.ndarray) or backend.is_cupy_array(value):
        name = f"a{len(arrays)}"
        arrays[name] = backend.to_device(value, "cpu")
        return {_ARRAY: name}
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"save_checkpoint: cannot store a {type(value).__name__} ({value!r:.80})")


def _archive(arrays):
    """The .npz bytes of ``arrays``, ending in a comment that holds the SHA-256 of all before it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asanyarray(array), allow_pickle=False)
        archive.comment = _CHECKSUM + b"0" * _DIGEST_LENGTH
    data = buffer.getbuffer()
    digest = hashlib.sha256(data[:-_DIGEST_LENGTH]).hexdigest().encode("ascii")
    data[-_DIGEST_LENGTH:] = digest
    return data


def save_checkpoint(path, state):
    """Write ``state`` (a dict) to ``path`` atomically."""
    arrays = {}
    header = {"format": FORMAT, "version": VERSION, "state": _pack(state, arrays)}
    arrays["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    write_atomically(path, lambda f: f.write(_archive(arrays)))


def _checksum(data):
    """(stored, computed) SHA-256 of a version 2 file, or None for a file without one."""
    if data[-_DIGEST_LENGTH - len(_CHECKSUM):-_DIGEST_LENGTH] != _CHECKSUM:
        return None
    return bytes(data[-_DIGEST_LENGTH:]), hashlib.sha256(data[:-_DIGEST_LENGTH]).hexdigest().encode("ascii")


def _array(archive, name):
    """The array in member ``name``.npy, read whole (so its CRC-32 is checked), pickles refused."""
    raw = archive.read(f"{name}.npy")
    stream = io.BytesIO(raw)
    major, _ = np.lib.format.read_magic(stream)
    read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read_header(stream)
    if dtype.hasobject:
        raise ValueError(f"member {name} holds Python objects ({dtype}); a checkpoint holds numbers only")
    count = int(np.prod(shape, dtype=object))
    if count * dtype.itemsize != len(raw) - stream.tell():
        raise ValueError(
            f"member {name} declares {shape} {dtype} ({count * dtype.itemsize} bytes) "
            f"but holds {len(raw) - stream.tell()} bytes"
        )
    array = np.frombuffer(raw, dtype, count, offset=stream.tell())
    return array.reshape(shape, order="F" if fortran else "C").copy()


def _header(archive):
    header = json.loads(_array(archive, "header").tobytes().decode("utf-8"))
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        found = header.get("format") if isinstance(header, dict) else type(header).__name__
        raise CheckpointError(f"is not a minidl checkpoint (format {found!r})")
    if header.get("version") not in READABLE_VERSIONS:
        raise CheckpointError(
            f"is a version {header.get('version')!r} checkpoint; this minidl reads versions {READABLE_VERSIONS}"
        )
    if not isinstance(header.get("state"), dict):
        raise CheckpointError("has a header without a state (a dict)")
    return header


def _unpack(value, archive):
    if isinstance(value, dict):
        if set(value) == {_ARRAY}:
            name = value[_ARRAY]
            if not isinstance(name, str) or f"{name}.npy" not in archive.namelist():
                raise CheckpointError(f"has no member {name!r}, which its header names")
            return _array(archive, name)
        return {k: _unpack(v, archive) for k, v in value.items()}
    if isinstance(value, list):
        return [_unpack(v, archive) for v in value]
    return value


def _read(data):
    sums = _checksum(data)
    if sums is not None and sums[0] != sums[1]:
        raise CheckpointError("is corrupt: its SHA-256 checksum does not match its content")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        if "header.npy" not in archive.namelist():
            raise CheckpointError("is not a minidl checkpoint (no header)")
        header = _header(archive)
        if header["version"] >= 2 and sums is None:
            raise CheckpointError("is corrupt: its SHA-256 checksum is missing")
        return _unpack(header["state"], archive)


def load_checkpoint(path, require=()):
    """The state dict saved at ``path``.

    A missing, truncated, corrupt or crafted file, or one whose state lacks a
    key of ``require``, raises CheckpointError naming the file and the fault.
    """
    try:
        with open(path, "rb") as f:
            data = memoryview(f.read())
    except FileNotFoundError as error:
        raise CheckpointError(f"no checkpoint at {path}") from error
    except OSError as error:
        raise CheckpointError(f"cannot read the checkpoint {path}: {error}") from error
    try:
        state = _read(data)
    except CheckpointError as error:
        raise CheckpointError(f"{path} {error}") from None
    # zipfile, numpy's npy parser and json raise a dozen kinds of errors on damaged
    # or crafted bytes (BadZipFile, TokenError, SyntaxError, NotImplementedError for
    # an unknown compression, RuntimeError for encryption, KeyError, ...): all mean
    # the same thing to the caller.
    except Exception as error:
        raise CheckpointError(
            f"{path} is not a readable minidl checkpoint (truncated or corrupt): "
            f"{type(error).__name__}: {error}"
        ) from None
    missing = [key for key in require if key not in state]
    if missing:
        raise CheckpointError(
            f"{path} holds no {', '.join(map(repr, missing))} (it holds {', '.join(map(repr, state)) or 'nothing'})"
        )
    return state


def load_model_state(model, state, path, name=None):
    """Load the weights of checkpoint ``state`` (read from ``path``) into ``model``.

    A model that does not fit raises one ValueError, worded the same for every
    caller: the checkpoint, the model it was saved from, the model ``name`` it was
    loaded into, and the key and shape lists of ``Module.load_state_dict``.
    """
    weights = state["model"]
    if not isinstance(weights, Mapping):
        raise CheckpointError(
            f"{path} holds a 'model' that is not a state dict (names to arrays): got {type(weights).__name__}"
        )
    try:
        model.load_state_dict(weights)
    except ValueError as error:
        saved = (state.get("run") or {}).get("model")
        target = "this model" if name is None else repr(name)
        raise ValueError(f"{path} (saved from model {saved!r}) does not fit {target}:\n{error}") from None
