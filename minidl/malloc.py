"""Keep freed memory for the next training step instead of handing it back (glibc only).

A training step allocates and frees the same large arrays (activations, im2col
columns, gradients) every step. glibc's malloc serves a block above its mmap
threshold with fresh pages from the system, and gives the top of its heap back
to the system once more than its trim threshold lies free there. Either way
the next step writes to fresh pages, and the kernel zeroes each one on first
touch. On the 2-core development machine that page faulting took a fifth
of every training step: a LeNet-5 step (batch 128) went from 54 ms to 42 ms
with the thresholds below, a ResNet-20 step from 345 ms to 270 ms (compare
``MINIDL_KEEP_FREED_MEMORY=0 minidl bench`` with ``minidl bench``).

``keep_freed_memory()`` raises the mmap threshold to glibc's maximum (32 MiB
on 64-bit: larger blocks are still mapped and unmapped) and the trim threshold
to 1 GiB, so freed blocks stay in the heap for reuse. The cost is that the
process keeps up to that much freed memory rather than returning it. minidl
calls it once, when a CPU op first takes over the cores (``minidl.threads``);
set ``MINIDL_KEEP_FREED_MEMORY=0`` to leave malloc as it is. Elsewhere than
glibc it does nothing.

>>> keep_freed_memory() in (True, False)
True
"""

import ctypes
import ctypes.util
import functools
import os

M_TRIM_THRESHOLD = -1  # mallopt's parameter numbers, from glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2**20  # glibc's upper limit for it on 64-bit
TRIM_THRESHOLD = 2**30


@functools.cache
def keep_freed_memory():
    """Set glibc's mmap and trim thresholds as above (once); True if they were set."""
    if os.environ.get("MINIDL_KEEP_FREED_MEMORY", "1") == "0":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    # mallopt returns 1 on success; setting either threshold also turns off glibc's
    # own adjusting of them.
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
