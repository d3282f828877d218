"""`fedrun.data.client_cache`: prepared file-backed clients read once and reused,
least recently used dropped first within a byte bound; arrays handed out read-only;
data attacks poison above the cache; `fedrun.run.build` caches file-backed data
within a quarter of the runtime's memory budget."""

import pickle

import numpy as np
import pytest
import tensorflow as tf

from fedrun.cli import compose_config
from fedrun.data.client_cache import (
    CachedClientData,
    ClientArraysCache,
    cache_file_backed,
    held_bytes,
)
from fedrun.data.client_data import ArrayClientData, FederatedData, StoredClientData
from fedrun.learning.attacks import DataPoisoning
from fedrun.learning.attacks.config import AttackConfig
from fedrun.run import PrepareLoadedData, build, client_cache_bytes
from tests.data.sources.test_emnist import WRITERS, write_emnist

FEATURES = 4  # a 2x2 image, so a backdoor trigger fits
# One example: FEATURES float32 features and an int32 label.
EXAMPLE_BYTES = FEATURES * 4 + 4
SIZES = {"a": 4, "b": 4, "c": 4, "big": 40}
CLIENT_BYTES = SIZES["a"] * EXAMPLE_BYTES


class CountingStore(StoredClientData):
    """A store converting raw integer rows (as a file would hold them), counting reads."""

    def __init__(self, sizes=SIZES) -> None:
        self.raw = {
            cid: np.arange(n * FEATURES, dtype=np.int64).reshape(n, FEATURES) + 100 * k
            for k, (cid, n) in enumerate(sizes.items())
        }
        self.reads: dict[str, int] = {cid: 0 for cid in sizes}
        super().__init__(list(sizes), None)
        self.reads = {cid: 0 for cid in sizes}  # the first client's check at open is not counted

    def _read(self, client_id):
        self.reads[client_id] += 1
        raw = self.raw[client_id]
        return {"x": (raw / 255.0).astype(np.float32), "y": (raw[:, 0] % 10).astype(np.int32)}


def cached(bound, store=None):
    store = store or CountingStore()
    return store, CachedClientData(store, ClientArraysCache(bound))


def assert_same_arrays(a, b):
    assert sorted(a) == sorted(b)
    for key in a:
        np.testing.assert_array_equal(np.asarray(a[key]), np.asarray(b[key]))


def test_repeated_cohort_pools_read_each_client_once_and_match_the_store():
    store, data = cached(10 * CLIENT_BYTES)
    reference = CountingStore()
    cohort = ["c", "a", "b"]
    for _ in range(5):
        pool, positions = data.cohort_pool(cohort)
        expected_pool, expected_positions = reference.cohort_pool(cohort)
        assert_same_arrays(pool, expected_pool)
        assert_same_arrays(dict(enumerate(positions)), dict(enumerate(expected_positions)))
    assert store.reads == {"a": 1, "b": 1, "c": 1, "big": 0}
    assert (data.misses, data.hits) == (3, 12)
    assert reference.reads == {"a": 5, "b": 5, "c": 5, "big": 0}


def test_least_recently_used_client_is_dropped_under_a_two_client_bound():
    store, data = cached(2 * CLIENT_BYTES)
    for cid in ("a", "b", "a", "c"):  # c evicts b, the least recently used
        data.arrays_for(cid)
    assert store.reads == {"a": 1, "b": 1, "c": 1, "big": 0}
    assert len(data.cache) == 2 and data.cache.used_bytes == 2 * CLIENT_BYTES
    data.arrays_for("a")
    data.arrays_for("c")
    assert store.reads["a"] == 1 and store.reads["c"] == 1
    data.arrays_for("b")  # read again; evicts a, now the least recently used
    assert store.reads["b"] == 2
    data.arrays_for("a")
    assert store.reads["a"] == 2
    assert data.cache.used_bytes <= data.cache.max_bytes


def test_asking_a_size_does_not_keep_a_client():
    store, data = cached(2 * CLIENT_BYTES)
    data.arrays_for("a")
    data.arrays_for("b")
    assert data.num_examples("a") == 4  # a look, not a use: a stays least recently used
    data.arrays_for("c")
    data.arrays_for("b")
    data.arrays_for("a")
    assert store.reads == {"a": 2, "b": 1, "c": 1, "big": 0}


