"""Downloads from a loopback server: checksums, resuming, atomic placement, clear errors."""

import hashlib
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from fedrun.data.download import MIRROR_ENV, DownloadError, Remote, fetch, sha256_of
from tests.data.loopback import serve

BODY = np.random.default_rng(0).bytes(200_000)
SHA = hashlib.sha256(BODY).hexdigest()


def remote(url, sha256=SHA, size=None):
    return Remote(url + "/data.bin", sha256=sha256, size=size)


def test_download_verifies_and_places_the_file(tmp_path):
    with serve({"data.bin": BODY}) as server:
        path = fetch(remote(server.url), str(tmp_path), progress=False)
        again = fetch(remote(server.url), str(tmp_path), progress=False)
    assert path == again == str(tmp_path / "data.bin")
    assert open(path, "rb").read() == BODY
    assert os.listdir(tmp_path) == ["data.bin"]
    assert len(server.requests) == 1  # the second call found the verified file


def test_dropped_connection_resumes_with_a_range_request(tmp_path):
    with serve({"data.bin": BODY}, drop_after={"data.bin": 70_000}) as server:
        path = fetch(remote(server.url), str(tmp_path), progress=False)
    assert open(path, "rb").read() == BODY
    assert server.requests == [("data.bin", None), ("data.bin", "bytes=70000-")]


def test_server_ignoring_range_restarts_the_partial_file(tmp_path):
    (tmp_path / "data.bin.partial").write_bytes(BODY[:1000])
    with serve({"data.bin": BODY}, ignore_range=True) as server:
        path = fetch(remote(server.url), str(tmp_path), progress=False)
    assert open(path, "rb").read() == BODY
    assert server.requests == [("data.bin", "bytes=1000-")]


def test_corrupted_body_is_refused_with_the_checksum_error(tmp_path):
    corrupted = bytearray(BODY)
    corrupted[12345] ^= 0xFF
    with serve({"data.bin": bytes(corrupted)}) as server:
        with pytest.raises(DownloadError) as err:
            fetch(remote(server.url), str(tmp_path), progress=False)
    message = str(err.value)
    assert f"{server.url}/data.bin" in message and str(tmp_path / "data.bin") in message
    assert f"expected {SHA}, got {hashlib.sha256(corrupted).hexdigest()}" in message
    assert os.listdir(tmp_path) == []  # neither a final nor a partial file is kept


def test_network_failure_names_url_and_file(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(
        DownloadError,
        match=rf"127\.0\.0\.1:{port}/data\.bin to .*data\.bin: network failure after 2 attempts",
    ):
        fetch(remote(f"http://127.0.0.1:{port}"), str(tmp_path), retries=1, progress=False)
    assert not (tmp_path / "data.bin").exists()


def test_http_error_names_the_status(tmp_path):
    with serve({}) as server:
        with pytest.raises(DownloadError, match="HTTP 404"):
            fetch(remote(server.url), str(tmp_path), progress=False)


def test_unpinned_file_is_trusted_on_first_use_then_checked(tmp_path, capsys):
    with serve({"data.bin": BODY}) as server:
        path = fetch(remote(server.url, sha256=None), str(tmp_path), progress=False)
        assert (tmp_path / "data.bin.sha256").read_text().split()[0] == SHA
        assert "trusted on first use" in capsys.readouterr().err
        os.remove(path)
        server.files["data.bin"] = BODY[::-1]
        with pytest.raises(DownloadError, match=f"expected {SHA}"):
            fetch(remote(server.url, sha256=None), str(tmp_path), progress=False)


def test_mirror_replaces_the_host_and_keeps_the_file_name(tmp_path, monkeypatch):
    original = Remote("https://example.invalid/sets/data.bin", sha256=SHA)
    with serve({"data.bin": BODY}) as server:
        monkeypatch.setenv(MIRROR_ENV, server.url)
        path = fetch(original, str(tmp_path), progress=False)
    assert sha256_of(path) == SHA


def test_progress_bar_reports_percentages(tmp_path, capsys):
    with serve({"data.bin": BODY}) as server:
        fetch(remote(server.url), str(tmp_path))
    err = capsys.readouterr().err
    assert "data.bin: 100.0% 0.2 MB/0.2 MB" in err


KILLED_DOWNLOAD = """
import sys
from fedrun.data.download import Remote, fetch
fetch(Remote(sys.argv[1], sha256=sys.argv[2]), sys.argv[3], progress=False)
"""


def test_killed_download_leaves_no_complete_file_and_resumes(tmp_path):
    with serve({"data.bin": BODY}, stall_after={"data.bin": 50_000}) as server:
        child = subprocess.Popen(
            [sys.executable, "-c", KILLED_DOWNLOAD, f"{server.url}/data.bin", SHA, str(tmp_path)]
        )
        partial = tmp_path / "data.bin.partial"
        deadline = time.monotonic() + 30
        while (
            not (partial.exists() and partial.stat().st_size == 50_000)
            and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        child.kill()
        child.wait(10)
        server.release.set()
        assert partial.stat().st_size == 50_000 and not (tmp_path / "data.bin").exists()
        path = fetch(remote(server.url), str(tmp_path), progress=False)
    assert open(path, "rb").read() == BODY
    assert server.requests[-1] == ("data.bin", "bytes=50000-")
