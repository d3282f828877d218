"""`emnist` and `emnist_digits`: TFF's federated EMNIST, one client per writer.

TFF's HDF5 files (LEAF's grouping of EMNIST by writer) hold
`examples/<client_id>/pixels` (float32 `[n, 28, 28]` in [0, 1], 1.0 = background)
and `examples/<client_id>/label` (int32 `[n]`), with separate train and test files
over the same writers:

* `emnist_digits`: `fed_emnist_digitsonly_{train,test}.h5`, 3,383 writers, labels 0-9;
* `emnist`: `fed_emnist_{train,test}.h5`, 3,400 writers, 62 classes (0-9 digits,
  10-35 upper case, 36-61 lower case).

`dataset.format=tff_sqlite` reads TFF 0.87's `emnist_all.sqlite` instead (both
sets in one database, splits `digits_only_{train,test}` and `all_{train,test}`,
one `tf.train.Example` of `pixels` [784] and `label` per row). With `path` null
the files are looked for in Keras' cache and then in `$FEDRUN_CACHE_DIR/tff`,
where `fedrun-data download` and `dataset.download=true` put them.

Clients are read lazily. At load each file is opened, its client ids listed and
its first client checked; every other client's shapes, pixel range, NaNs and
labels are checked when the client is first read, before it trains.
`open_emnist` is the entry point for code that wants the clients directly.
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
from fedrun.data.hdf5 import ConvertFn, HDF5ClientData, read_dataset
from fedrun.data.registry import DATASETS, DataContext
from fedrun.data.sources.mnist import keras_datasets_dir
from fedrun.data.sqlite_client_data import (
    Features,
    SqlConvertFn,
    SQLiteClientData,
    require_features,
)
from fedrun.data.tff_downloads import locate
from fedrun.data.validate import check_client

IMAGE_SHAPE = (28, 28)
HOW_TO_GET = (
    "on a machine with network access run `fedrun-data download emnist` (or emnist_digits; add --format sqlite "
    "for TFF's SQLite file) or add dataset.download=true; or extract the .h5 files of TFF's fed_emnist.tar.bz2 / "
    "fed_emnist_digitsonly.tar.bz2 and set dataset.path to the directory holding them"
)
ELEMENT_SPEC = {"x": tf.TensorSpec(IMAGE_SHAPE, tf.float32), "y": tf.TensorSpec([], tf.int32)}


def _converter(path: str, num_classes: int) -> ConvertFn:
    def convert(group: h5py.Group, client_id: str) -> Arrays:
        pixels = read_dataset(group, "pixels", path, client_id)
        labels = read_dataset(group, "label", path, client_id)
        if not np.issubdtype(pixels.dtype, np.floating):
            raise DataError(
                path, f"pixels have dtype {pixels.dtype}, expected float32 in [0, 1]", client_id
            )
        if labels.ndim != 1:
            raise DataError(
                path, f"labels have shape {list(labels.shape)}, expected [n]", client_id
            )
        arrays = {"x": pixels.astype(np.float32, copy=False), "y": labels}
        check_client(path, client_id, arrays, num_classes, IMAGE_SHAPE, (0.0, 1.0))
        return {"x": arrays["x"], "y": labels.astype(np.int32, copy=False)}

    return convert


def _sql_converter(path: str, num_classes: int) -> SqlConvertFn:
    def convert(features: Features, client_id: str) -> Arrays:
        require_features(features, ("pixels", "label"), path, client_id)
        pixels, labels = features["pixels"], features["label"]
        if (
            pixels.dtype != np.float32
            or pixels.shape[1:] != (IMAGE_SHAPE[0] * IMAGE_SHAPE[1],)
            or labels.shape[1:] != (1,)
        ):
            raise DataError(
                path,
                f"expected float pixels [784] and one label per example, got {list(pixels.shape)}, {list(labels.shape)}",
                client_id,
            )
        arrays = {"x": pixels.reshape(-1, *IMAGE_SHAPE), "y": labels[:, 0]}
        check_client(path, client_id, arrays, num_classes, IMAGE_SHAPE, (0.0, 1.0))
        return {"x": arrays["x"], "y": arrays["y"].astype(np.int32)}

    return convert


def open_emnist_sqlite(path: str, split_name: str, num_classes: int = 62) -> ClientData:
    """One split of TFF's `emnist_all.sqlite`, as lazily read `{"x": pixels, "y": label}`."""
    return SQLiteClientData(
        path, split_name, _sql_converter(path, num_classes), ELEMENT_SPEC, HOW_TO_GET
    )


