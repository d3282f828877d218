"""`fashion_mnist`: where its files are looked for, and what a missing file says."""

import pytest

from fedrun.data.errors import DataError
from fedrun.data.sources import fashion_mnist
from tests.data.sources.test_mnist import SPLIT, build, write_set


def test_debian_directory_comes_first(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", str(write_set(tmp_path / "debian", train=20)))
    write_set(tmp_path / "keras" / "datasets" / "fashion-mnist", train=40)
    data = build({"type": "fashion_mnist", **SPLIT})
    assert (
        sum(data.train.num_examples(c) + data.test.num_examples(c) for c in data.train.client_ids)
        == 20 + 12 - 8
    )


def test_keras_cache_when_debian_package_is_absent(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", str(tmp_path / "not-installed"))
    write_set(tmp_path / "datasets" / "fashion-mnist")
    assert len(build({"type": "fashion_mnist", **SPLIT}).train.client_ids) == 4


def test_missing_default_lists_every_place_looked_and_the_package(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", str(tmp_path / "debian"))
    with pytest.raises(DataError) as info:
        build({"type": "fashion_mnist", **SPLIT})
    message = str(info.value)
    assert (
        str(tmp_path / "debian") in message
        and str(tmp_path / "datasets" / "fashion-mnist") in message
    )
    assert "apt-get install dataset-fashion-mnist" in message


@pytest.mark.parametrize("exists", [False, True], ids=["missing", "a-file"])
def test_configured_path_must_be_a_directory(tmp_path, exists):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    if exists:
        path.write_bytes(b"")
    with pytest.raises(DataError, match="dataset-fashion-mnist") as info:
        build({"type": "fashion_mnist", "path": str(path), **SPLIT})
    assert info.value.source == str(path)
