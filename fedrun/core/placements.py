"""Placements and placed values.

A federated computation moves values between two placements: the server and the
clients. fedrun makes placement explicit in the value itself:

* `AtServer(value)`: one value held by the server.
* `AtClients(value)`: one value per client, stored *stacked* along a leading client
  axis (every leaf tensor has shape `[num_clients, ...]`), so that per-client work
  runs as one vectorized operation instead of a Python loop. A value broadcast from
  the server is `all_equal`: it is stored once, unstacked, and is the same at every
  client.

Values only cross from clients to server through the aggregation intrinsics in
`fedrun.core.intrinsics`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Generic, TypeVar

import tensorflow as tf

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where a value lives: `SERVER` or `CLIENTS`."""

    name: str

    def __str__(self) -> str:
        return self.name


SERVER = Placement("SERVER")
CLIENTS = Placement("CLIENTS")


@dataclasses.dataclass(frozen=True)
class AtServer(Generic[T]):
    """A value placed at the server.

    Attributes:
        value: Any nest of tensors (or Python scalars).
    """

    value: T

    placement = SERVER


@dataclasses.dataclass(frozen=True)
class AtClients(Generic[T]):
    """A value placed at the clients of one cohort.

    Attributes:
        value: A nest of tensors. When `all_equal` is False every leaf has a leading
            client axis of length `num_clients`; when True the nest is the single
            value every client holds.
        num_clients: The cohort size.
        all_equal: Whether every client holds the same value (a broadcast).
    """

    value: T
    num_clients: int
    all_equal: bool = False

    placement = CLIENTS

    @classmethod
    def from_list(cls, values: list[Any]) -> "AtClients[Any]":
        """Stacks a list of per-client nests (one entry per client)."""
        if not values:
            raise ValueError("AtClients.from_list needs at least one client value")
        stacked = tf.nest.map_structure(
            lambda *leaves: tf.stack([tf.convert_to_tensor(x) for x in leaves]), *values
        )
        return cls(stacked, len(values))

    def stacked(self) -> T:
        """The value with a leading client axis, materializing a broadcast if needed."""
        if not self.all_equal:
            return self.value
        return tf.nest.map_structure(
            lambda x: tf.repeat(
                tf.expand_dims(tf.convert_to_tensor(x), 0), self.num_clients, axis=0
            ),
            self.value,
        )

    def client(self, index: int) -> T:
        """The value of one client (simulation-side inspection and tests only)."""
        if self.all_equal:
            return self.value
        return tf.nest.map_structure(lambda x: x[index], self.value)

    def to_list(self) -> list[T]:
        """Per-client values as a list (simulation-side inspection and tests only)."""
        return [self.client(i) for i in range(self.num_clients)]

    def select(self, keep: Any) -> "AtClients[T]":
        """The sub-cohort whose `keep` mask (bool, `[num_clients]`) is True."""
        keep = tf.convert_to_tensor(keep, tf.bool)
        count = int(tf.reduce_sum(tf.cast(keep, tf.int32)))
        if self.all_equal:
            return AtClients(self.value, count, all_equal=True)
        return AtClients(
            tf.nest.map_structure(lambda x: tf.boolean_mask(x, keep), self.value), count
        )

    def map_leaves(self, fn: Callable[[tf.Tensor], tf.Tensor]) -> "AtClients[Any]":
        """Applies `fn` to every stacked leaf (an already-vectorized function)."""
        return AtClients(tf.nest.map_structure(fn, self.value), self.num_clients, self.all_equal)
