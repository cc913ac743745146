"""Fetching a file over HTTP(S) with a progress bar and an MD5 check.

The bytes stream into a hidden temporary file in the destination directory
while their MD5 is computed (``minidl.atomic.write_atomically``); only a complete
file whose checksum matches is renamed to its final name, so an interrupted or corrupt download never leaves
a partial file where a dataset reader would find it. Tar archives are unpacked
the same way: into a temporary directory first, then moved into place.
"""

import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request

from tqdm import tqdm

from minidl.atomic import write_atomically

CHUNK = 1 << 20


class DownloadError(OSError):
    """No URL gave the file with the expected checksum; the message lists what each URL did."""


def md5_of(path):
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(urls, path, md5, progress=True, timeout=30):
    """Fetch the first of ``urls`` that answers with the right bytes into ``path``.

    Raises DownloadError naming every URL and why it failed.
    """
    failures = []
    for url in urls:
        try:
            _fetch(url, path, md5, progress, timeout)
            return path
        except (OSError, http.client.HTTPException, ValueError) as error:
            reason = error.reason if isinstance(error, urllib.error.URLError) else error
            failures.append(f"{url}: {reason}")
    raise DownloadError(f"could not download {os.path.basename(path)}:\n  " + "\n  ".join(failures))


def _fetch(url, path, md5, progress, timeout):
    request = urllib.request.Request(url, headers={"User-Agent": "minidl"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        total = int(response.headers.get("Content-Length") or 0) or None

        def stream(out):
            """Copy the response to ``out``; raising here leaves nothing at ``path``."""
            digest = hashlib.md5(usedforsecurity=False)
            received = 0
            with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                      desc=os.path.basename(path), disable=not progress) as bar:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
            if total is not None and received != total:
                raise ValueError(f"the connection closed after {received} of {total} bytes")
            if digest.hexdigest() != md5:
                raise ValueError(f"checksum mismatch: MD5 {digest.hexdigest()}, expected {md5}")

        write_atomically(path, stream)


def unpack_tar(archive, directory):
    """Extract ``archive`` into ``directory``; each top-level entry appears whole or not at all."""
    staging = tempfile.mkdtemp(prefix=".unpack-", dir=directory)
    try:
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                name = os.path.normpath(member.name)
                if name.startswith(("..", "/")) or not (member.isfile() or member.isdir()):
                    raise ValueError(
                        f"{archive}: refusing to extract {member.name!r} (outside the folder or not a file)"
                    )
            tar.extractall(staging, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
        for entry in os.listdir(staging):
            final = os.path.join(directory, entry)
            if os.path.isdir(final):
                shutil.rmtree(final)
            os.replace(os.path.join(staging, entry), final)
    except (tarfile.TarError, EOFError) as error:
        raise ValueError(f"{archive} is not a valid tar archive: {error}") from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)

