"""--download against a local HTTP server on 127.0.0.1 serving files built here.

The official hosts are not reachable from CI, so each test swaps a dataset's
mirrors (and MD5s) for this server's; the code under test is the real one.
"""

import dataclasses
import functools
import hashlib
import http.server
import io
import os
import socket
import tarfile
import threading

import numpy as np
import pytest

from minidl.data import DownloadError, catalog, load_dataset
from minidl.data.download import download
from test_data_catalog import NAMES, make_idx_dataset
from test_data_cifar import make_cifar10


class Handler(http.server.SimpleHTTPRequestHandler):
    requests = []

    def log_message(self, *args):
        pass

    def do_GET(self):
        Handler.requests.append(self.path)
        if self.path.startswith("/short/"):  # promises the whole file, sends half, hangs up
            with open(os.path.join(self.directory, self.path[len("/short/"):]), "rb") as f:
                data = f.read()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()


@pytest.fixture
def server(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    Handler.requests = []
    yield served, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def md5(path):
    return hashlib.md5(open(path, "rb").read()).hexdigest()


def use_mirrors(monkeypatch, name, mirrors, md5s=None):
    spec = catalog.spec(name)
    files = spec.source.files if md5s is None else tuple(zip([f for f, _ in spec.source.files], md5s))
    source = dataclasses.replace(spec.source, mirrors=tuple(mirrors), files=files)
    monkeypatch.setitem(catalog._SPECS, name, dataclasses.replace(spec, source=source))


def serve_mnist(served):
    make_idx_dataset(served, train=6, test=4, gz=True)
    return [md5(served / (name + ".gz")) for name in NAMES]


def leftovers(directory):
    return sorted(n for n in os.listdir(directory) if n.startswith(".")) if os.path.isdir(directory) else []


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_download_with_progress_and_checksum(server, tmp_path, monkeypatch, capsys):
    served, url = server
    use_mirrors(monkeypatch, "mnist", [url], serve_mnist(served))
    dest = tmp_path / "data"
    train = load_dataset("mnist", "train", data_dir=str(dest), download=True)
    assert len(train) == 6
    for name in NAMES:
        assert md5(dest / "mnist" / (name + ".gz")) == md5(served / (name + ".gz"))
    assert "train-images-idx3-ubyte.gz" in capsys.readouterr().err  # the progress bar
    assert leftovers(dest / "mnist") == []
    # A second call finds the files and fetches nothing.
    Handler.requests = []
    load_dataset("mnist", "test", data_dir=str(dest), download=True)
    assert Handler.requests == []


def test_next_mirror_when_the_first_fails(server, tmp_path, monkeypatch):
    served, url = server
    use_mirrors(monkeypatch, "mnist", [url + "missing/", url], serve_mnist(served))
    assert len(load_dataset("mnist", "test", data_dir=str(tmp_path), download=True, progress=False)) == 4


def test_checksum_mismatch_leaves_no_file(server, tmp_path, monkeypatch):
    served, url = server
    md5s = serve_mnist(served)
    md5s[0] = "0" * 32
    use_mirrors(monkeypatch, "mnist", [url], md5s)
    with pytest.raises(DownloadError, match="checksum mismatch") as info:
        load_dataset("mnist", "train", data_dir=str(tmp_path), download=True, progress=False)
    assert "put the files in " + str(tmp_path / "mnist") in str(info.value)
    assert not (tmp_path / "mnist" / "train-images-idx3-ubyte.gz").exists()
    assert leftovers(tmp_path / "mnist") == []


def test_cut_connection_leaves_no_partial_file(server, tmp_path):
    served, url = server
    data = np.random.default_rng(0).bytes(300_000)
    (served / "big.bin").write_bytes(data)
    target = tmp_path / "big.bin"
    with pytest.raises(DownloadError, match=r"short/big\.bin: .*(closed after|IncompleteRead)"):
        download([url + "short/big.bin"], str(target), hashlib.md5(data).hexdigest(), progress=False)
    assert not target.exists() and leftovers(tmp_path) == []
    download([url + "big.bin"], str(target), hashlib.md5(data).hexdigest(), progress=False)
    assert target.read_bytes() == data


def test_offline_error_says_where_to_put_the_files(tmp_path, monkeypatch):
    use_mirrors(monkeypatch, "fashion-mnist", [f"http://127.0.0.1:{closed_port()}/"])
    with pytest.raises(DownloadError) as info:
        catalog.download_dataset("fashion-mnist", data_dir=str(tmp_path / "nowhere"), progress=False)
    message = str(info.value)
    assert "could not download train-images-idx3-ubyte.gz" in message
    assert "Without a network" in message
    assert str(tmp_path / "nowhere" / "fashion-mnist") in message
    assert "8d4fb7e6c68d591d4c3dfef9ec88bf0d" in message  # the official MD5 to check a hand download


def test_cifar_archive_is_downloaded_and_unpacked(server, tmp_path, monkeypatch):
    served, url = server
    build = tmp_path / "build"
    train_images, train_labels, _, _ = make_cifar10(build, "python")
    archive = served / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(build / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    use_mirrors(monkeypatch, "cifar10", [url], [md5(archive)])
    dest = tmp_path / "data"
    train = load_dataset("cifar10", "train", data_dir=str(dest), download=True, progress=False)
    np.testing.assert_array_equal(train.images, train_images)
    np.testing.assert_array_equal(train.labels, train_labels)
    assert sorted(os.listdir(dest / "cifar10")) == ["cifar-10-batches-py"]  # archive removed, no staging left


def test_archive_escaping_its_folder_is_refused(server, tmp_path, monkeypatch):
    served, url = server
    archive = served / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("../../evil.txt")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    use_mirrors(monkeypatch, "cifar10", [url], [md5(archive)])
    with pytest.raises(ValueError, match="refusing to extract"):
        load_dataset("cifar10", "train", data_dir=str(tmp_path / "data"), download=True, progress=False)
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "data" / "evil.txt").exists()
