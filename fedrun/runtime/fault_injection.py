"""Client faults injected at random (`faults: {raises: 0.05, non_finite: 0.02}`), a test hook.

Each sampled client of each round independently raises during its local training
with probability `raises`, or else sends an update full of NaN with probability
`non_finite`, drawn from `(seed, round, client id)` alone, so a resumed run injects the
same faults as an uninterrupted one and a test can list them in advance
(`planned_faults`). The wrapped runtime behaves as a real failure would reach
fedrun: a training call whose cohort holds a raising client raises
(`InjectedFault`), so the round's search for the failing clients runs
(`fedrun.learning.faults`), and NaN updates meet the finiteness check. Such
clients are dropped and counted in `client_work.training_failed` and
`client_work.update_non_finite`; the run goes on unless fewer than `min_clients`
survive.

Every local training call of a round is subject to it (personalization's too);
evaluation is not.
"""

from __future__ import annotations

import dataclasses
import zlib
from typing import NamedTuple, Sequence

import numpy as np
import tensorflow as tf

from fedrun.config.params import bounded
from fedrun.data.cohort import CohortData
from fedrun.models.functional import ModelWeights
from fedrun.runtime.base import Runtime, WrappedRuntime
from fedrun.runtime.protocol import Trainer
from fedrun.runtime.trainer import ClientOutputs, RoundInputs


@dataclasses.dataclass(frozen=True)
class FaultConfig:
    """The `faults:` block.

    Attributes:
        raises: Probability that a sampled client's training raises in a round.
        non_finite: Probability that it otherwise sends a NaN update.
    """

    raises: float = bounded(0.0, ge=0.0, le=1.0)
    non_finite: float = bounded(0.0, ge=0.0, le=1.0)

    def __post_init__(self) -> None:
        if self.raises + self.non_finite > 1:
            raise ValueError(
                f"raises + non_finite must be at most 1, got {self.raises} + {self.non_finite}"
            )


class InjectedFault(RuntimeError):
    """The failure a faulty client's training raises."""


class PlannedFaults(NamedTuple):
    """The clients of one round that fail, by kind."""

    raises: frozenset[str]
    nan: frozenset[str]


def planned_faults(
    config: FaultConfig, seed: int, round_num: int, client_ids: Sequence[str]
) -> PlannedFaults:
    """Which of `client_ids` fail in round `round_num` (a function of seed, round and id only)."""
    raises, nan = set(), set()
    for client_id in client_ids:
        draw = np.random.default_rng(
            [seed, round_num, zlib.crc32(client_id.encode()), 0xFA17]
        ).random()
        if draw < config.raises:
            raises.add(client_id)
        elif draw < config.raises + config.non_finite:
            nan.add(client_id)
    return PlannedFaults(frozenset(raises), frozenset(nan))


class FaultInjectingRuntime(WrappedRuntime):
    """Runs `inner`, with the planned clients' training raising or returning NaN updates.

    Args:
        inner: The runtime that trains.
        config: The fault rates.
        seed: The run's seed.
    """

    def __init__(self, inner: Runtime, config: FaultConfig, seed: int) -> None:
        super().__init__(inner)
        self.config, self.seed = config, seed

    def train(
        self, trainer: Trainer, weights: ModelWeights, cohort: CohortData, inputs: RoundInputs
    ) -> ClientOutputs:
        faults = planned_faults(self.config, self.seed, cohort.round_num, cohort.client_ids)
        raising = sorted(faults.raises.intersection(cohort.client_ids))
        if raising:
            raise InjectedFault(
                f"injected fault: client {raising[0]} raises in round {cohort.round_num}"
            )
        outputs = self.inner.train(trainer, weights, cohort, inputs)
        poisoned = np.isin(np.asarray(cohort.client_ids), list(faults.nan))
        if not poisoned.any():
            return outputs
        mask = tf.constant(poisoned)

        def poison(leaf: tf.Tensor) -> tf.Tensor:
            rows = tf.reshape(mask, [-1] + [1] * (leaf.shape.rank - 1))
            return tf.where(rows, tf.constant(np.nan, leaf.dtype), leaf)

        return outputs._replace(update=tf.nest.map_structure(poison, outputs.update))
