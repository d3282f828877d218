"""Turning a centralized labelled array set into federated clients.

Holds out a centralized test set first, partitions the rest among clients
(`dataset.partition`), then splits each client's examples into train and test.
The resulting split is kept in the partition cache (`fedrun.data.cache`), keyed
by a hash of the data and the split's parameters, so repeated runs load
identical clients.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Optional

import numpy as np

from fedrun.config.errors import ConfigError
from fedrun.config.params import bounded
from fedrun.data.cache import PartitionCache, cache_key, fingerprint_arrays
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
        cache: Keep the split in the partition cache (`$FEDRUN_CACHE_DIR`,
            default `~/.cache/fedrun`).
    """

    num_clients: int = bounded(100, ge=1)
    partition: dict[str, Any] = dataclasses.field(default_factory=lambda: {"type": "iid"})
    client_test_fraction: float = bounded(0.2, ge=0, lt=1)
    central_test_size: int = bounded(0, ge=0)
    cache: bool = True


@dataclasses.dataclass(frozen=True)
class ClientSplit:
    """Which examples each client holds, as positions into the centralized arrays.

    Attributes:
        train: Client id -> its training examples.
        test: Client id -> its test examples.
        held_out: The centralized test set.
    """

    train: dict[str, np.ndarray]
    test: dict[str, np.ndarray]
    held_out: np.ndarray

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Flat arrays for the partition cache."""
        ids = list(self.train)
        return {
            "client_ids": np.asarray(ids, dtype=str),
            "train_index": np.concatenate([self.train[c] for c in ids]).astype(np.int64),
            "train_sizes": np.asarray([len(self.train[c]) for c in ids], dtype=np.int64),
            "test_index": np.concatenate([self.test[c] for c in ids]).astype(np.int64),
            "test_sizes": np.asarray([len(self.test[c]) for c in ids], dtype=np.int64),
            "held_out": self.held_out.astype(np.int64),
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> "ClientSplit":
        ids = [str(c) for c in arrays["client_ids"]]
        train = np.split(arrays["train_index"], np.cumsum(arrays["train_sizes"])[:-1])
        test = np.split(arrays["test_index"], np.cumsum(arrays["test_sizes"])[:-1])
        return cls(dict(zip(ids, train)), dict(zip(ids, test)), arrays["held_out"])


def _valid_entry(arrays: Mapping[str, np.ndarray], num_examples: int, num_clients: int) -> bool:
    keys = {"client_ids", "train_index", "train_sizes", "test_index", "test_sizes", "held_out"}
    if set(arrays) != keys or len(arrays["client_ids"]) != num_clients:
        return False
    indices = np.concatenate([arrays["train_index"], arrays["test_index"], arrays["held_out"]])
    return bool(
        arrays["train_sizes"].sum() == len(arrays["train_index"])
        and arrays["test_sizes"].sum() == len(arrays["test_index"])
        and (len(indices) == 0 or (indices.min() >= 0 and indices.max() < num_examples))
    )


def split_clients(
    name: str, y: np.ndarray, split: SplitParams, seed: int, path: str = "dataset"
) -> ClientSplit:
    """Holds out the centralized test set, partitions the rest, splits each client.

    Args:
        name: The data set's name (client ids are `<name>_<k>`).
        y: Integer labels `[N]` (label-aware partitioners use them).
        split: How to split.
        seed: Seed of every random choice here.
        path: Config path of the data set node, for error messages.
    """
    rng = np.random.default_rng([seed, 0x5EED])
    order = rng.permutation(len(y))
    if split.central_test_size >= len(y):
        raise ConfigError(
            f"{path}.central_test_size",
            f"must be below the {len(y)} examples",
            split.central_test_size,
        )
    held_out, rest = order[: split.central_test_size], np.sort(order[split.central_test_size :])
    try:
        parts = PARTITIONERS.build(
            split.partition,
            f"{path}.partition",
            labels=y[rest],
            num_clients=split.num_clients,
            rng=rng,
        )
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
    return ClientSplit(train, test, held_out)


def federate(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    num_classes: int,
    split: SplitParams,
    seed: int,
    path: str = "dataset",
    fingerprint: Optional[str] = None,
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
        fingerprint: A content hash of the data for the partition cache key
            (sources pass a hash of their files); by default `x` and `y` are hashed.
    """
    if split.cache:
        parts = {
            f.name: getattr(split, f.name)
            for f in dataclasses.fields(SplitParams)
            if f.name != "cache"
        }
        key = cache_key(
            {
                "split": "federate",
                "name": name,
                "data": fingerprint or fingerprint_arrays(x, y),
                "seed": seed,
                **parts,
            }
        )
        stored = PartitionCache().get_or_compute(
            key,
            lambda: split_clients(name, y, split, seed, path).to_arrays(),
            lambda arrays: _valid_entry(arrays, len(y), split.num_clients),
        )
        client_split = ClientSplit.from_arrays(stored)
    else:
        client_split = split_clients(name, y, split, seed, path)
    arrays = {"x": x, "y": y}
    held_out = client_split.held_out
    central = {"x": x[held_out], "y": y[held_out]} if len(held_out) else None
    test_data = (
        ArrayClientData(arrays, client_split.test) if split.client_test_fraction > 0 else None
    )
    return FederatedData(
        name, ArrayClientData(arrays, client_split.train), test_data, central, num_classes
    )
