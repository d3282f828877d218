"""Federated data: clients, each holding examples.

`ClientData` has two views of a client's examples:

* `dataset_for(client_id)`: a `tf.data.Dataset` of single examples (TFF's
  `create_tf_dataset_for_client`), for arbitrary pipelines;
* `arrays_for(client_id)`: the same examples as numpy arrays, which the fast
  runtimes gather batches from inside one compiled function.

Examples are dicts `{"x": features, "y": label}`. Sources load their files once and
build clients on demand, so start-up and memory do not grow with clients a run never
touches.
"""

from __future__ import annotations

import abc
import dataclasses
import functools
from typing import Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf

Arrays = dict[str, np.ndarray]


class ClientData(abc.ABC):
    """A set of clients and their examples."""

    @property
    @abc.abstractmethod
    def client_ids(self) -> Sequence[str]:
        """All client ids, in a fixed order."""

    @property
    @abc.abstractmethod
    def element_spec(self) -> dict[str, tf.TensorSpec]:
        """Spec of one example: `{"x": ..., "y": ...}`."""

    @abc.abstractmethod
    def arrays_for(self, client_id: str) -> Arrays:
        """One client's examples as arrays with a leading example axis."""

    @property
    def file_backed(self) -> bool:
        """Whether `arrays_for` reads the client from a file and converts it on every
        call, so that keeping prepared clients in memory saves work. A view of other
        client data says what its source says."""
        return False

    def num_examples(self, client_id: str) -> int:
        """Number of examples a client holds."""
        return len(next(iter(self.arrays_for(client_id).values())))

    def dataset_for(self, client_id: str) -> tf.data.Dataset:
        """One client's examples as a dataset of single examples."""
        return tf.data.Dataset.from_tensor_slices(self.arrays_for(client_id))

    def cohort_pool(
        self, client_ids: Sequence[str]
    ) -> tuple[dict[str, tf.Tensor], list[np.ndarray]]:
        """The examples of a cohort as one pool, and each client's positions in it.

        The default concatenates the clients' arrays; in-memory sources override it to
        return their whole array set without copying.
        """
        arrays = [self.arrays_for(cid) for cid in client_ids]
        keys = list(self.element_spec)
        pool = {k: tf.constant(np.concatenate([a[k] for a in arrays])) for k in keys}
        positions, start = [], 0
        for a in arrays:
            n = len(a[keys[0]])
            positions.append(np.arange(start, start + n, dtype=np.int64))
            start += n
        return pool, positions


class ClientDataView(ClientData):
    """Another client data's clients seen through a wrapper (flattened, cached,
    poisoned ...): ids, spec, sizes and file-backing are the inner data's unless a
    subclass changes them; subclasses say how a client's arrays differ.

    Args:
        inner: The client data seen through this view.
    """

    def __init__(self, inner: ClientData) -> None:
        self._inner = inner

    @property
    def inner(self) -> ClientData:
        """The client data seen through this view."""
        return self._inner

    @property
    def client_ids(self) -> Sequence[str]:
        return self._inner.client_ids

    @property
    def element_spec(self) -> dict[str, tf.TensorSpec]:
        return self._inner.element_spec

    @property
    def file_backed(self) -> bool:
        return self._inner.file_backed

    def num_examples(self, client_id: str) -> int:
        return self._inner.num_examples(client_id)


class StoredClientData(ClientData):
    """Clients kept in a file or table, each read and converted when asked for.

    The ids are listed once when the store is opened; the first client is read
    then, so a store of the wrong kind fails at load rather than mid-run.
    Subclasses read one client (`_read`) and may count one without converting it
    (`_count`); sizes are remembered once known. Nothing converted is kept:
    `fedrun.data.client_cache.CachedClientData` keeps recently used clients.

    Args:
        client_ids: The store's clients, in a fixed order (at least one).
        element_spec: Spec of one converted example; None takes the first client's.
    """

    def __init__(
        self, client_ids: Sequence[str], element_spec: Optional[dict[str, tf.TensorSpec]]
    ) -> None:
        self._ids = list(client_ids)
        self._sizes: dict[str, int] = {}
        first = self.arrays_for(self._ids[0])
        self._spec = element_spec or {
            k: tf.TensorSpec(v.shape[1:], tf.as_dtype(v.dtype)) for k, v in first.items()
        }

    @property
    def client_ids(self) -> Sequence[str]:
        return self._ids

    @property
    def element_spec(self) -> dict[str, tf.TensorSpec]:
        return dict(self._spec)

    @property
    def file_backed(self) -> bool:
        return True

    @abc.abstractmethod
    def _read(self, client_id: str) -> Arrays:
        """One client's converted examples (a `DataError` naming the store and client)."""

    def _count(self, client_id: str) -> Optional[int]:
        """A client's size from metadata alone; None when only converting tells."""
        del client_id
        return None

    def arrays_for(self, client_id: str) -> Arrays:
        arrays = self._read(client_id)
        self._sizes[client_id] = len(next(iter(arrays.values())))
        return arrays

    def num_examples(self, client_id: str) -> int:
        if client_id not in self._sizes:
            counted = self._count(client_id)
            if counted is None:
                self.arrays_for(client_id)
            else:
                self._sizes[client_id] = counted
        return self._sizes[client_id]


class ArrayClientData(ClientData):
    """Clients that are index sets into one in-memory array set.

    Args:
        arrays: `{"x": [N, ...], "y": [N]}` holding every example once.
        client_indices: Client id -> indices of its examples into `arrays`.
    """

    def __init__(self, arrays: Arrays, client_indices: Mapping[str, np.ndarray]) -> None:
        self._arrays = arrays
        self._indices = {
            cid: np.asarray(idx, dtype=np.int64) for cid, idx in client_indices.items()
        }
        self._ids = list(self._indices)

    @property
    def client_ids(self) -> Sequence[str]:
        return self._ids

    @functools.cached_property
    def element_spec(self) -> dict[str, tf.TensorSpec]:
        return {
            k: tf.TensorSpec(v.shape[1:], tf.as_dtype(v.dtype)) for k, v in self._arrays.items()
        }

    @property
    def arrays(self) -> Arrays:
        """The shared arrays every client indexes into."""
        return self._arrays

    def arrays_for(self, client_id: str) -> Arrays:
        idx = self._indices[client_id]
        return {k: v[idx] for k, v in self._arrays.items()}

    def num_examples(self, client_id: str) -> int:
        return len(self._indices[client_id])

    def indices_for(self, client_id: str) -> np.ndarray:
        """Positions of a client's examples in the shared arrays."""
        return self._indices[client_id]

    @functools.cached_property
    def _pool(self) -> dict[str, tf.Tensor]:
        return {k: tf.constant(v) for k, v in self._arrays.items()}

    def cohort_pool(
        self, client_ids: Sequence[str]
    ) -> tuple[dict[str, tf.Tensor], list[np.ndarray]]:
        return self._pool, [self._indices[cid] for cid in client_ids]


@dataclasses.dataclass(frozen=True)
class FederatedData:
    """Everything a run trains and evaluates on.

    Attributes:
        name: The data set's name.
        train: Clients' training examples.
        test: Clients' own test examples (same ids, or a subset), if any.
        central_test: A held-out centralized test set `{"x", "y"}`, if any.
        num_classes: Number of label classes.
    """

    name: str
    train: ClientData
    test: Optional[ClientData]
    central_test: Optional[Arrays]
    num_classes: int