def test_a_client_larger_than_the_bound_is_read_every_time():
    store, data = cached(2 * CLIENT_BYTES)
    for _ in range(3):
        data.arrays_for("big")
        data.arrays_for("a")
    assert store.reads["big"] == 3 and store.reads["a"] == 1
    assert data.cache.used_bytes == CLIENT_BYTES


def test_bound_zero_reads_every_time():
    store, data = cached(0)
    for _ in range(3):
        data.cohort_pool(["a", "b"])
    assert store.reads == {"a": 3, "b": 3, "c": 0, "big": 0}
    assert (data.hits, data.misses) == (0, 6) and len(data.cache) == 0


@pytest.mark.parametrize("bound", [0, 10 * CLIENT_BYTES], ids=["uncached", "cached"])
@pytest.mark.parametrize("key", ["x", "y"], ids=["features", "labels"])
def test_arrays_handed_out_are_read_only(bound, key):
    _, data = cached(bound)
    for _ in range(2):  # the miss and the hit
        arrays = data.arrays_for("a")
        with pytest.raises(ValueError, match="read-only"):
            arrays[key][0] = 7
    np.testing.assert_array_equal(data.arrays_for("a")["y"], CountingStore().arrays_for("a")["y"])


def test_replacing_a_key_of_a_handed_out_dict_leaves_the_cache_alone():
    _, data = cached(10 * CLIENT_BYTES)
    arrays = data.arrays_for("a")
    arrays["y"] = np.zeros_like(arrays["y"])
    np.testing.assert_array_equal(data.arrays_for("a")["y"], CountingStore().arrays_for("a")["y"])


def test_ids_sizes_and_spec_are_the_stores():
    store, data = cached(10 * CLIENT_BYTES)
    assert list(data.client_ids) == list(store.client_ids)
    assert data.element_spec == store.element_spec
    assert data.element_spec["x"] == tf.TensorSpec([FEATURES], tf.float32)
    for cid in SIZES:
        assert data.num_examples(cid) == SIZES[cid]
        data.arrays_for(cid)
        assert data.num_examples(cid) == SIZES[cid]  # from the cache now
    assert data.file_backed and store.file_backed
    batch = next(iter(data.dataset_for("a").batch(10)))
    np.testing.assert_array_equal(batch["x"].numpy(), store.arrays_for("a")["x"])


def test_splits_sharing_a_cache_keep_their_clients_apart():
    cache = ClientArraysCache(10 * CLIENT_BYTES)
    train_store, test_store = CountingStore(), CountingStore({"a": 2})
    train, test = CachedClientData(train_store, cache), CachedClientData(test_store, cache)
    assert len(train.arrays_for("a")["y"]) == 4 and len(test.arrays_for("a")["y"]) == 2
    assert len(train.arrays_for("a")["y"]) == 4 and len(test.arrays_for("a")["y"]) == 2
    assert train_store.reads["a"] == 1 and test_store.reads["a"] == 1 and len(cache) == 2


def test_a_view_counts_the_whole_array_it_keeps_alive():
    whole = np.zeros(100, np.float32)
    assert held_bytes({"x": whole[:10]}) == whole.nbytes
    assert held_bytes({"x": whole[:10], "y": whole[50:]}) == whole.nbytes
    assert held_bytes({"x": np.zeros(3, np.float64)}) == 24


def test_negative_bound_is_refused():
    with pytest.raises(ValueError, match="at least 0"):
        ClientArraysCache(-1)


def federated(train, test=None):
    return FederatedData("counting", train, test, None, 10)


@pytest.mark.parametrize(
    "bound, expect_cached", [(0, False), (1000, True)], ids=["bound-zero", "bounded"]
)
def test_cache_file_backed_wraps_only_file_backed_splits(bound, expect_cached):
    in_memory = ArrayClientData(
        {"x": np.zeros((4, FEATURES), np.float32), "y": np.zeros(4, np.int32)},
        {"a": np.arange(4)},
    )
    data = cache_file_backed(federated(CountingStore(), in_memory), bound)
    assert isinstance(data.train, CachedClientData) is expect_cached
    assert data.test is in_memory
    if expect_cached:
        assert data.train.cache.max_bytes == bound
        again = cache_file_backed(data, 10 * bound)
        assert again.train is data.train  # cached once, not twice


