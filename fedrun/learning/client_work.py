"""Client work: local training of the broadcast model on each client's data."""

from __future__ import annotations

import collections
from typing import Any, Callable, Optional

import numpy as np
import tensorflow as tf

from fedrun.core import intrinsics
from fedrun.core.placements import AtClients
from fedrun.core.processes import MeasuredProcess, MeasuredProcessOutput
from fedrun.data.cohort import CohortData
from fedrun.learning.faults import TrainedCohort, surviving_clients, train_dropping_failures
from fedrun.learning.templates import ClientResult
from fedrun.optimizers import Optimizer
from fedrun.runtime.base import Runtime, client_seeds
from fedrun.runtime.trainer import ClientOutputs, LocalRule, RoundInputs
from fedrun.runtime.variable_trainer import LearningModel

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
    returns `AtClients(ClientResult(update, update_weight))` of the clients that
    survived: a client whose training raises, or whose update has a NaN or Inf, is
    dropped (see `fedrun.learning.faults`).
    State: `()`. Measurements: `{train: {<metrics>, loss, num_examples, num_batches},
    training_failed, update_non_finite[, runtime]}`: metrics summed over the surviving
    clients then finalized, the number of clients dropped for each reason, and the
    runtime's own failure counts when it reports any (`runtime=ray`:
    `{workers_lost, shares_retried, clients_lost}`, see `Runtime.take_measurements`).
    """

    def __init__(
        self,
        model: LearningModel,
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

    def _inputs(self, cohort: CohortData, broadcast: Any, per_client: Any) -> RoundInputs:
        return RoundInputs(
            tf.constant(self.learning_rate(cohort.round_num), tf.float32),
            broadcast,
            per_client,
            client_seeds(cohort.seed, cohort.round_num, cohort.client_ids),
        )

    def run(
        self, weights: AtClients, cohort: CohortData, broadcast: Any = (), per_client: Any = ()
    ) -> ClientOutputs:
        """Every client's raw outputs (algorithms that send more than an update use this)."""
        return self.runtime.train(
            self.trainer, weights.value, cohort, self._inputs(cohort, broadcast, per_client)
        )

    def run_dropping_failures(
        self, weights: AtClients, cohort: CohortData, broadcast: Any = (), per_client: Any = ()
    ) -> TrainedCohort:
        """As `run`, but a client whose training raises, or whose result the runtime
        lost (a Ray worker that died twice), is marked instead of failing the round."""
        trained = train_dropping_failures(
            lambda c, i: self.runtime.train(self.trainer, weights.value, c, i),
            cohort,
            self._inputs(cohort, broadcast, per_client),
        )
        lost = self.runtime.take_lost_clients()
        if not lost:
            return trained
        return trained._replace(
            raised=trained.raised | np.isin(np.asarray(cohort.client_ids), list(lost))
        )

    def summarize(
        self, outputs: ClientOutputs, num_clients: int, keep: Optional[np.ndarray] = None
    ) -> tuple[AtClients, collections.OrderedDict]:
        """The clients' `ClientResult`s and the finalized `train` metrics of raw outputs.

        Args:
            outputs: Every client's stacked outputs.
            num_clients: The cohort size.
            keep: bool `[K]`: the clients to keep (`surviving_clients`); None keeps all.
        """
        update_weight = (
            outputs.num_examples if self.weighted else tf.ones([num_clients], tf.float32)
        )
        result = AtClients(ClientResult(outputs.update, update_weight), num_clients)
        metrics = AtClients(outputs.metrics, num_clients)
        if keep is not None and not keep.all():
            result, metrics = result.select(keep), metrics.select(keep)
        train = self.model.finalize_metrics(intrinsics.sum(metrics).value)
        return result, train

    def _next(
        self,
        state: Any,
        weights: AtClients,
        cohort: CohortData,
        broadcast: Any = (),
        per_client: Any = (),
    ) -> MeasuredProcessOutput:
        outputs, raised = self.run_dropping_failures(weights, cohort, broadcast, per_client)
        keep, non_finite = surviving_clients(outputs.update, raised, cohort)
        result, train = self.summarize(outputs, cohort.num_clients, keep)
        measurements = collections.OrderedDict(
            train=train,
            training_failed=tf.constant(int(raised.sum()), tf.int32),
            update_non_finite=tf.constant(int(non_finite.sum()), tf.int32),
        )
        runtime_counts = self.runtime.take_measurements()
        if runtime_counts:
            measurements["runtime"] = collections.OrderedDict(
                (key, tf.constant(count, tf.int32)) for key, count in runtime_counts.items()
            )
        return MeasuredProcessOutput(state, result, measurements)
