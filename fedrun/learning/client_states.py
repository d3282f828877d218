"""Per-client state kept between the rounds a client joins (SCAFFOLD's control variates).

Stateful algorithms need each client to remember something from the last round it
took part in. fedrun keeps that memory per client id in a `ClientStateStore`, apart
from the server state that every round carries: only the cohort's rows are read and
written each round, and the store grows with the clients that have actually trained,
never with the population (a million-client run that samples ten clients a round
stores ten rows a round).

Rows live in one growing numpy array per leaf (capacity doubles), so reading a
cohort is one gather and checkpointing is a handful of plain arrays.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import tensorflow as tf

Nest = Any
IDS_KEY = "client_ids"


def _leaf_key(position: int) -> str:
    return f"leaf_{position}"


class ClientStateStore:
    """Per-client nests of arrays, shaped like `specs`, zeros until first written.

    Args:
        specs: Nest of `tf.TensorSpec` (or arrays) describing one client's state.
    """

    def __init__(self, specs: Nest) -> None:
        self._specs = specs
        leaves = tf.nest.flatten(specs)
        self._shapes = [tuple(int(d) for d in s.shape) for s in leaves]
        self._dtypes = [np.dtype(tf.as_dtype(s.dtype).as_numpy_dtype) for s in leaves]
        self._rows: dict[str, int] = {}
        self._capacity = 0
        self._leaves = [
            np.zeros((0, *shape), dtype) for shape, dtype in zip(self._shapes, self._dtypes)
        ]

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, client_id: object) -> bool:
        return client_id in self._rows

    @property
    def client_ids(self) -> list[str]:
        """Ids of the clients with a stored state, in the order first stored."""
        return list(self._rows)

    def get(self, client_ids: Sequence[str]) -> Nest:
        """The states of `client_ids`, stacked along a leading client axis (tensors).

        A client never stored gets zeros.
        """
        rows = np.asarray([self._rows.get(cid, -1) for cid in client_ids], dtype=np.int64)
        seen = rows >= 0
        stacked = []
        for leaf, shape, dtype in zip(self._leaves, self._shapes, self._dtypes):
            out = np.zeros((len(rows), *shape), dtype)
            out[seen] = leaf[rows[seen]]
            stacked.append(tf.constant(out))
        return tf.nest.pack_sequence_as(self._specs, stacked)

    def put(self, client_ids: Sequence[str], states: Nest) -> None:
        """Stores each client's row of the stacked nest `states` (replacing older ones)."""
        if len(set(client_ids)) != len(client_ids):
            raise ValueError("put: a cohort lists the same client twice")
        values = [np.asarray(v) for v in tf.nest.flatten(states)]
        if len(values) != len(self._leaves):
            raise ValueError(f"put: expected {len(self._leaves)} leaves, got {len(values)}")
        for value, shape in zip(values, self._shapes):
            if value.shape != (len(client_ids), *shape):
                raise ValueError(
                    f"put: leaf of shape {value.shape}, expected {(len(client_ids), *shape)}"
                )
        rows = np.asarray([self._row_for(cid) for cid in client_ids], dtype=np.int64)
        for leaf, value in zip(self._leaves, values):
            leaf[rows] = value

    def _row_for(self, client_id: str) -> int:
        row = self._rows.get(client_id)
        if row is None:
            row = len(self._rows)
            if row >= self._capacity:
                self._grow(max(2 * self._capacity, 8))
            self._rows[client_id] = row
        return row

    def _grow(self, capacity: int) -> None:
        self._capacity = capacity
        grown = []
        for leaf in self._leaves:
            bigger = np.zeros((capacity, *leaf.shape[1:]), leaf.dtype)
            bigger[: len(leaf)] = leaf
            grown.append(bigger)
        self._leaves = grown

    def state_dict(self) -> dict[str, np.ndarray]:
        """Plain arrays: `client_ids` (unicode) and `leaf_<i>` `[num_stored, ...]`."""
        count = len(self._rows)
        state = {IDS_KEY: np.asarray(list(self._rows), dtype=np.str_)}
        for position, leaf in enumerate(self._leaves):
            state[_leaf_key(position)] = leaf[:count].copy()
        return state

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        """Replaces every stored state with those of a `state_dict()`."""
        ids = [str(cid) for cid in np.asarray(state[IDS_KEY]).tolist()]
        leaves = [np.asarray(state[_leaf_key(p)]) for p in range(len(self._shapes))]
        for leaf, shape, dtype in zip(leaves, self._shapes, self._dtypes):
            if leaf.shape != (len(ids), *shape):
                raise ValueError(
                    f"load_state_dict: leaf of shape {leaf.shape}, expected {(len(ids), *shape)}"
                )
        self._rows = {cid: row for row, cid in enumerate(ids)}
        self._capacity = len(ids)
        self._leaves = [leaf.astype(dtype, copy=True) for leaf, dtype in zip(leaves, self._dtypes)]


__all__ = ["ClientStateStore"]
