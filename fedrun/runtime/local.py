"""In-process runtimes: `sequential` and `vectorized`.

Both run the same compiled `LocalTrainer`, so they give the same numbers for the
same seed. `vectorized` trains the cohort (or chunks of it) in one call; when the
model has an op that TensorFlow cannot vectorize over clients (a convolution:
its filter differs per client), it says so and trains one client per call, which
for such compute-bound models is also the faster choice (`fallback: sequential`),
or refuses (`fallback: error`).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Iterator, Literal, Optional

from fedrun.config.errors import ConfigError
from fedrun.config.params import bounded
from fedrun.data.cohort import CohortData
from fedrun.models.functional import ModelWeights
from fedrun.optimizers import Optimizer
from fedrun.runtime.base import RUNTIMES, Runtime, concat_outputs, slice_inputs
from fedrun.runtime.trainer import ClientOutputs, LocalRule, LocalTrainer, RoundInputs
from fedrun.runtime.variable_trainer import LearningModel, VariableModelFunctions
from fedrun.runtime.vectorizable import vectorization_problem

Nest = Any
log = logging.getLogger(__name__)


def one_client_cohorts(cohort: CohortData) -> Iterator[CohortData]:
    """Each client of `cohort` as a one-client cohort without padding steps."""
    steps = cohort.steps_per_client()
    for k in range(cohort.num_clients):
        yield dataclasses.replace(
            cohort,
            client_ids=(cohort.client_ids[k],),
            index=cohort.index[k : k + 1, : steps[k]],
            mask=cohort.mask[k : k + 1, : steps[k]],
        )


def train_one_by_one(
    trainer: LocalTrainer, weights: ModelWeights, cohort: CohortData, inputs: RoundInputs
) -> ClientOutputs:
    """Trains each client in its own call; outputs stacked as a vectorized call's."""
    parts = [
        trainer.train(weights, one, slice_inputs(inputs, [k]))
        for k, one in enumerate(one_client_cohorts(cohort))
    ]
    return concat_outputs(parts)


def evaluate_one_by_one(trainer: LocalTrainer, weights: ModelWeights, cohort: CohortData) -> Nest:
    """Evaluates each client in its own call; metrics stacked over clients."""
    return concat_outputs([trainer.evaluate(weights, one) for one in one_client_cohorts(cohort)])


class SequentialRuntime(Runtime):
    """One client at a time through one compiled function (traced once per run).

    Args:
        jit_compile: XLA (True), TensorFlow graph (False), or XLA when the model's
            ops allow it (None).

    Attributes:
        trainers: The trainers this runtime made (their `trace_count`s).
    """

    vectorize = False

    def __init__(self, jit_compile: Optional[bool] = None) -> None:
        self.jit_compile = jit_compile
        self.trainers: list[LocalTrainer] = []

    def make_trainer(
        self, model: LearningModel, optimizer: Optional[Optimizer], rule: LocalRule
    ) -> LocalTrainer:
        if isinstance(model, VariableModelFunctions):
            trainer = super().make_trainer(model, optimizer, rule)
        else:
            trainer = LocalTrainer(
                model, optimizer, rule, vectorize=False, jit_compile=self.jit_compile
            )
        self.trainers.append(trainer)
        return trainer

    def train(
        self, trainer: LocalTrainer, weights: ModelWeights, cohort: CohortData, inputs: RoundInputs
    ) -> ClientOutputs:
        return train_one_by_one(trainer, weights, cohort, inputs)

    def evaluate(self, trainer: LocalTrainer, weights: ModelWeights, cohort: CohortData) -> Nest:
        return evaluate_one_by_one(trainer, weights, cohort)


class VectorizedRuntime(Runtime):
    """The cohort (or chunks of it) trains together, weights stacked over clients.

    Args:
        chunk_size: Clients per compiled call; None trains the whole cohort at once.
            Smaller chunks bound memory (weights, optimizer state and activations
            of every client in a chunk are live together).
        jit_compile: XLA (True), TensorFlow graph (False), or XLA when the model's
            ops allow it (None).
        fallback: What to do with a model that cannot be vectorized: "sequential"
            (train one client per call, with a warning) or "error".

    Attributes:
        trainers: The trainers this runtime made (their `trace_count`s).
    """

    vectorize = True

    def __init__(
        self,
        chunk_size: Optional[int] = None,
        jit_compile: Optional[bool] = None,
        fallback: str = "sequential",
    ) -> None:
        self.chunk_size = chunk_size
        self.jit_compile = jit_compile
        self.fallback = fallback
        self.trainers: list[LocalTrainer] = []

    def make_trainer(
        self, model: LearningModel, optimizer: Optional[Optimizer], rule: LocalRule
    ) -> LocalTrainer:
        if isinstance(model, VariableModelFunctions):  # owns variables: one client at a time
            trainer = super().make_trainer(model, optimizer, rule)
            self.trainers.append(trainer)
            return trainer
        problem = vectorization_problem(model)
        if problem is not None:
            if self.fallback == "error":
                raise ConfigError(
                    "runtime",
                    f"the model cannot be vectorized over clients: {problem}",
                    "vectorized",
                    "sequential",
                )
            log.warning(
                "the model cannot be vectorized over clients (%s); training one client per call",
                problem,
            )
        trainer = LocalTrainer(
            model, optimizer, rule, vectorize=problem is None, jit_compile=self.jit_compile
        )
        self.trainers.append(trainer)
        return trainer

    def _chunks(self, count: int) -> list[list[int]]:
        size = self.chunk_size or count
        return [list(range(start, min(start + size, count))) for start in range(0, count, size)]

    def train(
        self, trainer: LocalTrainer, weights: ModelWeights, cohort: CohortData, inputs: RoundInputs
    ) -> ClientOutputs:
        if not trainer.vectorize:
            return train_one_by_one(trainer, weights, cohort, inputs)
        chunks = self._chunks(cohort.num_clients)
        if len(chunks) == 1:
            return trainer.train(weights, cohort, inputs)
        return concat_outputs(
            [trainer.train(weights, cohort.subset(c), slice_inputs(inputs, c)) for c in chunks]
        )

    def evaluate(self, trainer: LocalTrainer, weights: ModelWeights, cohort: CohortData) -> Nest:
        if not trainer.vectorize:
            return evaluate_one_by_one(trainer, weights, cohort)
        chunks = self._chunks(cohort.num_clients)
        if len(chunks) == 1:
            return trainer.evaluate(weights, cohort)
        return concat_outputs([trainer.evaluate(weights, cohort.subset(c)) for c in chunks])


@dataclasses.dataclass(frozen=True)
class SequentialParams:
    jit_compile: Optional[bool] = None


@dataclasses.dataclass(frozen=True)
class VectorizedParams:
    chunk_size: Optional[int] = bounded(None, ge=1)
    jit_compile: Optional[bool] = None
    fallback: Literal["sequential", "error"] = "sequential"


@RUNTIMES.register("sequential", SequentialParams)
def _sequential(p: SequentialParams) -> Runtime:
    """One client after another."""
    return SequentialRuntime(p.jit_compile)


@RUNTIMES.register("vectorized", VectorizedParams)
def _vectorized(p: VectorizedParams) -> Runtime:
    """The cohort in parallel in one compiled function."""
    return VectorizedRuntime(p.chunk_size, p.jit_compile, p.fallback)


__all__ = ["SequentialRuntime", "VectorizedRuntime", "one_client_cohorts"]
