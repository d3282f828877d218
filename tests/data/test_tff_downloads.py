"""TFF's sets from a loopback mirror: archives extracted, LZMA files decompressed, sources find them."""

import dataclasses
import hashlib
import os

import pytest

from fedrun.data import tff_downloads
from fedrun.data.download import Remote
from fedrun.data.errors import DataError
from fedrun.data.tff_downloads import CATALOG, download, locate
from tests.data.loopback import serve
from tests.data.sources.test_emnist import write_emnist
from tests.data.tff_format import emnist_rows, lzma_of, tar_bz2, write_tff_sqlite


def pin(monkeypatch, name, fmt, body):
    """Points the catalog's checksum at a test-made body (the real pins are for the real files)."""
    artifact = CATALOG[name][fmt]
    remote = dataclasses.replace(artifact.remote, sha256=hashlib.sha256(body).hexdigest())
    monkeypatch.setitem(CATALOG[name], fmt, dataclasses.replace(artifact, remote=remote))


@pytest.fixture
def digits_archive(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    paths = [
        write_emnist(src / "fed_emnist_digitsonly_train.h5"),
        write_emnist(src / "fed_emnist_digitsonly_test.h5"),
    ]
    return tar_bz2(paths)


def test_every_hdf5_archive_has_a_pinned_sha256():
    for name, formats in CATALOG.items():
        sha = formats["hdf5"].remote.sha256
        assert sha is not None and len(sha) == 64 and int(sha, 16) >= 0, name


def test_hdf5_archive_is_extracted_and_removed(tmp_path, monkeypatch, digits_archive):
    pin(monkeypatch, "emnist_digits", "hdf5", digits_archive)
    with serve({"fed_emnist_digitsonly.tar.bz2": digits_archive}) as server:
        files = download("emnist_digits", "hdf5", str(tmp_path / "tff"), server.url, progress=False)
    assert [os.path.basename(f) for f in files] == [
        "fed_emnist_digitsonly_train.h5",
        "fed_emnist_digitsonly_test.h5",
    ]
    assert sorted(os.listdir(tmp_path / "tff")) == [
        "downloads",
        "fed_emnist_digitsonly_test.h5",
        "fed_emnist_digitsonly_train.h5",
    ]
    assert os.listdir(tmp_path / "tff" / "downloads") == []


def test_wrong_archive_is_refused_by_the_pinned_checksum(tmp_path, digits_archive):
    with serve({"fed_emnist_digitsonly.tar.bz2": digits_archive}) as server:
        with pytest.raises(
            tff_downloads.DownloadError, match="SHA-256 mismatch: expected 55333deb"
        ):
            download("emnist_digits", "hdf5", str(tmp_path), server.url, progress=False)
    assert not (tmp_path / "fed_emnist_digitsonly_train.h5").exists()


def test_archive_without_the_expected_members(tmp_path, monkeypatch):
    other = tmp_path / "other.h5"
    other.write_bytes(b"x")
    body = tar_bz2([other])
    pin(monkeypatch, "shakespeare", "hdf5", body)
    with serve({"shakespeare.tar.bz2": body}) as server:
        with pytest.raises(
            tff_downloads.DownloadError,
            match=r"the archive lacks \['shakespeare_train.h5', 'shakespeare_test.h5'\]",
        ):
            download("shakespeare", "hdf5", str(tmp_path / "tff"), server.url, progress=False)


def test_sqlite_file_is_decompressed_and_trusted_on_first_use(tmp_path):
    database = write_tff_sqlite(
        tmp_path / "emnist_all.sqlite", {"digits_only_train": {"w": emnist_rows(3, 0)}}
    )
    with serve({"emnist_all.sqlite.lzma": lzma_of(database)}) as server:
        (file,) = download("emnist", "sqlite", str(tmp_path / "tff"), server.url, progress=False)
    assert open(file, "rb").read() == open(database, "rb").read()
    assert os.listdir(tmp_path / "tff" / "downloads") == ["emnist_all.sqlite.lzma.sha256"]


def test_locate_downloads_only_when_asked(tmp_path, monkeypatch, digits_archive):
    pin(monkeypatch, "emnist_digits", "hdf5", digits_archive)
    files = ["fed_emnist_digitsonly_train.h5"]
    target = str(tmp_path / "data")
    assert locate("emnist_digits", "hdf5", target, files, False, []) == target
    assert not os.path.exists(target)
    with serve({"fed_emnist_digitsonly.tar.bz2": digits_archive}) as server:
        monkeypatch.setenv("FEDRUN_DATA_MIRROR", server.url)
        assert locate("emnist_digits", "hdf5", target, files, True, []) == target
    assert os.path.exists(os.path.join(target, files[0]))


def test_failed_download_in_a_run_is_a_data_error(tmp_path, monkeypatch):
    with serve({}) as server:
        monkeypatch.setenv("FEDRUN_DATA_MIRROR", server.url)
        with pytest.raises(DataError, match=r"dataset.download: .*fed_emnist.tar.bz2: HTTP 404"):
            locate("emnist", "hdf5", str(tmp_path), ["fed_emnist_train.h5"], True, [])


def test_remote_names_come_from_the_url():
    assert Remote("https://h/x/fed_cifar100.tar.bz2").filename == "fed_cifar100.tar.bz2"
    assert CATALOG["cifar100"]["sqlite"].remote.size == 153019920
