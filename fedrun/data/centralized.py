"""Turning a centralized labelled array set into federated clients.

Holds out a centralized test set first, partitions the rest among clients
(`dataset.partition`), then splits each client's examples into train and test.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from fedrun.config.errors import ConfigError
from fedrun.config.params import bounded
from fedrun.data.client_data import ArrayClientData, FederatedData
from fedrun.data.partition import PARTITIONERS, split_train_test


@dataclasses.dataclass(frozen=True)
class SplitParams:
    """How a centralized data set becomes clients.

    Attributes:
        num_clients: Number of clients.
        partition: `{type: iid | shards | dirichlet, ...}`.
        client_test_fraction: Fraction of each client's examples kept as its test split.
        central_test_size: Examples held out (before partitioning) as the
            centralized test set; 0 for none.
    """

    num_clients: int = bounded(100, ge=1)
    partition: dict[str, Any] = dataclasses.field(default_factory=lambda: {"type": "iid"})
    client_test_fraction: float = bounded(0.2, ge=0, lt=1)
    central_test_size: int = bounded(0, ge=0)


def federate(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    num_classes: int,
    split: SplitParams,
    seed: int,
    path: str = "dataset",
) -> FederatedData:
    """Builds `FederatedData` from centralized arrays.

    Args:
        name: The data set's name.
        x: Features `[N, ...]`.
        y: Integer labels `[N]`.
        num_classes: Number of classes.
        split: How to split.
        seed: Seed of every random choice here.
        path: Config path of the data set node, for error messages.
    """
    rng = np.random.default_rng([seed, 0x5EED])
    order = rng.permutation(len(y))
    if split.central_test_size >= len(y):
        raise ConfigError(f"{path}.central_test_size", f"must be below the {len(y)} examples", split.central_test_size)
    held_out, rest = order[: split.central_test_size], np.sort(order[split.central_test_size :])
    try:
        parts = PARTITIONERS.build(split.partition, f"{path}.partition", labels=y[rest], num_clients=split.num_clients, rng=rng)
    except ValueError as err:
        if isinstance(err, ConfigError):
            raise
        raise ConfigError(f"{path}.partition", str(err)) from None
    train, test = {}, {}
    width = len(str(split.num_clients - 1))
    for k, part in enumerate(parts):
        cid = f"{name}_{k:0{width}d}"
        tr, te = split_train_test(rest[part], split.client_test_fraction, rng)
        train[cid], test[cid] = tr, te
    arrays = {"x": x, "y": y}
    central = {"x": x[held_out], "y": y[held_out]} if split.central_test_size else None
    test_data = ArrayClientData(arrays, test) if split.client_test_fraction > 0 else None
    return FederatedData(name, ArrayClientData(arrays, train), test_data, central, num_classes)
