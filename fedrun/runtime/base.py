"""How a cohort's client work executes (`runtime: {type: ...}`).

A runtime takes a `LocalTrainer`-like program, the global weights and a
`CohortData`, and returns every client's outputs stacked along a client axis.
The algorithm never knows which runtime ran it: `sequential` and `vectorized` give
the same numbers (to float rounding) for the same seed.
"""

from __future__ import annotations

import abc
import zlib
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf

from fedrun.config.registry import Registry
from fedrun.data.cohort import CohortData
from fedrun.runtime.trainer import ClientOutputs, LocalRule, LocalTrainer, RoundInputs
from fedrun.runtime.variable_trainer import LearningModel, VariableModelFunctions, VariableTrainer
from fedrun.models.functional import FunctionalModel, ModelWeights
from fedrun.optimizers import Optimizer

Nest = Any


def client_seeds(seed: int, round_num: int, client_ids: Sequence[str]) -> tf.Tensor:
    """int32 `[K, 2]` random seeds per client and round (dropout), runtime-independent."""
    rows = [
        [
            zlib.crc32(f"{seed}/{round_num}".encode()) & 0x7FFFFFFF,
            zlib.crc32(cid.encode()) & 0x7FFFFFFF,
        ]
        for cid in client_ids
    ]
    return tf.constant(np.asarray(rows, dtype=np.int32).reshape(len(client_ids), 2))


def slice_inputs(inputs: RoundInputs, positions: Sequence[int]) -> RoundInputs:
    """The round inputs of the clients at `positions`."""
    positions = list(positions)
    per_client = tf.nest.map_structure(lambda t: tf.gather(t, positions), inputs.per_client)
    return inputs._replace(per_client=per_client, seeds=tf.gather(inputs.seeds, positions))


def concat_outputs(parts: Sequence[Nest]) -> Nest:
    """Joins per-chunk stacked outputs along the client axis."""
    if len(parts) == 1:
        return parts[0]
    return tf.nest.map_structure(lambda *xs: tf.concat(xs, axis=0), *parts)


class Runtime(abc.ABC):
    """Executes client work for a cohort.

    Attributes:
        vectorize: Whether its trainers step many clients together.
    """

    vectorize: bool = False

    def make_trainer(
        self, model: LearningModel, optimizer: Optional[Optimizer], rule: LocalRule
    ) -> LocalTrainer:
        """The compiled local trainer this runtime runs (a `VariableTrainer`, one
        client at a time, for a model that owns variables)."""
        if isinstance(model, VariableModelFunctions):
            return VariableTrainer(model, optimizer, rule)  # type: ignore[return-value]
        return LocalTrainer(model, optimizer, rule, vectorize=self.vectorize)

    @abc.abstractmethod
    def train(
        self, trainer: LocalTrainer, weights: ModelWeights, cohort: CohortData, inputs: RoundInputs
    ) -> ClientOutputs:
        """Trains every client of the cohort from `weights`."""

    @abc.abstractmethod
    def evaluate(self, trainer: LocalTrainer, weights: ModelWeights, cohort: CohortData) -> Nest:
        """Stacked unfinalized metrics of `weights` on every client's batches."""

    def bind_run_config(self, run_config: Mapping[str, Any]) -> None:
        """Receives the run's plain config (`fedrun.run.build` calls it once).

        Runtimes that execute client work in other processes rebuild the run there
        from it (`ray`); in-process runtimes ignore it.
        """

    def take_lost_clients(self) -> frozenset[str]:
        """Ids of the clients whose training results were lost since the last call
        (their Ray worker died twice), for the round to drop them; in-process
        runtimes lose none."""
        return frozenset()

    def close(self) -> None:
        """Releases workers (Ray actors ...); a no-op for in-process runtimes."""


RUNTIMES: Registry[Runtime] = Registry("runtime")
