"""Weights downloads (tfgen.features.downloads): fetched as Keras fetches its
own, into the Keras cache, from a local server on 127.0.0.1 standing in for
the network; never with --offline / TFGEN_OFFLINE=1."""

import hashlib
import http.server
import os
import threading

import pytest

from tfgen.features import downloads, inception

PAYLOAD = b"not really InceptionV3, but bytes to fetch" * 1000


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A file server on 127.0.0.1 serving the weights file; yields (url, requests)."""
    served = tmp_path / "served"
    served.mkdir()
    (served / inception.INCEPTION_WEIGHTS_FILE).write_bytes(PAYLOAD)
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(served), **kwargs)

        def do_GET(self):
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/{inception.INCEPTION_WEIGHTS_FILE}"
    monkeypatch.setattr(inception, "INCEPTION_WEIGHTS_URL", url)
    monkeypatch.setattr(inception, "INCEPTION_WEIGHTS_MD5", hashlib.md5(PAYLOAD).hexdigest())
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv(downloads.OFFLINE_VARIABLE, raising=False)
    yield url, requests
    httpd.shutdown()


def test_missing_weights_are_downloaded_into_the_keras_cache_once(server, tmp_path):
    _, requests = server
    path = inception.find_inception_weights()
    assert path == str(tmp_path / "keras_home" / "models" / inception.INCEPTION_WEIGHTS_FILE)
    with open(path, "rb") as f:
        assert f.read() == PAYLOAD
    assert inception.find_inception_weights() == path  # found in the cache: no second request
    assert len(requests) == 1


def test_offline_forbids_the_download_and_says_how_it_was_turned_off(server, monkeypatch, tmp_path):
    _, requests = server
    downloads.go_offline()
    assert downloads.is_offline()
    with pytest.raises(FileNotFoundError, match=r"could not be downloaded \(downloads are off \(--offline or "
                                                r"TFGEN_OFFLINE=1\)\)\. Put the Keras file"):  # fmt: skip
        inception.find_inception_weights()
    assert requests == [] and not (tmp_path / "keras_home" / "models" / inception.INCEPTION_WEIGHTS_FILE).exists()


def test_a_corrupted_download_is_refused_and_not_kept(server, monkeypatch, tmp_path):
    monkeypatch.setattr(inception, "INCEPTION_WEIGHTS_MD5", "0" * 32)
    with pytest.raises(FileNotFoundError, match="could not be downloaded"):
        inception.find_inception_weights()
    assert not (tmp_path / "keras_home" / "models" / inception.INCEPTION_WEIGHTS_FILE).exists()


def test_an_unanswered_download_fails_with_the_reason(monkeypatch, tmp_path):
    monkeypatch.setattr(inception, "INCEPTION_WEIGHTS_URL", "http://127.0.0.1:9/nothing-listens-here.h5")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.delenv(downloads.OFFLINE_VARIABLE, raising=False)
    with pytest.raises(FileNotFoundError, match=r"InceptionV3 weights are not on this machine and could not be "
                                                r"downloaded \(.+\)\. Put the Keras file"):  # fmt: skip
        inception.find_inception_weights()


@pytest.mark.parametrize("value, offline", [("1", True), ("true", True), ("0", False), ("", False)])
def test_the_environment_variable(monkeypatch, value, offline):
    monkeypatch.setenv(downloads.OFFLINE_VARIABLE, value)
    assert downloads.is_offline() is offline