def _count(group: h5py.Group, client_id: str) -> int:
    label = group.get("label")
    return int(label.shape[0]) if isinstance(label, h5py.Dataset) and label.shape else 0


def open_emnist_file(path: str, num_classes: int = 62) -> ClientData:
    """The writers of one TFF EMNIST HDF5 file, as lazily read `{"x": pixels, "y": label}`."""
    return HDF5ClientData(path, _converter(path, num_classes), ELEMENT_SPEC, _count, HOW_TO_GET)


def open_emnist(
    train_path: str, test_path: Optional[str] = None, num_classes: int = 62
) -> tuple[ClientData, Optional[ClientData]]:
    """TFF's federated EMNIST train (and test) clients.

    Args:
        train_path: The train file (`fed_emnist_train.h5` or `fed_emnist_digitsonly_train.h5`).
        test_path: The matching test file, if wanted.
        num_classes: 62 for the full set, 10 for the digits-only set (labels are
            checked against it).

    Returns:
        `(train, test)` client data; `test` is None without `test_path`.
    """
    train = open_emnist_file(train_path, num_classes)
    test = open_emnist_file(test_path, num_classes) if test_path is not None else None
    return train, test


@dataclasses.dataclass(frozen=True)
class EmnistParams:
    """Where TFF's EMNIST files are.

    Attributes:
        path: Directory holding the files (null: Keras' cache `~/.keras/datasets`,
            where TFF's HDF5-era download extracts them, then `$FEDRUN_CACHE_DIR/tff`).
        format: `tff_hdf5` (TFF's HDF5 files) or `tff_sqlite` (TFF 0.87's SQLite file).
        train_file: `tff_hdf5`: the train file's name in `path`.
        test_file: `tff_hdf5`: the test file's name in `path`; null for no per-client test data.
        sqlite_file: `tff_sqlite`: the database's name in `path`.
        download: Download the files when they are missing (off: runs never reach the network).
    """

    path: Optional[str] = None
    format: Literal["tff_hdf5", "tff_sqlite"] = "tff_hdf5"
    train_file: str = "fed_emnist_train.h5"
    test_file: Optional[str] = "fed_emnist_test.h5"
    sqlite_file: str = "emnist_all.sqlite"
    download: bool = False


@dataclasses.dataclass(frozen=True)
class EmnistDigitsParams(EmnistParams):
    train_file: str = "fed_emnist_digitsonly_train.h5"
    test_file: Optional[str] = "fed_emnist_digitsonly_test.h5"


def _build(name: str, p: EmnistParams, num_classes: int) -> FederatedData:
    sqlite = p.format == "tff_sqlite"
    files = [p.sqlite_file] if sqlite else [p.train_file, *([p.test_file] if p.test_file else [])]
    directory = locate(
        name, "sqlite" if sqlite else "hdf5", p.path, files, p.download, [keras_datasets_dir()]
    )
    if os.path.isfile(directory):
        raise DataError(
            directory, f"dataset.path must be the directory holding {files[0]}, not a file"
        )
    if sqlite:
        prefix = "digits_only" if num_classes == 10 else "all"
        database = os.path.join(directory, p.sqlite_file)
        train = open_emnist_sqlite(database, f"{prefix}_train", num_classes)
        return FederatedData(
            name,
            train,
            open_emnist_sqlite(database, f"{prefix}_test", num_classes),
            None,
            num_classes,
        )
    test_path = os.path.join(directory, p.test_file) if p.test_file is not None else None
    train, test = open_emnist(os.path.join(directory, p.train_file), test_path, num_classes)
    return FederatedData(name, train, test, None, num_classes)


@DATASETS.register("emnist", EmnistParams)
def build_emnist(
    p: EmnistParams, context: DataContext, config_path: str = "dataset"
) -> FederatedData:
    """TFF's federated EMNIST, 62 classes, one client per writer."""
    return _build("emnist", p, 62)


@DATASETS.register("emnist_digits", EmnistDigitsParams)
def build_emnist_digits(
    p: EmnistDigitsParams, context: DataContext, config_path: str = "dataset"
) -> FederatedData:
    """TFF's federated EMNIST digits (10 classes), one client per writer."""
    return _build("emnist_digits", p, 10)
