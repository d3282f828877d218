"""Splitting a centralized data set into clients (`dataset.partition`).

* `iid`: a seeded random permutation cut into equal parts.
* `shards`: McMahan et al. 2017's pathological non-IID split: sort by label, cut
  into `num_clients * shards_per_client` shards, give each client
  `shards_per_client` random shards.
* `dirichlet`: label skew (Hsu et al. 2019): for every class, split its examples
  among clients in proportions drawn from Dirichlet(alpha); redrawn until every
  client has at least `min_size` examples.

Every partitioner returns a list of index arrays (one per client), seeded.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from fedrun.config.params import bounded
from fedrun.config.registry import Registry

PARTITIONERS: Registry[list[np.ndarray]] = Registry("partition")


@dataclasses.dataclass(frozen=True)
class IIDParams:
    """IID split: no parameters beyond the client count."""


@dataclasses.dataclass(frozen=True)
class ShardParams:
    shards_per_client: int = bounded(2, ge=1)


@dataclasses.dataclass(frozen=True)
class DirichletParams:
    alpha: float = bounded(0.5, gt=0)
    min_size: int = bounded(10, ge=1)
    max_attempts: int = bounded(1000, ge=1)


def _check(num_examples: int, num_clients: int, per_client: int = 1) -> None:
    if num_clients * per_client > num_examples:
        raise ValueError(
            f"cannot give {num_clients} clients {per_client} example group(s) each from {num_examples} examples"
        )


@PARTITIONERS.register("iid", IIDParams)
def iid(
    _: IIDParams, labels: np.ndarray, num_clients: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Equal-size random parts."""
    _check(len(labels), num_clients)
    return [np.sort(part) for part in np.array_split(rng.permutation(len(labels)), num_clients)]


@PARTITIONERS.register("shards", ShardParams)
def shards(
    p: ShardParams, labels: np.ndarray, num_clients: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Sorted-by-label shards, `shards_per_client` random shards per client."""
    num_shards = num_clients * p.shards_per_client
    _check(len(labels), num_shards)
    by_label = np.argsort(labels, kind="stable")
    pieces = np.array_split(by_label, num_shards)
    assignment = rng.permutation(num_shards).reshape(num_clients, p.shards_per_client)
    return [np.sort(np.concatenate([pieces[s] for s in row])) for row in assignment]


@PARTITIONERS.register("dirichlet", DirichletParams)
def dirichlet(
    p: DirichletParams, labels: np.ndarray, num_clients: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Per-class Dirichlet(alpha) proportions over clients."""
    _check(len(labels), num_clients, p.min_size)
    classes = np.unique(labels)
    for _ in range(p.max_attempts):
        parts: list[list[np.ndarray]] = [[] for _ in range(num_clients)]
        for c in classes:
            members = rng.permutation(np.flatnonzero(labels == c))
            proportions = rng.dirichlet(np.full(num_clients, p.alpha))
            cuts = (np.cumsum(proportions)[:-1] * len(members)).astype(int)
            for client, chunk in enumerate(np.split(members, cuts)):
                parts[client].append(chunk)
        result = [np.sort(np.concatenate(chunks)) for chunks in parts]
        if min(len(r) for r in result) >= p.min_size:
            return result
    raise ValueError(
        f"no Dirichlet(alpha={p.alpha}) split gave every one of {num_clients} clients "
        f"{p.min_size} examples in {p.max_attempts} attempts; raise alpha or lower min_size"
    )


def split_train_test(
    indices: np.ndarray, test_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Splits one client's examples into train and test (at least one train example)."""
    shuffled = rng.permutation(indices)
    num_test = int(round(len(indices) * test_fraction))
    num_test = min(num_test, len(indices) - 1)
    return np.sort(shuffled[num_test:]), np.sort(shuffled[:num_test])
