"""In-process runtimes: `sequential` and `vectorized`."""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

from fedrun.config.params import bounded
from fedrun.data.cohort import CohortData
from fedrun.runtime.trainer import ClientOutputs, LocalTrainer, RoundInputs
from fedrun.models.functional import ModelWeights
from fedrun.runtime.base import RUNTIMES, Runtime, concat_outputs, slice_inputs

Nest = Any


class SequentialRuntime(Runtime):
    """One client at a time through one compiled function (traced once per run)."""

    vectorize = False

    def train(self, trainer: LocalTrainer, weights: ModelWeights, cohort: CohortData, inputs: RoundInputs) -> ClientOutputs:
        parts = [trainer.train(weights, cohort.client(k), slice_inputs(inputs, [k])) for k in range(cohort.num_clients)]
        return concat_outputs(parts)

    def evaluate(self, trainer: LocalTrainer, weights: ModelWeights, cohort: CohortData) -> Nest:
        return concat_outputs([trainer.evaluate(weights, cohort.client(k)) for k in range(cohort.num_clients)])


class VectorizedRuntime(Runtime):
    """The cohort (or chunks of it) trains together, weights stacked over clients.

    Args:
        chunk_size: Clients per compiled call; None trains the whole cohort at once.
            Smaller chunks bound memory (weights, optimizer state and activations
            of every client in a chunk are live together).
    """

    vectorize = True

    def __init__(self, chunk_size: Optional[int] = None) -> None:
        self.chunk_size = chunk_size

    def _chunks(self, count: int) -> list[list[int]]:
        size = self.chunk_size or count
        return [list(range(start, min(start + size, count))) for start in range(0, count, size)]

    def train(self, trainer: LocalTrainer, weights: ModelWeights, cohort: CohortData, inputs: RoundInputs) -> ClientOutputs:
        chunks = self._chunks(cohort.num_clients)
        if len(chunks) == 1:
            return trainer.train(weights, cohort, inputs)
        return concat_outputs([trainer.train(weights, cohort.subset(c), slice_inputs(inputs, c)) for c in chunks])

    def evaluate(self, trainer: LocalTrainer, weights: ModelWeights, cohort: CohortData) -> Nest:
        chunks = self._chunks(cohort.num_clients)
        if len(chunks) == 1:
            return trainer.evaluate(weights, cohort)
        return concat_outputs([trainer.evaluate(weights, cohort.subset(c)) for c in chunks])


@dataclasses.dataclass(frozen=True)
class VectorizedParams:
    chunk_size: Optional[int] = bounded(None, ge=1)


@RUNTIMES.register("sequential")
def _sequential() -> Runtime:
    """One client after another."""
    return SequentialRuntime()


@RUNTIMES.register("vectorized", VectorizedParams)
def _vectorized(p: VectorizedParams) -> Runtime:
    """The cohort in parallel in one compiled function."""
    return VectorizedRuntime(p.chunk_size)
