"""How a cohort's client work executes (`runtime: {type: ...}`).

A runtime takes a `LocalTrainer`-like program, the global weights and a
`CohortData`, and returns every client's outputs stacked along a client axis.
The algorithm never knows which runtime ran it: `sequential` and `vectorized` give
the same numbers (to float rounding) for the same seed.
"""

from __future__ import annotations

import abc
import zlib
from typing import Any, Optional, Sequence

import numpy as np
import tensorflow as tf

from fedrun.config.registry import Registry
from fedrun.data.cohort import CohortData
from fedrun.models.functional import ModelWeights
from fedrun.optimizers import Optimizer
from fedrun.runtime.protocol import Trainer
from fedrun.runtime.trainer import ClientOutputs, LocalRule, LocalTrainer, RoundInputs
from fedrun.runtime.variable_trainer import LearningModel, VariableModelFunctions, VariableTrainer

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
    ) -> Trainer:
        """The compiled local trainer this runtime runs (a `VariableTrainer`, one
        client at a time, for a model that owns variables)."""
        if isinstance(model, VariableModelFunctions):
            return VariableTrainer(model, optimizer, rule)
        return LocalTrainer(model, optimizer, rule, vectorize=self.vectorize)

    @abc.abstractmethod
    def train(
        self, trainer: Trainer, weights: ModelWeights, cohort: CohortData, inputs: RoundInputs
    ) -> ClientOutputs:
        """Trains every client of the cohort from `weights`."""

    @abc.abstractmethod
    def evaluate(self, trainer: Trainer, weights: ModelWeights, cohort: CohortData) -> Nest:
        """Stacked unfinalized metrics of `weights` on every client's batches."""

    def check_memory(
        self,
        model: LearningModel,
        optimizer: Optional[Optimizer],
        batch_size: int,
        eval_batch_size: int,
    ) -> None:
        """Raises `ConfigError` (naming `runtime.memory_budget`) when not even one
        client fits the runtime's memory budget; called before training starts.
        Runtimes without a budget accept every model."""
        return None

    def take_lost_clients(self) -> frozenset[str]:
        """Ids of the clients whose training results were lost since the last call
        (their Ray worker died twice), for the round to drop them; in-process
        runtimes lose none."""
        return frozenset()

    def take_measurements(self) -> dict[str, int]:
        """Counts of the runtime's own failures in the training calls since the last
        call (Ray: workers lost, shares retried), for the round's client-work
        measurements; in-process runtimes have none (an empty dict)."""
        return {}

    def close(self) -> None:  # noqa: B027 (optional hook: in-process runtimes hold nothing)
        """Releases workers (Ray actors ...); a no-op for in-process runtimes."""


class WrappedRuntime(Runtime):
    """A runtime that runs `inner` and changes part of what it does.

    Everything is delegated to `inner` (its trainers, training, evaluation, memory
    check, lost clients, measurements, release); a subclass overrides what it changes.

    Args:
        inner: The runtime that does the work.
    """

    def __init__(self, inner: Runtime) -> None:
        self.inner = inner
        self.vectorize = inner.vectorize

    def make_trainer(
        self, model: LearningModel, optimizer: Optional[Optimizer], rule: LocalRule
    ) -> Trainer:
        return self.inner.make_trainer(model, optimizer, rule)

    def train(
        self, trainer: Trainer, weights: ModelWeights, cohort: CohortData, inputs: RoundInputs
    ) -> ClientOutputs:
        return self.inner.train(trainer, weights, cohort, inputs)

    def evaluate(self, trainer: Trainer, weights: ModelWeights, cohort: CohortData) -> Nest:
        return self.inner.evaluate(trainer, weights, cohort)

    def check_memory(
        self,
        model: LearningModel,
        optimizer: Optional[Optimizer],
        batch_size: int,
        eval_batch_size: int,
    ) -> None:
        self.inner.check_memory(model, optimizer, batch_size, eval_batch_size)

    def take_lost_clients(self) -> frozenset[str]:
        return self.inner.take_lost_clients()

    def take_measurements(self) -> dict[str, int]:
        return self.inner.take_measurements()

    def close(self) -> None:
        self.inner.close()


# Builders take their parameters and `recipe`, the run's `WorkerRecipe` (what
# runtimes with workers in other processes build them from; in-process ones ignore it).
RUNTIMES: Registry[Runtime] = Registry("runtime")
