"""Building a run's `FederatedData` from the `dataset` config node."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import tensorflow as tf

from fedrun.config.registry import Choice
from fedrun.data.client_data import (
    ArrayClientData,
    Arrays,
    ClientData,
    ClientDataView,
    FederatedData,
)
from fedrun.data.registry import DATASETS, DataContext


class _FlatClientData(ClientDataView):
    """A view of another `ClientData` with features flattened to vectors."""

    @property
    def element_spec(self) -> dict[str, tf.TensorSpec]:
        spec = dict(self._inner.element_spec)
        x = spec["x"]
        spec["x"] = tf.TensorSpec([int(np.prod(x.shape))], x.dtype)
        return spec

    def arrays_for(self, client_id: str) -> Arrays:
        return _flat(self._inner.arrays_for(client_id))


def _flat(arrays: Mapping[str, np.ndarray]) -> Arrays:
    x = arrays["x"]
    return {**arrays, "x": x.reshape(len(x), -1)}


def flatten_features(client_data: ClientData) -> ClientData:
    """The same clients with each example's features flattened to a vector."""
    if client_data.element_spec["x"].shape.rank <= 1:
        return client_data
    if isinstance(client_data, ArrayClientData):
        # Flattening shared arrays is a reshape (a view); clients keep their indices.
        arrays = _flat(client_data.arrays)
        return ArrayClientData(
            arrays, {cid: client_data.indices_for(cid) for cid in client_data.client_ids}
        )
    return _FlatClientData(client_data)


def parse_dataset(node: Any, path: str) -> Choice[FederatedData]:
    """The `dataset` node checked against the registered sources; reads nothing."""
    import fedrun.data.sources  # noqa: F401  (registers every source)

    return DATASETS.choose(node, path)


def build_data(node: Any, path: str, context: DataContext) -> FederatedData:
    """Loads the configured data set and applies load-time preprocessing (flatten)."""
    return load_data(parse_dataset(node, path), context)


def load_data(dataset: Choice[FederatedData], context: DataContext) -> FederatedData:
    """Loads a parsed data set and applies load-time preprocessing (flatten)."""
    data = dataset.build(context=context, config_path=dataset.path)
    if not context.preprocess.flatten:
        return data
    central = (
        _flat(data.central_test)
        if data.central_test is not None and data.central_test["x"].ndim > 1
        else data.central_test
    )
    return FederatedData(
        data.name,
        flatten_features(data.train),
        flatten_features(data.test) if data.test is not None else None,
        central,
        data.num_classes,
    )