@pytest.mark.parametrize(
    "attack",
    [
        AttackConfig(kind="label_flip", clients=["a"]),
        AttackConfig(kind="backdoor", clients=["a"], trigger_size=1, trigger_value=9.0),
    ],
    ids=["label-flip", "backdoor"],
)
def test_poisoning_above_the_cache_poisons_every_read_and_leaves_the_cache_clean(attack):
    store = CountingStore({"a": 4, "b": 4})
    poisoning = DataPoisoning(attack, frozenset(attack.clients), seed=0)
    unpoisoned = cache_file_backed(federated(store), 10 * CLIENT_BYTES)
    poisoned = poisoning(unpoisoned).train
    clean = CountingStore({"a": 4, "b": 4}).arrays_for("a")
    first, second = poisoned.arrays_for("a"), poisoned.arrays_for("a")
    assert_same_arrays(first, second)  # poisoned once per read, never twice over
    assert any(not np.array_equal(first[key], clean[key]) for key in ("x", "y"))
    assert_same_arrays(unpoisoned.train.arrays_for("a"), clean)
    assert_same_arrays(poisoned.arrays_for("b"), unpoisoned.train.arrays_for("b"))
    assert store.reads["a"] == 1


def test_worker_preparation_pickles_and_caches_then_poisons():
    attack = AttackConfig(kind="label_flip", clients=["a"])
    prepare = PrepareLoadedData("1MB", DataPoisoning(attack, frozenset(["a"]), seed=0))
    assert pickle.loads(pickle.dumps(prepare)) == prepare
    prepared = pickle.loads(pickle.dumps(prepare))(federated(CountingStore()))
    clean = CountingStore().arrays_for("a")["y"]
    np.testing.assert_array_equal(prepared.train.arrays_for("a")["y"], 9 - clean)
    assert client_cache_bytes("1MB") == 250_000


@pytest.fixture
def emnist_dir(tmp_path):
    write_emnist(tmp_path / "fed_emnist_digitsonly_train.h5")
    write_emnist(tmp_path / "fed_emnist_digitsonly_test.h5", {w: 2 for w in WRITERS})
    return tmp_path


def built_on_emnist(emnist_dir, *overrides, flatten=False):
    return build(
        compose_config(
            [
                "dataset=emnist_digits",
                f"dataset.path={emnist_dir}",
                "clients_per_round=3",
                "rounds=1",
                "progress=false",
                *(
                    ["model=logreg", "preprocess.flatten=true"]
                    if flatten
                    else ["model=cnn_emnist", "preprocess.flatten=false"]
                ),
                *overrides,
            ]
        )
    )


@pytest.mark.parametrize("flatten", [False, True], ids=["images", "flattened"])
@pytest.mark.parametrize("runtime", ["vectorized", "sequential"], ids=["vectorized", "sequential"])
def test_build_caches_file_backed_data_in_a_quarter_of_the_memory_budget(
    emnist_dir, runtime, flatten
):
    built = built_on_emnist(
        emnist_dir, f"runtime={runtime}", "runtime.memory_budget=400MB", flatten=flatten
    )
    train, test = built.data.train, built.data.test
    assert isinstance(train, CachedClientData) and isinstance(test, CachedClientData)
    assert train.cache is test.cache and train.cache.max_bytes == 100_000_000
    first = train.arrays_for("f0001_41")
    assert_same_arrays(train.arrays_for("f0001_41"), first)
    assert train.hits >= 1


def test_build_poisons_file_backed_data_above_its_cache(emnist_dir):
    built = built_on_emnist(emnist_dir, "attack={kind: label_flip, clients: [f0001_41]}")
    poisoned = built.data.train
    flipped = [poisoned.arrays_for("f0001_41")["y"].tolist() for _ in range(3)]
    assert flipped == [[9, 8, 7]] * 3  # labels 0, 1, 2 flipped on every read, not re-flipped
    assert poisoned.arrays_for("f0000_14")["y"].tolist() == [0, 1, 2, 3, 4]
