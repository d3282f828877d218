"""TFF's `tff.simulation.datasets.ClientData`.

A set of clients, each holding a `tf.data.Dataset` of single examples. Build one
with `ClientData.from_clients_and_tf_fn(client_ids, dataset_fn)` or over a fedrun
`ClientData` with `ClientData.from_fedrun(data, key_names)` (fedrun's examples are
`{"x", "y"}`; TFF's keep their data set's names, e.g. EMNIST's `label`/`pixels`).
"""

from __future__ import annotations

import collections
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf

from fedrun.compat.tff.errors import FacadeTypeError, FacadeValueError
from fedrun.compat.tff.types import tensorflow_to_type
from fedrun.core.processes import Computation
from fedrun.core.types import FunctionType, SequenceType, TensorType
from fedrun.data import client_data as native

DatasetFn = Callable[[str], tf.data.Dataset]


class ClientData:
    """Clients and their datasets (TFF's interface).

    Args:
        client_ids: The clients, in a fixed order.
        serializable_dataset_fn: Client id -> the client's `tf.data.Dataset`.
    """

    def __init__(self, client_ids: Sequence[str], serializable_dataset_fn: DatasetFn) -> None:
        if isinstance(client_ids, str) or not isinstance(client_ids, collections.abc.Sequence):
            raise FacadeTypeError(
                f"client_ids must be a sequence of client ids, got {type(client_ids).__name__}"
            )
        if not callable(serializable_dataset_fn):
            raise FacadeTypeError(
                f"serializable_dataset_fn must be a function of a client id, got {type(serializable_dataset_fn).__name__}"
            )
        if not client_ids:
            raise FacadeValueError("a ClientData needs at least one client")
        self._client_ids = [str(c) for c in client_ids]
        self._dataset_fn = serializable_dataset_fn
        self._element_spec: Optional[Any] = None

    @classmethod
    def from_clients_and_tf_fn(
        cls, client_ids: Sequence[str], serializable_dataset_fn: DatasetFn
    ) -> "ClientData":
        """Clients whose datasets `serializable_dataset_fn(client_id)` builds."""
        return cls(client_ids, serializable_dataset_fn)

    @classmethod
    def from_fedrun(cls, data: native.ClientData, key_names: Mapping[str, str]) -> "ClientData":
        """A fedrun `ClientData` with its example keys renamed (`{"x": "pixels", ...}`)
        and ordered as `key_names` lists them."""

        def dataset_fn(client_id: str) -> tf.data.Dataset:
            arrays = data.arrays_for(client_id)
            return tf.data.Dataset.from_tensor_slices(
                collections.OrderedDict((name, arrays[key]) for key, name in key_names.items())
            )

        return cls(list(data.client_ids), dataset_fn)

    @property
    def client_ids(self) -> list[str]:
        return list(self._client_ids)

    @property
    def serializable_dataset_fn(self) -> DatasetFn:
        return self._dataset_fn

    @property
    def element_type_structure(self) -> Any:
        """The spec of one example (`tf.TensorSpec` nest)."""
        if self._element_spec is None:
            self._element_spec = self._dataset_fn(self._client_ids[0]).element_spec
        return self._element_spec

    def create_tf_dataset_for_client(self, client_id: str) -> tf.data.Dataset:
        """The dataset of one client."""
        if not isinstance(client_id, str):
            raise FacadeTypeError(
                f"create_tf_dataset_for_client: client_id must be a str, got {type(client_id).__name__}"
            )
        if client_id not in self._client_ids:
            raise FacadeValueError(f"unknown client id {client_id!r}")
        return self._dataset_fn(client_id)

    @property
    def dataset_computation(self) -> Computation:
        """A computation `(string -> <element>*)`: client id -> the client's dataset.

        Called with a Python string, a bytes value or a string tensor.
        """

        def dataset_for(client_id: Any) -> tf.data.Dataset:
            if isinstance(client_id, tf.Tensor) and client_id.dtype == tf.string:
                client_id = client_id.numpy()
            if isinstance(client_id, bytes):
                client_id = client_id.decode("utf-8")
            return self.create_tf_dataset_for_client(client_id)

        signature = FunctionType(
            TensorType(tf.string), SequenceType(tensorflow_to_type(self.element_type_structure))
        )
        return Computation(dataset_for, signature, name="dataset_computation")

    def datasets(self, limit_count: Optional[int] = None, seed: Optional[int] = None) -> Any:
        """Yields client datasets in random order (seeded), at most `limit_count`."""
        order = np.random.default_rng(seed).permutation(len(self._client_ids))
        for position in order[:limit_count]:
            yield self._dataset_fn(self._client_ids[position])

    def create_tf_dataset_from_all_clients(self, seed: Optional[int] = None) -> tf.data.Dataset:
        """Every client's examples in one dataset (clients in random, seeded order)."""
        datasets = list(self.datasets(seed=seed))
        combined = datasets[0]
        for dataset in datasets[1:]:
            combined = combined.concatenate(dataset)
        return combined

    def preprocess(
        self, preprocess_fn: Callable[[tf.data.Dataset], tf.data.Dataset]
    ) -> "ClientData":
        """The same clients with `preprocess_fn` applied to each dataset."""
        dataset_fn = self._dataset_fn
        return ClientData(self._client_ids, lambda client_id: preprocess_fn(dataset_fn(client_id)))

    @classmethod
    def train_test_client_split(
        cls, client_data: "ClientData", num_test_clients: int, seed: Optional[Any] = None
    ) -> tuple["ClientData", "ClientData"]:
        """Disjoint train and test clients: `num_test_clients` clients with data
        go to the test side, chosen as TFF chooses them (the client ids shuffled by
        `np.random.RandomState(seed)`, then taken from the end); clients without
        data stay on the train side."""
        if not isinstance(client_data, ClientData):
            raise FacadeTypeError(
                f"train_test_client_split: expected a ClientData, got {type(client_data).__name__}"
            )
        if isinstance(num_test_clients, bool) or not isinstance(num_test_clients, int):
            raise FacadeTypeError(
                f"train_test_client_split: num_test_clients must be an int, got {num_test_clients!r}"
            )
        if not 0 < num_test_clients < len(client_data.client_ids):
            raise FacadeValueError(
                f"train_test_client_split: num_test_clients must lie in [1, {len(client_data.client_ids) - 1}] "
                f"for {len(client_data.client_ids)} clients, got {num_test_clients}"
            )
        remaining = list(client_data.client_ids)
        np.random.RandomState(seed).shuffle(remaining)
        test_ids: list[str] = []
        empty: list[str] = []
        while len(test_ids) < num_test_clients:
            if not remaining:
                raise FacadeValueError(
                    f"train_test_client_split: only {len(test_ids)} clients have data, "
                    f"{num_test_clients} test clients were asked for"
                )
            client_id = remaining.pop()
            has_data = any(
                True for _ in client_data.create_tf_dataset_for_client(client_id).take(1)
            )
            (test_ids if has_data else empty).append(client_id)
        dataset_fn = client_data.serializable_dataset_fn
        return cls(remaining + empty, dataset_fn), cls(test_ids, dataset_fn)


