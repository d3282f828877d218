"""`mnist` (and the loader `fashion_mnist` shares) on tiny files in the real layouts (IDX gzip/plain, Keras npz)."""

import numpy as np
import pytest

from fedrun.data.errors import DataError
from fedrun.data.idx import write_idx
from fedrun.data.preprocess import PreprocessConfig
from fedrun.data.registry import DATASETS, DataContext
from fedrun.data.sources import mnist  # noqa: F401  (registers the source)

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


@pytest.mark.parametrize("source", ["mnist", "fashion_mnist"], ids=["mnist", "fashion"])
@pytest.mark.parametrize("suffix", [".gz", ""], ids=["gzip", "plain"])
def test_idx_directory_becomes_clients(tmp_path, source, suffix):
    data = build({"type": source, "path": str(write_set(tmp_path / "d", suffix)), **SPLIT})
    assert data.name == source and data.num_classes == 10
    assert len(data.train.client_ids) == 4
    assert len(data.central_test["y"]) == 8
    total = sum(
        data.train.num_examples(c) + data.test.num_examples(c) for c in data.train.client_ids
    )
    assert total == 40 + 12 - 8
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


def test_keras_npz(tmp_path):
    (xa, ya), (xb, yb) = images(30, 0), images(10, 1)
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=xa, y_train=ya, x_test=xb, y_test=yb)
    data = build({"type": "mnist", "path": str(path), **SPLIT})
    assert (
        sum(data.train.num_examples(c) + data.test.num_examples(c) for c in data.train.client_ids)
        == 32
    )


def test_default_location_is_keras_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    write_set(tmp_path / "datasets" / "mnist")
    assert len(build({"type": "mnist", **SPLIT}).train.client_ids) == 4


def test_missing_files_name_the_path_and_how_to_get_them(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere"
    with pytest.raises(DataError) as info:
        build({"type": "mnist", "path": str(missing), **SPLIT})
    assert str(missing) in str(info.value) and "mnist.npz" in str(info.value)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(DataError) as info:
        build({"type": "mnist", **SPLIT})
    assert str(tmp_path / "datasets" / "mnist.npz") in str(info.value)


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
