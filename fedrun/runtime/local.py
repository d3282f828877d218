"""In-process runtimes: `sequential` and `vectorized`.

Both run the same compiled `Trainer`, so they give the same numbers for the
same seed. `vectorized` trains the cohort (or chunks of it) in one call;
per-client convolutions run as one grouped convolution
(`fedrun.runtime.vectorized_layers`). When the model has an op that cannot be
vectorized over clients (on CPU: a strided or dilated per-client convolution), it
says so and trains one client per call (`fallback: sequential`), or refuses
(`fallback: error`).
"""

from __future__ import annotations

import dataclasses
import logging
import weakref
from typing import Any, Iterator, Literal, Optional, Union

from fedrun.config.errors import ConfigError
from fedrun.config.params import bounded
from fedrun.data.cohort import CohortData
from fedrun.models.functional import ModelWeights
from fedrun.optimizers import Optimizer
from fedrun.runtime import memory
from fedrun.runtime.base import RUNTIMES, Runtime, concat_outputs, slice_inputs
from fedrun.runtime.protocol import Trainer
from fedrun.runtime.recipe import WorkerRecipe
from fedrun.runtime.trainer import ClientOutputs, LocalRule, LocalTrainer, RoundInputs
from fedrun.runtime.variable_trainer import LearningModel, VariableModelFunctions
from fedrun.runtime.vectorizable import vectorization_problem, vectorizing_suits

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
    trainer: Trainer, weights: ModelWeights, cohort: CohortData, inputs: RoundInputs
) -> ClientOutputs:
    """Trains each client in its own call; outputs stacked as a vectorized call's."""
    parts = [
        trainer.train(weights, one, slice_inputs(inputs, [k]))
        for k, one in enumerate(one_client_cohorts(cohort))
    ]
    return concat_outputs(parts)


def evaluate_one_by_one(trainer: Trainer, weights: ModelWeights, cohort: CohortData) -> Nest:
    """Evaluates each client in its own call; metrics stacked over clients."""
    return concat_outputs([trainer.evaluate(weights, one) for one in one_client_cohorts(cohort)])


def check_one_lane(
    budget: int,
    model: LearningModel,
    optimizer: Optional[Optimizer],
    batch_size: int,
    eval_batch_size: int,
) -> None:
    """Raises `ConfigError` when one client's training or evaluation step exceeds `budget`."""
    train = memory.LaneCost.of(model, optimizer, training=True).bytes(batch_size, 1)
    evaluate = memory.LaneCost.of(model, None, training=False).bytes(eval_batch_size, 1)
    memory.lanes_that_fit(budget, max(train, evaluate), 1)


class InProcessRuntime(Runtime):
    """A runtime that trains in this process, within a memory budget.

    Attributes:
        memory_budget: Bytes one call's clients may use.
    """

    memory_budget: int

    def check_memory(
        self,
        model: LearningModel,
        optimizer: Optional[Optimizer],
        batch_size: int,
        eval_batch_size: int,
    ) -> None:
        check_one_lane(self.memory_budget, model, optimizer, batch_size, eval_batch_size)


class SequentialRuntime(InProcessRuntime):
    """One client at a time through one compiled function (traced once per run).

    Args:
        jit_compile: XLA (True), TensorFlow graph (False), or XLA when the model's
            ops allow it (None).
        memory_budget: Bytes (or a size like "4GB") one client's call may use;
            None: a fraction of the available memory (`fedrun.runtime.memory`).

    Attributes:
        trainers: The trainers this runtime made (their `trace_count`s).
    """

    vectorize = False

    def __init__(
        self, jit_compile: Optional[bool] = None, memory_budget: memory.Budget = None
    ) -> None:
        self.jit_compile = jit_compile
        self.memory_budget = memory.parse_budget(memory_budget) or memory.default_budget()
        self.trainers: list[Trainer] = []

    def make_trainer(
        self, model: LearningModel, optimizer: Optional[Optimizer], rule: LocalRule
    ) -> Trainer:
        if isinstance(model, VariableModelFunctions):
            trainer = super().make_trainer(model, optimizer, rule)
        else:
            trainer = LocalTrainer(
                model, optimizer, rule, vectorize=False, jit_compile=self.jit_compile
            )
        self.trainers.append(trainer)
        return trainer

    def train(
        self, trainer: Trainer, weights: ModelWeights, cohort: CohortData, inputs: RoundInputs
    ) -> ClientOutputs:
        return train_one_by_one(trainer, weights, cohort, inputs)

    def evaluate(self, trainer: Trainer, weights: ModelWeights, cohort: CohortData) -> Nest:
        return evaluate_one_by_one(trainer, weights, cohort)


_LANE_COSTS: "weakref.WeakKeyDictionary[Trainer, dict[bool, memory.LaneCost]]" = (
    weakref.WeakKeyDictionary()
)


def lane_cost(trainer: Trainer, training: bool) -> memory.LaneCost:
    """The memory estimate of one lane of `trainer` (computed once per trainer: the
    walk over the Keras layers costs about a millisecond, every round)."""
    costs = _LANE_COSTS.setdefault(trainer, {})
    if training not in costs:
        optimizer = trainer.optimizer if training else None
        costs[training] = memory.LaneCost.of(trainer.model, optimizer, training=training)
    return costs[training]


