"""`cifar100`: TFF's federated CIFAR-100, 500 train clients of 100 images each.

TFF split CIFAR-100's 50,000 training images among 500 clients with a two-level
(Pachinko allocation) Dirichlet process over coarse and fine labels, and its
10,000 test images among 100 other clients (Reddi et al. 2021, "Adaptive Federated
Optimization"). The test clients share no ids with the train clients, so fedrun
joins them into the centralized test set (`eval.centralized`).

Formats (`dataset.format`): `tff_hdf5`, TFF's `fed_cifar100_{train,test}.h5`
(`examples/<client_id>/image` uint8 `[n, 32, 32, 3]`, `.../label` `[n]`), or
`tff_sqlite`, TFF 0.87's `cifar100.sqlite` (splits `train`/`test`, one
`tf.train.Example` per image: `image` int64 [3072], `label`, `coarse_label`).
Pixels become float32 in [0, 1]; labels are the 100 fine classes.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Literal, Optional

import h5py
import numpy as np
import tensorflow as tf

from fedrun.data.client_data import Arrays, ClientData, FederatedData
from fedrun.data.errors import DataError
from fedrun.data.hdf5 import HDF5ClientData, read_dataset
from fedrun.data.registry import DATASETS, DataContext
from fedrun.data.sources.mnist import keras_datasets_dir
from fedrun.data.sqlite_client_data import Features, SQLiteClientData, require_features
from fedrun.data.tff_downloads import locate
from fedrun.data.validate import check_client

IMAGE_SHAPE = (32, 32, 3)
NUM_CLASSES = 100
HOW_TO_GET = (
    "on a machine with network access run `fedrun-data download cifar100` (add --format sqlite for tff_sqlite) "
    "or add dataset.download=true; or extract TFF's fed_cifar100.tar.bz2 and set dataset.path to its directory"
)
ELEMENT_SPEC = {"x": tf.TensorSpec(IMAGE_SHAPE, tf.float32), "y": tf.TensorSpec([], tf.int32)}


def _finish(path: str, client_id: str, image: np.ndarray, label: np.ndarray) -> Arrays:
    if image.shape[1:] != IMAGE_SHAPE or label.shape != (len(image),):
        raise DataError(
            path,
            f"expected images [n, 32, 32, 3] and labels [n], got {list(image.shape)}, {list(label.shape)}",
            client_id,
        )
    arrays = {"x": image.astype(np.float32) / 255.0, "y": label.astype(np.int64)}
    check_client(path, client_id, arrays, NUM_CLASSES, IMAGE_SHAPE, (0.0, 1.0))
    return {"x": arrays["x"], "y": label.astype(np.int32)}


def open_hdf5(path: str) -> ClientData:
    """The clients of one of TFF's `fed_cifar100_*.h5` files, read lazily."""

    def convert(group: h5py.Group, client_id: str) -> Arrays:
        return _finish(
            path,
            client_id,
            read_dataset(group, "image", path, client_id),
            read_dataset(group, "label", path, client_id),
        )

    def count(group: h5py.Group, client_id: str) -> int:
        label = group.get("label")
        return int(label.shape[0]) if isinstance(label, h5py.Dataset) and label.shape else 0

    return HDF5ClientData(path, convert, ELEMENT_SPEC, count, HOW_TO_GET)


def open_sqlite(path: str, split_name: str) -> ClientData:
    """One split of TFF's `cifar100.sqlite`, read lazily."""

    def convert(features: Features, client_id: str) -> Arrays:
        require_features(features, ("image", "label"), path, client_id)
        image = features["image"]
        if image.shape[1:] != (int(np.prod(IMAGE_SHAPE)),) or image.min() < 0 or image.max() > 255:
            raise DataError(
                path,
                f"images must be 3,072 values in 0..255, got shape {list(image.shape)}",
                client_id,
            )
        return _finish(
            path, client_id, image.reshape(-1, *IMAGE_SHAPE), features["label"].reshape(-1)
        )

    return SQLiteClientData(path, split_name, convert, ELEMENT_SPEC, HOW_TO_GET)


@dataclasses.dataclass(frozen=True)
class Cifar100Params:
    """Where TFF's federated CIFAR-100 is.

    Attributes:
        path: Directory holding the files (null: Keras' cache, then `$FEDRUN_CACHE_DIR/tff`).
        format: `tff_hdf5` or `tff_sqlite`.
        download: Download the files when they are missing.
    """

    path: Optional[str] = None
    format: Literal["tff_hdf5", "tff_sqlite"] = "tff_hdf5"
    download: bool = False


def _joined(clients: ClientData) -> Arrays:
    parts = [clients.arrays_for(cid) for cid in clients.client_ids]
    return {k: np.concatenate([p[k] for p in parts]) for k in ("x", "y")}


@DATASETS.register("cifar100", Cifar100Params)
def build(p: Cifar100Params, context: DataContext, config_path: str = "dataset") -> FederatedData:
    """TFF's federated CIFAR-100: 500 train clients; the test clients as the centralized test set."""
    if p.format == "tff_sqlite":
        directory = locate(
            "cifar100", "sqlite", p.path, ["cifar100.sqlite"], p.download, [keras_datasets_dir()]
        )
        database = os.path.join(directory, "cifar100.sqlite")
        train, test = open_sqlite(database, "train"), open_sqlite(database, "test")
    else:
        files = ["fed_cifar100_train.h5", "fed_cifar100_test.h5"]
        directory = locate("cifar100", "hdf5", p.path, files, p.download, [keras_datasets_dir()])
        train, test = (open_hdf5(os.path.join(directory, f)) for f in files)
    return FederatedData("cifar100", train, None, _joined(test), NUM_CLASSES)
