"""Where datasets are looked for, in order, and where downloads go.

1. an explicit directory (``--data-dir``),
2. ``$MINIDL_DATA``,
3. ``~/.cache/minidl``,
4. the system places distribution packages install to: ``/usr/local/share/datasets``
   and ``/usr/share/datasets`` (Debian's ``dataset-fashion-mnist`` installs
   ``/usr/share/datasets/fashion-mnist``).

Downloads go to the first of 1-3 that is given (``~/.cache/minidl`` by default).

>>> search_roots("/data")[0]
'/data'
"""

import os

SYSTEM_ROOTS = ("/usr/local/share/datasets", "/usr/share/datasets")


def cache_root():
    return os.path.join(os.path.expanduser("~"), ".cache", "minidl")


def search_roots(data_dir=None):
    """The directories to look in, in order, without duplicates."""
    roots = [data_dir, os.environ.get("MINIDL_DATA"), cache_root(), *SYSTEM_ROOTS]
    seen, ordered = set(), []
    for root in roots:
        if root and os.path.abspath(root) not in seen:
            seen.add(os.path.abspath(root))
            ordered.append(root)
    return ordered


def download_root(data_dir=None):
    """Where ``--download`` writes: the explicit directory, else $MINIDL_DATA, else the cache."""
    return data_dir or os.environ.get("MINIDL_DATA") or cache_root()
