"""Federated Averaging (McMahan et al. 2017), with client and server optimizers.

The tutorial's `build_weighted_fed_avg`: clients train locally with the client
optimizer; their updates `initial - final` are averaged (weighted by examples
processed, or unweighted) through the aggregator tree; the server optimizer
applies the average as a pseudo-gradient (SGD with learning rate 1.0 gives plain
averaging of the client models).
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Union

import tensorflow as tf

from fedrun.aggregators.build import build_aggregator
from fedrun.aggregators.factory import AggregationFactory, supports_unweighted, supports_weighted
from fedrun.aggregators.mean import MeanFactory
from fedrun.core.processes import MeasuredProcess
from fedrun.learning.algorithms.registry import ALGORITHMS, AlgorithmContext, LearningRateSchedule
from fedrun.learning.client_work import ModelDeltaClientWork
from fedrun.learning.distributor import build_broadcast_process
from fedrun.learning.finalizer import build_apply_optimizer_finalizer
from fedrun.learning.process import LearningProcess, compose_learning_process
from fedrun.models.functional import FunctionalModel
from fedrun.models.variable_model import VariableModel
from fedrun.optimizers import SGD, Optimizer
from fedrun.runtime.base import Runtime
from fedrun.runtime.local import VectorizedRuntime
from fedrun.runtime.trainer import LocalRule
from fedrun.runtime.variable_trainer import learning_model


def build_fed_avg(
    model: Union[FunctionalModel, VariableModel],
    client_optimizer: Optimizer,
    server_optimizer: Optional[Optimizer] = None,
    model_aggregator: Optional[AggregationFactory] = None,
    runtime: Optional[Runtime] = None,
    weighted: bool = True,
    rule: Optional[LocalRule] = None,
    client_lr_schedule: Optional[LearningRateSchedule] = None,
    server_lr_schedule: Optional[LearningRateSchedule] = None,
) -> LearningProcess:
    """Builds FedAvg (and, through `rule`, the algorithms that differ only locally).

    Args:
        model: The model to train (a `VariableModel` trains one client at a time).
        client_optimizer: Optimizer of local training.
        server_optimizer: Applies the averaged update; default SGD(1.0).
        model_aggregator: Aggregation factory of the updates; default `MeanFactory()`.
        runtime: Executes client work; default vectorized.
        weighted: Weight client updates by examples processed.
        rule: Local-training rule (FedProx's proximal term ...); default plain.
        client_lr_schedule: Round -> client learning rate.
        server_lr_schedule: Round -> server learning rate.
    """
    model = learning_model(model)
    runtime = runtime or VectorizedRuntime()
    client_work = ModelDeltaClientWork(
        model, client_optimizer, runtime, rule, weighted, client_lr_schedule
    )
    return compose_model_delta_algorithm(
        model, client_work, server_optimizer, model_aggregator, weighted, server_lr_schedule
    )


def compose_model_delta_algorithm(
    model: FunctionalModel,
    client_work: MeasuredProcess,
    server_optimizer: Optional[Optimizer] = None,
    model_aggregator: Optional[AggregationFactory] = None,
    weighted: bool = True,
    server_lr_schedule: Optional[LearningRateSchedule] = None,
) -> LearningProcess:
    """Broadcast -> `client_work` -> aggregation of its updates -> server optimizer.

    The shape FedAvg and the algorithms built on it share; they differ in the
    client work (what clients compute and keep) and in the server optimizer.

    Args:
        model: The model to train.
        client_work: Returns `AtClients(ClientResult(update, update_weight))`.
        server_optimizer: Applies the aggregated update; default SGD(1.0).
        model_aggregator: Aggregation factory of the updates; default `MeanFactory()`.
        weighted: Aggregate with the clients' update weights.
        server_lr_schedule: Round -> server learning rate.
    """
    server_optimizer = server_optimizer or SGD(1.0)
    model_aggregator = model_aggregator or MeanFactory()
    if weighted and not supports_weighted(model_aggregator):
        raise TypeError("weighted FedAvg needs a WeightedAggregationFactory")
    if not weighted and not supports_unweighted(model_aggregator):
        raise TypeError("unweighted FedAvg needs an UnweightedAggregationFactory")
    specs = model.weight_specs
    if weighted:
        aggregator = model_aggregator.create(specs.trainable, tf.TensorSpec([], tf.float32))
    else:
        aggregator = model_aggregator.create(specs.trainable)
    finalizer = build_apply_optimizer_finalizer(server_optimizer, specs, server_lr_schedule)
    return compose_learning_process(
        model.initial_weights,
        build_broadcast_process(),
        client_work,
        aggregator,
        finalizer,
        model.input_spec,
    )


def build_weighted_fed_avg(
    model: Union[FunctionalModel, VariableModel], client_optimizer: Optimizer, **kwargs: object
) -> LearningProcess:
    """FedAvg weighting each client by the examples it processed (TFF's default)."""
    return build_fed_avg(model, client_optimizer, weighted=True, **kwargs)  # type: ignore[arg-type]


def build_unweighted_fed_avg(
    model: Union[FunctionalModel, VariableModel], client_optimizer: Optimizer, **kwargs: object
) -> LearningProcess:
    """FedAvg giving every client the same weight."""
    return build_fed_avg(model, client_optimizer, weighted=False, **kwargs)  # type: ignore[arg-type]


@dataclasses.dataclass(frozen=True)
class FedAvgParams:
    weighted: bool = True


def build_fed_avg_from_context(
    context: AlgorithmContext,
    weighted: bool,
    rule: Optional[LocalRule] = None,
    server_optimizer: Optional[Optimizer] = None,
    server_lr_schedule: Optional[LearningRateSchedule] = None,
) -> LearningProcess:
    """`build_fed_avg` wired from the run's config (aggregator tree, optimizers, schedules).

    Args:
        context: The run's built objects.
        weighted: Weight client updates by examples processed.
        rule: The algorithm's local rule; default plain local steps.
        server_optimizer: Replaces the configured server optimizer (FedOpt).
        server_lr_schedule: Replaces the configured server schedule (FedOpt).
    """
    factory = build_aggregator(
        context.aggregator_node,
        "aggregator",
        weighted,
        context.allowed_targets,
        context.aggregator_context,
    )
    return build_fed_avg(
        context.model,
        context.client_optimizer,
        server_optimizer or context.server_optimizer,
        factory,
        context.runtime,
        weighted=weighted,
        rule=rule,
        client_lr_schedule=context.client_lr_schedule,
        server_lr_schedule=server_lr_schedule or context.server_lr_schedule,
    )


@ALGORITHMS.register("fedavg", FedAvgParams)
def _fedavg(p: FedAvgParams, context: AlgorithmContext) -> LearningProcess:
    """Federated Averaging."""
    return build_fed_avg_from_context(context, p.weighted)
