"""Clients stored in TFF's HDF5 layout, read lazily with h5py.

TFF's federated EMNIST and Shakespeare files hold one group per client under
`examples/`, each with one dataset per feature (`examples/<client_id>/pixels`,
`.../label`, `.../snippets`). Opening a file reads only its list of client ids
and spot-checks the first client's layout; a client's datasets are read (and
checked) when that client is first asked for, so start-up and memory do not grow
with clients a run never touches.
"""

from __future__ import annotations

import os
from typing import Callable, Optional

import h5py
import numpy as np
import tensorflow as tf

from fedrun.data.client_data import Arrays, StoredClientData
from fedrun.data.errors import DataError

ConvertFn = Callable[[h5py.Group, str], Arrays]
CountFn = Callable[[h5py.Group, str], int]


def open_hdf5(path: str, how_to_get: str) -> h5py.File:
    """Opens a TFF-layout file for reading, checking it has clients under `examples/`."""
    if not os.path.exists(path):
        raise DataError(path, f"file not found; {how_to_get}")
    try:
        handle = h5py.File(path, "r")
    except OSError as err:
        raise DataError(path, f"cannot open as HDF5 (corrupt or not an HDF5 file): {err}") from None
    examples = handle.get("examples")
    if not isinstance(examples, h5py.Group):
        handle.close()
        raise DataError(
            path, "no 'examples' group: expected TFF's layout examples/<client_id>/<feature>"
        )
    if len(examples) == 0:
        handle.close()
        raise DataError(path, "the 'examples' group holds no clients")
    return handle


def read_dataset(group: h5py.Group, name: str, source: str, client_id: str) -> np.ndarray:
    """One feature of one client, or a DataError naming the file and client."""
    dataset = group.get(name)
    if not isinstance(dataset, h5py.Dataset):
        raise DataError(source, f"missing dataset examples/{client_id}/{name}", client_id)
    try:
        return dataset[()]
    except (OSError, ValueError, TypeError) as err:
        raise DataError(
            source, f"cannot read examples/{client_id}/{name}: {err}", client_id
        ) from None


class HDF5ClientData(StoredClientData):
    """The clients of one TFF-layout HDF5 file.

    Args:
        path: The file.
        convert: `(client group, client id) -> {"x", "y"}`: reads, checks and
            converts one client (raising `DataError` naming the file and client).
        element_spec: Spec of one converted example.
        count: `(client group, client id) -> number of examples` read from
            metadata only; None counts by converting the client.
        how_to_get: How to obtain the file, for the missing-file message.
    """

    def __init__(
        self,
        path: str,
        convert: ConvertFn,
        element_spec: dict[str, tf.TensorSpec],
        count: Optional[CountFn] = None,
        how_to_get: str = "",
    ) -> None:
        self.path = path
        self._file = open_hdf5(path, how_to_get)
        self._examples: h5py.Group = self._file["examples"]
        self._convert = convert
        self._counter = count
        super().__init__(list(self._examples.keys()), element_spec)

    def _group(self, client_id: str) -> h5py.Group:
        group = self._examples.get(client_id)
        if not isinstance(group, h5py.Group):
            raise DataError(self.path, "no such client in the file", client_id)
        return group

    def _read(self, client_id: str) -> Arrays:
        return self._convert(self._group(client_id), client_id)

    def _count(self, client_id: str) -> Optional[int]:
        return None if self._counter is None else self._counter(self._group(client_id), client_id)
