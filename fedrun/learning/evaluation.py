"""Evaluation: federated (TFF's `build_fed_eval`) and centralized."""

from __future__ import annotations

import collections
from typing import Any, Optional, Union

import tensorflow as tf

from fedrun.aggregators.mean import MeanFactory
from fedrun.core import intrinsics
from fedrun.core.placements import AtClients
from fedrun.data.cohort import CohortData
from fedrun.learning.process import LearningProcess
from fedrun.learning.templates import LearningAlgorithmState, LearningProcessOutput
from fedrun.models.functional import FunctionalModel, ModelWeights
from fedrun.models.variable_model import VariableModel
from fedrun.runtime.base import Runtime
from fedrun.runtime.local import VectorizedRuntime
from fedrun.runtime.trainer import LocalRule, LocalTrainer
from fedrun.runtime.variable_trainer import learning_model


def _add(a: Any, b: Any) -> Any:
    return tf.nest.map_structure(tf.add, a, b)


def build_fed_eval(
    model: Union[FunctionalModel, VariableModel],
    runtime: Optional[Runtime] = None,
    trainer: Optional[LocalTrainer] = None,
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
    model = learning_model(model)
    runtime = runtime or VectorizedRuntime()
    trainer = trainer or runtime.make_trainer(model, None, LocalRule())
    mean_process = MeanFactory().create(model.weight_specs.trainable, tf.TensorSpec([], tf.float32))

    def initialize() -> LearningAlgorithmState:
        return LearningAlgorithmState(
            model.initial_weights, (), ((), model.initial_metrics()), mean_process.initialize(), ()
        )

    def next_fn(state: LearningAlgorithmState, cohort: CohortData) -> LearningProcessOutput:
        stacked = runtime.evaluate(trainer, state.global_model_weights, cohort)
        current = intrinsics.sum(AtClients(stacked, cohort.num_clients)).value
        total = _add(state.client_work[1], current)
        metrics = collections.OrderedDict(
            distributor=(),
            client_work=collections.OrderedDict(
                eval=collections.OrderedDict(
                    current_round_metrics=model.finalize_metrics(current),
                    total_rounds_metrics=model.finalize_metrics(total),
                )
            ),
            aggregator=collections.OrderedDict(mean_value=(), mean_weight=()),
            finalizer=(),
        )
        return LearningProcessOutput(state._replace(client_work=((), total)), metrics)

    return LearningProcess(initialize, next_fn, model.input_spec)


def evaluate_centralized(
    trainer: LocalTrainer, weights: ModelWeights, cohort: CohortData
) -> collections.OrderedDict[str, Any]:
    """Finalized metrics of `weights` on a centralized (one-client) cohort."""
    stacked = trainer.evaluate(weights, cohort)
    return trainer.model.finalize_metrics(tf.nest.map_structure(lambda t: t[0], stacked))
