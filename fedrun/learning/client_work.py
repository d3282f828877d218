"""Client work: local training of the broadcast model on each client's data."""

from __future__ import annotations

import collections
from typing import Any, Callable, Optional

import tensorflow as tf

from fedrun.core import intrinsics
from fedrun.core.placements import AtClients
from fedrun.core.processes import MeasuredProcess, MeasuredProcessOutput
from fedrun.data.cohort import CohortData
from fedrun.learning.templates import ClientResult
from fedrun.models.functional import FunctionalModel
from fedrun.optimizers import Optimizer
from fedrun.runtime.base import Runtime, client_seeds
from fedrun.runtime.trainer import ClientOutputs, LocalRule, RoundInputs

LearningRateSchedule = Callable[[int], float]


class ModelDeltaClientWork(MeasuredProcess):
    """Trains the broadcast model on each client; sends `initial - final` weights.

    Args:
        model: The model.
        optimizer: The client optimizer.
        runtime: Where client training executes.
        rule: The algorithm's local rule (default: plain local SGD steps).
        weighted: Weight updates by examples processed (else every client weighs 1).
        learning_rate_schedule: Round number (1-based) -> client learning rate.

    `next(state, weights: AtClients, cohort: CohortData[, broadcast, per_client])`
    returns `AtClients(ClientResult(update, update_weight))`.
    State: `()`. Measurements: `{train: {<metrics>, loss, num_examples, num_batches}}`,
    metrics summed over clients then finalized.
    """

    def __init__(
        self,
        model: FunctionalModel,
        optimizer: Optimizer,
        runtime: Runtime,
        rule: Optional[LocalRule] = None,
        weighted: bool = True,
        learning_rate_schedule: Optional[LearningRateSchedule] = None,
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        self.runtime = runtime
        self.weighted = weighted
        self.learning_rate_schedule = learning_rate_schedule
        self.trainer = runtime.make_trainer(model, optimizer, rule or LocalRule())
        super().__init__(lambda: (), self._next)

    def learning_rate(self, round_num: int) -> float:
        """The client learning rate of a round."""
        if self.learning_rate_schedule is None:
            return self.optimizer.learning_rate
        return float(self.learning_rate_schedule(round_num))

    def run(self, weights: AtClients, cohort: CohortData, broadcast: Any = (), per_client: Any = ()) -> ClientOutputs:
        """Every client's raw outputs (algorithms that send more than an update use this)."""
        inputs = RoundInputs(
            tf.constant(self.learning_rate(cohort.round_num), tf.float32),
            broadcast,
            per_client,
            client_seeds(cohort.seed, cohort.round_num, cohort.client_ids),
        )
        return self.runtime.train(self.trainer, weights.value, cohort, inputs)

    def summarize(self, outputs: ClientOutputs, num_clients: int) -> tuple[AtClients, collections.OrderedDict]:
        """The clients' `ClientResult`s and the finalized `train` metrics of raw outputs."""
        update_weight = outputs.num_examples if self.weighted else tf.ones([num_clients], tf.float32)
        result = AtClients(ClientResult(outputs.update, update_weight), num_clients)
        train = self.model.finalize_metrics(intrinsics.sum(AtClients(outputs.metrics, num_clients)).value)
        return result, train

    def _next(self, state: Any, weights: AtClients, cohort: CohortData, broadcast: Any = (), per_client: Any = ()) -> MeasuredProcessOutput:
        outputs = self.run(weights, cohort, broadcast, per_client)
        result, train = self.summarize(outputs, cohort.num_clients)
        return MeasuredProcessOutput(state, result, collections.OrderedDict(train=train))
