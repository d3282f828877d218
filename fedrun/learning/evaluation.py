"""Evaluation: federated and centralized, and TFF's `build_fed_eval` shaped around it.

The run's evaluation (`fedrun.training.evaluation`) calls `evaluate_federated` and
`evaluate_centralized` directly; `build_fed_eval` wraps the same client
evaluation in a learning process for `fedrun.compat.tff` and its users.
"""

from __future__ import annotations

import collections
from typing import Any, Optional

import tensorflow as tf

from fedrun.core import intrinsics
from fedrun.core.placements import AtClients
from fedrun.data.cohort import CohortData
from fedrun.learning.process import LearningProcess
from fedrun.learning.templates import LearningAlgorithmState, LearningProcessOutput
from fedrun.models.functional import ModelWeights
from fedrun.runtime.base import Runtime
from fedrun.runtime.local import VectorizedRuntime
from fedrun.runtime.protocol import Trainer
from fedrun.runtime.trainer import LocalRule
from fedrun.runtime.variable_trainer import AnyModel, learning_model

# The aggregator state of TFF's federated evaluation (a weighted mean's, over sums
# that carry none); metrics are summed, so no aggregation process runs.
_MEAN_STATE = collections.OrderedDict(value_sum_process=(), weight_sum_process=())


def _add(a: Any, b: Any) -> Any:
    return tf.nest.map_structure(tf.add, a, b)


def summed_client_metrics(
    runtime: Runtime, trainer: Trainer, weights: ModelWeights, cohort: CohortData
) -> Any:
    """Each client's unfinalized metrics of `weights`, summed over the cohort."""
    stacked = runtime.evaluate(trainer, weights, cohort)
    return intrinsics.sum(AtClients(stacked, cohort.num_clients)).value


def build_fed_eval(
    model: AnyModel,
    runtime: Optional[Runtime] = None,
    trainer: Optional[Trainer] = None,
) -> LearningProcess:
    """Federated evaluation of a fixed model on clients' data.

    Args:
        model: The model (a `VariableModel` evaluates one client at a time).
        runtime: Executes client evaluation; default vectorized.
        trainer: A trainer of `model` to reuse (shares compiled functions with
            training); built from `runtime` if omitted.

    State: as a learning process; `client_work` is `((), <unfinalized metrics summed
    over every round so far>)`. Metrics: `client_work/eval/{current_round_metrics,
    total_rounds_metrics}`, both finalized; `aggregator/{mean_value, mean_weight}`
    are empty (metrics are summed, then finalized).
    """
    learning = learning_model(model)
    runtime = runtime or VectorizedRuntime()
    trainer = trainer or runtime.make_trainer(learning, None, LocalRule())

    def initialize() -> LearningAlgorithmState:
        return LearningAlgorithmState(
            learning.initial_weights,
            (),
            ((), learning.initial_metrics()),
            _MEAN_STATE,
            (),
        )

    def next_fn(state: LearningAlgorithmState, cohort: CohortData) -> LearningProcessOutput:
        current = summed_client_metrics(runtime, trainer, state.global_model_weights, cohort)
        total = _add(state.client_work[1], current)
        metrics = collections.OrderedDict(
            distributor=(),
            client_work=collections.OrderedDict(
                eval=collections.OrderedDict(
                    current_round_metrics=learning.finalize_metrics(current),
                    total_rounds_metrics=learning.finalize_metrics(total),
                )
            ),
            aggregator=collections.OrderedDict(mean_value=(), mean_weight=()),
            finalizer=(),
        )
        return LearningProcessOutput(state._replace(client_work=((), total)), metrics)

    return LearningProcess(initialize, next_fn, learning.input_spec)


def evaluate_federated(
    runtime: Runtime, trainer: Trainer, weights: ModelWeights, cohort: CohortData
) -> collections.OrderedDict[str, Any]:
    """Finalized metrics of `weights` on a cohort's clients: each client's unfinalized
    metrics summed over the cohort, then finalized (TFF's federated evaluation)."""
    return trainer.model.finalize_metrics(summed_client_metrics(runtime, trainer, weights, cohort))


def evaluate_centralized(
    trainer: Trainer, weights: ModelWeights, cohort: CohortData
) -> collections.OrderedDict[str, Any]:
    """Finalized metrics of `weights` on a centralized (one-client) cohort."""
    stacked = trainer.evaluate(weights, cohort)
    return trainer.model.finalize_metrics(tf.nest.map_structure(lambda t: t[0], stacked))
