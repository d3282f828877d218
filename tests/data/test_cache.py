"""The partition cache: hits give identical clients, keys follow data and config."""

import os

import numpy as np
import pytest

from fedrun.data import centralized
from fedrun.data.cache import PartitionCache, cache_key, fingerprint_arrays, fingerprint_files
from fedrun.data.centralized import SplitParams, federate

X = np.random.default_rng(0).normal(size=(300, 4)).astype(np.float32)
Y = np.repeat(np.arange(3), 100).astype(np.int32)
SPLIT = SplitParams(
    num_clients=6,
    partition={"type": "dirichlet", "alpha": 0.5, "min_size": 5},
    central_test_size=30,
)


def client_indices(data):
    train = {c: data.train.indices_for(c).tolist() for c in data.train.client_ids}
    test = {c: data.test.indices_for(c).tolist() for c in data.test.client_ids}
    return train, test, data.central_test["y"].tolist()


def entries(directory):
    folder = directory / "partitions"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("FEDRUN_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_hit_gives_identical_clients_without_recomputing(cache_dir, monkeypatch):
    first = federate("toy", X, Y, 3, SPLIT, seed=1)
    assert len(entries(cache_dir)) == 1

    def must_not_run(*args, **kwargs):
        raise AssertionError("a cache hit recomputed the split")

    monkeypatch.setattr(centralized, "split_clients", must_not_run)
    second = federate("toy", X, Y, 3, SPLIT, seed=1)
    assert client_indices(second) == client_indices(first)
    assert list(second.train.client_ids) == list(first.train.client_ids)


def test_cached_split_equals_uncached(cache_dir):
    cached = federate("toy", X, Y, 3, SPLIT, seed=2)
    fresh = federate("toy", X, Y, 3, SplitParams(**{**SPLIT.__dict__, "cache": False}), seed=2)
    assert client_indices(cached) == client_indices(fresh)


@pytest.mark.parametrize(
    "change",
    [
        dict(seed=3),
        dict(split=SplitParams(**{**SPLIT.__dict__, "num_clients": 5})),
        dict(split=SplitParams(**{**SPLIT.__dict__, "partition": {"type": "iid"}})),
        dict(x=X + 1.0),
        dict(y=Y[::-1].copy()),
    ],
    ids=["seed", "num-clients", "partitioner", "features", "labels"],
)
def test_key_follows_data_and_config(cache_dir, change):
    base = dict(x=X, y=Y, split=SPLIT, seed=1)
    federate("toy", base["x"], base["y"], 3, base["split"], base["seed"])
    changed = {**base, **change}
    federate("toy", changed["x"], changed["y"], 3, changed["split"], changed["seed"])
    assert len(entries(cache_dir)) == 2


def test_cache_off_writes_nothing(cache_dir):
    federate("toy", X, Y, 3, SplitParams(**{**SPLIT.__dict__, "cache": False}), seed=1)
    assert entries(cache_dir) == []


def test_corrupt_entry_is_recomputed(cache_dir):
    expected = client_indices(federate("toy", X, Y, 3, SPLIT, seed=1))
    (entry,) = (cache_dir / "partitions").iterdir()
    entry.write_bytes(b"not a zip file")
    assert client_indices(federate("toy", X, Y, 3, SPLIT, seed=1)) == expected
    assert entry.read_bytes()[:2] == b"PK"


def test_entry_for_other_data_is_not_trusted(cache_dir):
    key = "k"
    cache = PartitionCache(cache_dir)
    cache.store(key, {"a": np.arange(3)})
    stored = cache.get_or_compute(
        key, lambda: {"a": np.arange(5)}, lambda arrays: len(arrays["a"]) == 5
    )
    assert stored["a"].tolist() == list(range(5))


def test_unwritable_cache_warns_and_still_splits(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("FEDRUN_CACHE_DIR", str(blocker))
    with pytest.warns(UserWarning, match="not writable"):
        data = federate("toy", X, Y, 3, SPLIT, seed=1)
    assert len(data.train.client_ids) == 6


def test_fingerprints_and_keys_are_content_hashes(tmp_path):
    assert fingerprint_arrays(X, Y) == fingerprint_arrays(X.copy(), Y.copy())
    assert fingerprint_arrays(X, Y) != fingerprint_arrays(X, Y.astype(np.int64))
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_bytes(b"123")
    b.write_bytes(b"123")
    assert fingerprint_files([str(a)]) == fingerprint_files([str(b)])
    b.write_bytes(b"124")
    assert fingerprint_files([str(a)]) != fingerprint_files([str(b)])
    assert (
        cache_key({"a": 1, "b": [1, 2]})
        == cache_key({"b": [1, 2], "a": 1})
        != cache_key({"a": 2, "b": [1, 2]})
    )


def test_default_directory_is_under_home(monkeypatch, tmp_path):
    monkeypatch.delenv("FEDRUN_CACHE_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert PartitionCache().directory == tmp_path / ".cache" / "fedrun" / "partitions"
    assert not os.path.exists(tmp_path / ".cache")
