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

>>> import os, tempfile, numpy as np
>>> path = os.path.join(tempfile.mkdtemp(), "last.npz")
>>> save_checkpoint(path, {"epoch": 3, "model": {"w": np.arange(3.0)}})
>>> load_checkpoint(path)
{'epoch': 3, 'model': {'w': array([0., 1., 2.])}}
"""

import json
import zipfile

import numpy as np

from minidl import backend
from minidl.atomic import write_atomically

FORMAT = "minidl-checkpoint"
VERSION = 1
_ARRAY = "__array__"


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


def _unpack(value, archive):
    if isinstance(value, dict):
        if set(value) == {_ARRAY}:
            return archive[value[_ARRAY]]
        return {k: _unpack(v, archive) for k, v in value.items()}
    if isinstance(value, list):
        return [_unpack(v, archive) for v in value]
    return value


def save_checkpoint(path, state):
    """Write ``state`` (a dict) to ``path`` atomically."""
    arrays = {}
    header = {"format": FORMAT, "version": VERSION, "state": _pack(state, arrays)}
    arrays["header"] = np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8)
    write_atomically(path, lambda f: np.savez(f, **arrays))


def load_checkpoint(path):
    """The state dict saved at ``path``; a missing, truncated or foreign file raises CheckpointError."""
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise CheckpointError(f"{path} is not a minidl checkpoint (a bare .npy array)")
        with archive:
            if "header" not in archive.files:
                raise CheckpointError(f"{path} is not a minidl checkpoint (no header)")
            header = json.loads(archive["header"].tobytes().decode("utf-8"))
            if header.get("format") != FORMAT:
                raise CheckpointError(f"{path} is not a minidl checkpoint (format {header.get('format')!r})")
            if header.get("version") != VERSION:
                raise CheckpointError(
                    f"{path} is a version {header.get('version')} checkpoint; this minidl reads version {VERSION}"
                )
            members = {name: archive[name] for name in archive.files if name != "header"}
    except FileNotFoundError as error:
        raise CheckpointError(f"no checkpoint at {path}") from error
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, UnicodeDecodeError) as error:
        if isinstance(error, CheckpointError):
            raise
        raise CheckpointError(f"{path} is not a readable minidl checkpoint (truncated or corrupt): {error}") from error
    return _unpack(header["state"], members)


def load_model_state(model, state, path, name=None):
    """Load the weights of checkpoint ``state`` (read from ``path``) into ``model``.

    A model that does not fit raises one ValueError, worded the same for every
    caller: the checkpoint, the model it was saved from, the model ``name`` it was
    loaded into, and the key and shape lists of ``Module.load_state_dict``.
    """
    try:
        model.load_state_dict(state["model"])
    except ValueError as error:
        saved = (state.get("run") or {}).get("model")
        target = "this model" if name is None else repr(name)
        raise ValueError(f"{path} (saved from model {saved!r}) does not fit {target}:\n{error}") from None
