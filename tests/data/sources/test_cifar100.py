"""`cifar100` on tiny files in TFF's HDF5 and SQLite layouts."""

import h5py
import numpy as np
import pytest

import fedrun.data.sources  # noqa: F401  (registers the sources)
from fedrun.data.errors import DataError
from fedrun.data.preprocess import PreprocessConfig
from fedrun.data.registry import DATASETS, DataContext
from tests.data.tff_format import write_tff_sqlite

TRAIN = {"0": 3, "1": 2}
TEST = {"0": 2}


def images(n, seed):
    return np.random.default_rng(seed).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)


def write_cifar_hdf5(directory):
    for name, clients in (("train", TRAIN), ("test", TEST)):
        with h5py.File(directory / f"fed_cifar100_{name}.h5", "w") as f:
            for k, (cid, n) in enumerate(clients.items()):
                group = f.create_group(f"examples/{cid}")
                group.create_dataset("image", data=images(n, k))
                group.create_dataset("label", data=np.arange(n, dtype=np.int64) * 40)
                group.create_dataset("coarse_label", data=np.zeros(n, np.int64))
    return directory


def build(node):
    return DATASETS.build(
        {"type": "cifar100", **node},
        "dataset",
        context=DataContext(0, PreprocessConfig()),
        config_path="dataset",
    )


def test_hdf5_clients_and_central_test(tmp_path):
    data = build({"path": str(write_cifar_hdf5(tmp_path))})
    assert list(data.train.client_ids) == ["0", "1"] and [
        data.train.num_examples(c) for c in ("0", "1")
    ] == [3, 2]
    arrays = data.train.arrays_for("1")
    np.testing.assert_allclose(arrays["x"], images(2, 1) / 255.0, rtol=1e-6)
    assert arrays["y"].tolist() == [0, 40] and data.num_classes == 100 and data.test is None
    assert data.central_test["x"].shape == (2, 32, 32, 3)


def test_sqlite_split(tmp_path):
    rows = {
        cid: [
            {
                "image": images(n, k)[i].astype(np.int64),
                "label": np.int64(i),
                "coarse_label": np.int64(0),
            }
            for i in range(n)
        ]
        for k, (cid, n) in enumerate(TRAIN.items())
    }
    write_tff_sqlite(tmp_path / "cifar100.sqlite", {"train": rows, "test": {"9": rows["1"]}})
    data = build({"path": str(tmp_path), "format": "tff_sqlite"})
    np.testing.assert_allclose(data.train.arrays_for("0")["x"], images(3, 0) / 255.0, rtol=1e-6)
    assert data.central_test["y"].tolist() == [0, 1]


def test_missing_files_say_how_to_get_them(tmp_path):
    with pytest.raises(
        DataError, match=r"fed_cifar100_train\.h5: file not found; .*fedrun-data download cifar100"
    ):
        build({"path": str(tmp_path)})