class VectorizedRuntime(InProcessRuntime):
    """The cohort (or chunks of it) trains together, weights stacked over clients.

    Args:
        chunk_size: Clients per compiled call; None trains the whole cohort at once.
            Smaller chunks bound memory (weights, optimizer state and activations
            of every client in a chunk are live together).
        jit_compile: XLA (True), TensorFlow graph (False), or XLA when the model's
            ops allow it (None).
        fallback: What to do with a model that cannot be vectorized: "sequential"
            (train one client per call, with a warning) or "error". "sequential"
            also trains convolutional and recurrent models one client per call on CPU, where
            that is faster (`vectorizing_suits`); "error" vectorizes them.
        memory_budget: Bytes (or a size like "4GB") one call may use; training and
            evaluation cohorts are cut into chunks whose estimated peak fits it.
            None: a fraction of the available memory (`fedrun.runtime.memory`).
        pack_clients: Train unequal clients one after another in fewer lanes
            (`fedrun.runtime.packing`; same results, fewer padding steps). None:
            on CPUs, where narrower steps are cheaper; True / False to force.

    Attributes:
        trainers: The trainers this runtime made (their `trace_count`s).
    """

    vectorize = True

    def __init__(
        self,
        chunk_size: Optional[int] = None,
        jit_compile: Optional[bool] = None,
        fallback: str = "sequential",
        memory_budget: memory.Budget = None,
        pack_clients: Optional[bool] = None,
    ) -> None:
        self.chunk_size = chunk_size
        self.jit_compile = jit_compile
        self.fallback = fallback
        self.pack_clients = pack_clients
        self.memory_budget = memory.parse_budget(memory_budget) or memory.default_budget()
        self.trainers: list[Trainer] = []

    def make_trainer(
        self, model: LearningModel, optimizer: Optional[Optimizer], rule: LocalRule
    ) -> Trainer:
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
        vectorize = problem is None
        if vectorize and self.fallback != "error" and not vectorizing_suits(model):
            log.info(
                "convolutional or recurrent model on CPU: training one client per call "
                "(faster here; fallback=error vectorizes)"
            )
            vectorize = False
        trainer = LocalTrainer(
            model,
            optimizer,
            rule,
            vectorize=vectorize,
            jit_compile=self.jit_compile,
            pack_clients=self.pack_clients,
        )
        self.trainers.append(trainer)
        return trainer

    def train(
        self, trainer: Trainer, weights: ModelWeights, cohort: CohortData, inputs: RoundInputs
    ) -> ClientOutputs:
        budget = self.memory_budget
        cost = lane_cost(trainer, training=True)
        per_lane = cost.bytes(int(cohort.index.shape[2]), int(cohort.index.shape[1]))
        lanes = memory.lanes_that_fit(budget, per_lane, cohort.num_clients)
        if not trainer.vectorize:
            return train_one_by_one(trainer, weights, cohort, inputs)
        chunks = memory.chunks(cohort.num_clients, min(lanes, self.chunk_size or lanes))
        if len(chunks) == 1:
            return trainer.train(weights, cohort, inputs)
        return concat_outputs(
            [trainer.train(weights, cohort.subset(c), slice_inputs(inputs, c)) for c in chunks]
        )

    def evaluate(self, trainer: Trainer, weights: ModelWeights, cohort: CohortData) -> Nest:
        if not trainer.vectorize:
            return evaluate_one_by_one(trainer, weights, cohort)
        cost = lane_cost(trainer, training=False)
        plan = memory.evaluation_chunks(cohort, cost.bytes, self.memory_budget)
        if self.chunk_size:
            plan = [
                chunk[i : i + self.chunk_size]
                for chunk in plan
                for i in range(0, len(chunk), self.chunk_size)
            ]
        parts = [trainer.evaluate(weights, memory.trim_batches(cohort.subset(c))) for c in plan]
        return memory.in_order(parts, plan)


@dataclasses.dataclass(frozen=True)
class SequentialParams:
    jit_compile: Optional[bool] = None
    memory_budget: Optional[Union[int, str]] = None

    def __post_init__(self) -> None:
        memory.parse_budget(self.memory_budget)


@dataclasses.dataclass(frozen=True)
class VectorizedParams:
    chunk_size: Optional[int] = bounded(None, ge=1)
    jit_compile: Optional[bool] = None
    fallback: Literal["sequential", "error"] = "sequential"
    memory_budget: Optional[Union[int, str]] = None
    pack_clients: Optional[bool] = None

    def __post_init__(self) -> None:
        memory.parse_budget(self.memory_budget)


@RUNTIMES.register("sequential", SequentialParams)
def _sequential(p: SequentialParams, recipe: Optional[WorkerRecipe] = None) -> Runtime:
    """One client after another."""
    return SequentialRuntime(p.jit_compile, p.memory_budget)


@RUNTIMES.register("vectorized", VectorizedParams)
def _vectorized(p: VectorizedParams, recipe: Optional[WorkerRecipe] = None) -> Runtime:
    """The cohort in parallel in one compiled function."""
    return VectorizedRuntime(
        p.chunk_size, p.jit_compile, p.fallback, p.memory_budget, p.pack_clients
    )


__all__ = ["SequentialRuntime", "VectorizedRuntime", "one_client_cohorts"]
