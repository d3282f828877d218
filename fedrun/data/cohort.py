"""One round's client data, ready for the compiled training function.

A `CohortData` holds a pool of examples and, per client, its batch schedule as
positions into the pool plus a mask for padding, all stacked over clients:
`index[k, s, b]` is the pool position of example `b` of step `s` of client `k`.
Clients with fewer steps are padded with empty (all-zero-mask) steps.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

import numpy as np
import tensorflow as tf

from fedrun.data.client_data import ClientData
from fedrun.data.preprocess import PreprocessConfig, batch_schedule, client_seed, example_order


@dataclasses.dataclass(frozen=True)
class CohortData:
    """Batches of a cohort of clients, as gathers from one example pool.

    Attributes:
        client_ids: The cohort, in order.
        pool: `{"x": [P, ...], "y": [P]}` tensors the batches are gathered from.
        index: int64 `[K, S, B]` pool positions.
        mask: float32 `[K, S, B]`, 1 for real examples, 0 for padding.
        round_num: The round these batches are for (seeds, schedules).
        seed: The run's seed.
    """

    client_ids: tuple[str, ...]
    pool: dict[str, tf.Tensor]
    index: tf.Tensor
    mask: tf.Tensor
    round_num: int = 0
    seed: int = 0

    @property
    def num_clients(self) -> int:
        return len(self.client_ids)

    def steps_per_client(self) -> np.ndarray:
        """Number of non-empty steps of each client."""
        return np.sum(np.sum(self.mask.numpy(), axis=2) > 0, axis=1)

    def client(self, k: int) -> "CohortData":
        """The one-client cohort of client `k`, without padding steps."""
        steps = int(self.steps_per_client()[k])
        return dataclasses.replace(
            self,
            client_ids=(self.client_ids[k],),
            index=self.index[k : k + 1, :steps],
            mask=self.mask[k : k + 1, :steps],
        )

    def subset(self, positions: Sequence[int]) -> "CohortData":
        """The cohort of the clients at `positions` (padding trimmed)."""
        positions = list(positions)
        ids = tuple(self.client_ids[p] for p in positions)
        index = tf.gather(self.index, positions)
        mask = tf.gather(self.mask, positions)
        steps = int(np.max(np.sum(np.sum(mask.numpy(), axis=2) > 0, axis=1), initial=0))
        return dataclasses.replace(
            self, client_ids=ids, index=index[:, :steps], mask=mask[:, :steps]
        )


def _stack_schedules(
    schedules: list[tuple[np.ndarray, np.ndarray]], batch_size: int
) -> tuple[np.ndarray, np.ndarray]:
    max_steps = max((len(i) for i, _ in schedules), default=0)
    index = np.zeros((len(schedules), max_steps, batch_size), dtype=np.int64)
    mask = np.zeros((len(schedules), max_steps, batch_size), dtype=np.float32)
    for k, (i, m) in enumerate(schedules):
        index[k, : len(i)] = i
        mask[k, : len(m)] = m
    return index, mask


def build_cohort(
    client_data: ClientData,
    client_ids: Sequence[str],
    config: PreprocessConfig,
    seed: int,
    round_num: int,
    epochs: Optional[Sequence[int]] = None,
) -> CohortData:
    """The training batches of a cohort for one round.

    Args:
        client_data: Where the clients' examples come from.
        client_ids: The cohort.
        config: Epochs, batch size and shuffling.
        seed: The run's seed (used when `config.shuffle_seed` is null).
        round_num: The round, so that each round shuffles anew.
        epochs: Per-client epochs overriding `config.epochs` (stragglers).
    """
    pool, positions = client_data.cohort_pool(client_ids)
    schedules = []
    for k, (cid, pos) in enumerate(zip(client_ids, positions)):
        if config.shuffle_seed is not None:
            rng = client_seed(config.shuffle_seed, 0, cid)
        else:
            rng = client_seed(seed, round_num, cid)
        client_epochs = config.epochs if epochs is None else int(epochs[k])
        order = example_order(len(pos), client_epochs, config.shuffle_buffer, rng)
        index, mask = batch_schedule(pos[order], config.batch_size)
        schedules.append((index, mask))
    index, mask = _stack_schedules(schedules, config.batch_size)
    return CohortData(
        tuple(client_ids), pool, tf.constant(index), tf.constant(mask), round_num, seed
    )


def build_eval_cohort(
    client_data: ClientData, client_ids: Sequence[str], batch_size: int
) -> CohortData:
    """One pass over each client's examples in stored order (evaluation)."""
    pool, positions = client_data.cohort_pool(client_ids)
    schedules = [batch_schedule(pos, batch_size) for pos in positions]
    index, mask = _stack_schedules(schedules, batch_size)
    return CohortData(tuple(client_ids), pool, tf.constant(index), tf.constant(mask))


def arrays_cohort(
    arrays: dict[str, np.ndarray], batch_size: int, name: str = "central"
) -> CohortData:
    """A one-client cohort over a centralized array set (centralized evaluation)."""
    n = len(next(iter(arrays.values())))
    index, mask = batch_schedule(np.arange(n, dtype=np.int64), batch_size)
    pool = {k: tf.constant(v) for k, v in arrays.items()}
    return CohortData((name,), pool, tf.constant(index[None]), tf.constant(mask[None]))
