"""Replacing a file so that a reader sees the old version or the new one, never half of one:
checkpoints, metrics and curves (``minidl.training``) and downloads (``minidl.data``).

The new content goes to a hidden temporary file in the same directory (so the
rename never crosses file systems), is flushed and fsynced, and then
``os.replace`` puts it under the final name in one step. If writing fails, or
the process is interrupted, the temporary file is removed and the previous
file is untouched. The directory is fsynced after the rename, so the new name
survives a power cut too.

A process killed while writing (``kill -9``, a power cut) cannot remove its
temporary file. Each writer holds an exclusive ``flock`` on its temporary
file, which the system drops when the process dies; the next save of the
same target removes the temporaries nobody holds, and leaves alone those of a
save still running in another process.

>>> import os, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "note.txt")
>>> write_atomically(path, lambda f: f.write(b"hello"))
>>> open(path, "rb").read()
b'hello'
"""

import glob
import os
import tempfile

try:
    import fcntl
except ImportError:  # Windows: no flock; a file open in another process cannot be removed there
    fcntl = None

# mkstemp creates files readable by the owner only; the final file should get
# the usual permissions (0o666 minus the umask), as open() would give it.
_UMASK = os.umask(0)
os.umask(_UMASK)


def write_atomically(path, write):
    """Call ``write(file)`` on a binary temporary file, then move it to ``path``."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    prefix = f".{os.path.basename(path)}."
    _remove_stale(directory, prefix)
    fd, temporary = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            if fcntl is not None:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            os.fchmod(f.fileno(), 0o666 & ~_UMASK)
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(directory)


def _remove_stale(directory, prefix):
    """Remove the temporaries of earlier saves of one target whose writers are gone."""
    for stale in glob.glob(os.path.join(glob.escape(directory), glob.escape(prefix) + "*.tmp")):
        try:
            fd = os.open(stale, os.O_RDONLY)
        except OSError:  # removed meanwhile by its writer
            continue
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # fails while its writer lives
            os.unlink(stale)
        except OSError:
            pass
        finally:
            os.close(fd)


def _fsync_directory(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # not every platform lets a directory be opened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
