"""TFF's `tff.simulation.datasets.emnist.load_data`, reading local HDF5 files.

TFF downloads federated EMNIST; fedrun never downloads at run time, so the files
must already be on disk in TFF's layout: `examples/<client_id>/{label, pixels}`
(labels int, pixels float32 `[n, 28, 28]` in [0, 1]), named
`fed_emnist_digitsonly_{train,test}.h5` (digits only) or `fed_emnist_{train,test}.h5`.
"""

from __future__ import annotations

import collections
import os
from typing import Optional

import h5py
import numpy as np
import tensorflow as tf

from fedrun.compat.tff.simulation.datasets.client_data import ClientData
from fedrun.data.errors import DataError


def file_names(only_digits: bool) -> tuple[str, str]:
    """TFF's train and test file names."""
    stem = "fed_emnist_digitsonly" if only_digits else "fed_emnist"
    return f"{stem}_train.h5", f"{stem}_test.h5"


def _client_ids(path: str) -> list[str]:
    try:
        with h5py.File(path, "r") as f:
            if "examples" not in f:
                raise DataError(path, "no 'examples' group: not a federated EMNIST file in TFF's layout")
            return list(f["examples"].keys())
    except OSError as err:
        raise DataError(path, f"cannot read as HDF5: {err}") from None


def _read_client(path: str, client_id: str) -> collections.OrderedDict:
    with h5py.File(path, "r") as f:
        group = f["examples"][client_id]
        for key in ("label", "pixels"):
            if key not in group:
                raise DataError(path, f"missing dataset '{key}'", client_id)
        label = np.asarray(group["label"][()])
        pixels = np.asarray(group["pixels"][()])
    if pixels.ndim != 3 or pixels.shape[1:] != (28, 28) or len(label) != len(pixels):
        raise DataError(path, f"expected pixels [n, 28, 28] and n labels, got {list(pixels.shape)} and {len(label)}", client_id)
    return collections.OrderedDict(label=label.astype(np.int32), pixels=pixels.astype(np.float32))


def _client_data(path: str) -> ClientData:
    def dataset_fn(client_id: str) -> tf.data.Dataset:
        return tf.data.Dataset.from_tensor_slices(_read_client(path, client_id))

    return ClientData.from_clients_and_tf_fn(_client_ids(path), dataset_fn)


def load_data(only_digits: bool = True, cache_dir: Optional[str] = None, path: Optional[str] = None) -> tuple[ClientData, ClientData]:
    """The federated EMNIST train and test `ClientData` (examples `OrderedDict(label, pixels)`).

    Args:
        only_digits: The 10-class digits-only version (TFF's default), else 62 classes.
        cache_dir: Where TFF would have cached the files (default `~/.keras/datasets`).
        path: The directory holding the files (overrides `cache_dir`).
    """
    directory = path or cache_dir or os.path.join(os.path.expanduser("~"), ".keras", "datasets")
    train_name, test_name = file_names(only_digits)
    paths = [os.path.join(directory, name) for name in (train_name, test_name)]
    for file in paths:
        if not os.path.exists(file):
            raise DataError(
                file,
                "federated EMNIST file not found; fedrun does not download data: copy TFF's HDF5 files "
                f"({train_name}, {test_name}) into that directory or pass path=",
            )
    return _client_data(paths[0]), _client_data(paths[1])


__all__ = ["file_names", "load_data"]