class TestClientData(ClientData):
    """TFF's `TestClientData`: clients from a dict of client id -> the arrays of
    `tf.data.Dataset.from_tensor_slices` (lists, tuples or dicts of numpy data).

    Args:
        tensor_slices_dict: Client id -> the client's tensor slices.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, tensor_slices_dict: Mapping[str, Any]) -> None:
        if not isinstance(tensor_slices_dict, collections.abc.Mapping):
            raise FacadeTypeError(
                f"TestClientData: expected a dict of client id -> tensor slices, got {type(tensor_slices_dict).__name__}"
            )
        slices = dict(tensor_slices_dict)
        for client_id, structure in slices.items():
            if not isinstance(structure, (list, tuple, dict)) or hasattr(structure, "_fields"):
                raise FacadeTypeError(
                    f"TestClientData: client {client_id!r}'s slices must be a list, tuple or dict "
                    f"(convert namedtuples with ._asdict()), got {type(structure).__name__}"
                )
            if any(tf.is_tensor(leaf) for leaf in tf.nest.flatten(structure)):
                raise FacadeTypeError(
                    f"TestClientData: client {client_id!r}'s slices must be numpy data, not tensors"
                )

        def dataset_fn(client_id: str) -> tf.data.Dataset:
            return tf.data.Dataset.from_tensor_slices(slices[client_id])

        super().__init__(list(slices), dataset_fn)


__all__ = ["ClientData", "TestClientData"]
