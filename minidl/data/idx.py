"""IDX files, the format of MNIST and Fashion-MNIST, gzipped or raw.

An IDX file is a 4-byte magic number, one big-endian uint32 per dimension,
then the values in C order, big-endian:

    magic = 0x00 0x00 <type> <ndim>     type: 0x08 uint8, 0x09 int8, 0x0B int16,
                                              0x0C int32, 0x0D float32, 0x0E float64

A gzipped file is recognised by its first two bytes (1f 8b), not by its name.
Every problem (a wrong magic number, a header that promises more bytes than
the file holds, a broken gzip stream) raises a ValueError naming the file.

>>> import gzip, os, tempfile, numpy as np
>>> path = os.path.join(tempfile.mkdtemp(), "labels-idx1-ubyte.gz")
>>> with gzip.open(path, "wb") as f:
...     _ = f.write(bytes([0, 0, 0x08, 1, 0, 0, 0, 3, 7, 2, 1]))
>>> read_idx(path)
array([7, 2, 1], dtype=uint8)
"""

import gzip
import math
import zlib

import numpy as np

GZIP_MAGIC = b"\x1f\x8b"
DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_bytes(path):
    """The file's bytes, decompressed when it is gzipped; errors name the file."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error}") from error
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as error:
        raise ValueError(f"{path} is not a valid gzip file (truncated or corrupt): {error}") from error


def read_idx(path):
    """The array stored in an IDX file (gzipped or raw), in native byte order."""
    data = read_bytes(path)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in DTYPES:
        raise ValueError(
            f"{path} is not an IDX file: its magic number is {data[:4].hex() or 'missing'}, "
            "expected 0000 followed by a type byte (08, 09, 0b, 0c, 0d, 0e) and the number of dimensions"
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path} is truncated: its header needs {header} bytes, the file has {len(data)}")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    dtype = np.dtype(DTYPES[data[2]])
    expected = header + math.prod(shape) * dtype.itemsize  # Python ints: never overflow
    if len(data) != expected:
        problem = "truncated" if len(data) < expected else "longer than its header says"
        raise ValueError(
            f"{path} is {problem}: a {dtype.name} array of shape {shape} needs {expected} bytes, "
            f"the file has {len(data)}"
        )
    array = np.frombuffer(data, dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))
