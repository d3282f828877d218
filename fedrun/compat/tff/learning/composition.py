"""TFF's learning building blocks and their composer, written as facade computations.

A learning algorithm is four processes (fedrun's `fedrun.learning.process` composes
its own the same way): a distributor (`next(state, weights@SERVER)` -> weights at
the clients), client work (`next(state, weights@CLIENTS, data@CLIENTS)` -> a
`ClientResult` per client), an aggregator (any `tff.aggregators` process) and a
finalizer (`next(state, weights@SERVER, update@SERVER)` -> new weights).
`compose_learning_process` runs them in that order inside one federated
computation, so a block written as a TFF program (the composing tutorial's
gradient-clipping client work) composes with the facade's own blocks.
"""

from __future__ import annotations

import collections
from typing import Any

import tensorflow as tf

from fedrun.compat.tff import intrinsics
from fedrun.compat.tff.computations import federated_computation, tf_computation
from fedrun.compat.tff.errors import FacadeTypeError
from fedrun.compat.tff.learning.optimizers import OptimizerSpec, to_fedrun
from fedrun.compat.tff.templates import AggregationProcess, IterativeProcess, MeasuredProcess
from fedrun.compat.tff.types import to_spec
from fedrun.core.placements import CLIENTS, SERVER
from fedrun.core.processes import Computation, MeasuredProcessOutput
from fedrun.core.types import FederatedType, StructType, Type
from fedrun.learning.finalizer import all_finite
from fedrun.learning.templates import ClientResult, LearningAlgorithmState, LearningProcessOutput
from fedrun.models.functional import ModelWeights


def _placed(t: Type, placement: Any, what: str) -> None:
    if not (isinstance(t, FederatedType) and t.placement == placement):
        raise FacadeTypeError(f"{what} must be placed at tff.{placement}, is {t}")


def _parameters(process: MeasuredProcess, count: int, role: str) -> StructType:
    params = process.next.type_signature.parameter
    if not isinstance(params, StructType) or len(params) != count:
        raise FacadeTypeError(
            f"{role}.next must take {count} parameters, its type is {process.next.type_signature}"
        )
    return params


class DistributionProcess(MeasuredProcess):
    """`next(state, weights@SERVER)` -> `MeasuredProcessOutput(state, weights@CLIENTS, measurements)`."""

    def __init__(self, initialize_fn: Computation, next_fn: Computation) -> None:
        super().__init__(initialize_fn, next_fn)
        _placed(_parameters(self, 2, "DistributionProcess")[1], SERVER, "the weights")
        result = self.next.type_signature.result
        assert isinstance(result, StructType)  # checked by MeasuredProcess
        _placed(result["result"], CLIENTS, "the distributed weights")


class ClientWorkProcess(MeasuredProcess):
    """`next(state, weights@CLIENTS, data@CLIENTS)` -> `MeasuredProcessOutput(state,
    ClientResult@CLIENTS, measurements)`."""

    def __init__(self, initialize_fn: Computation, next_fn: Computation) -> None:
        super().__init__(initialize_fn, next_fn)
        params = _parameters(self, 3, "ClientWorkProcess")
        _placed(params[1], CLIENTS, "the model weights")
        _placed(params[2], CLIENTS, "the client data")
        result = self.next.type_signature.result
        assert isinstance(result, StructType)
        client_results = result["result"]
        _placed(client_results, CLIENTS, "the client results")
        assert isinstance(client_results, FederatedType)
        member = client_results.member
        if not isinstance(member, StructType) or member.names() != ["update", "update_weight"]:
            raise FacadeTypeError(
                f"ClientWorkProcess.next must return a tff.learning.templates.ClientResult, returns {member}"
            )


class FinalizerProcess(MeasuredProcess):
    """`next(state, weights@SERVER, update@SERVER)` -> `MeasuredProcessOutput(state, weights@SERVER, measurements)`."""

    def __init__(self, initialize_fn: Computation, next_fn: Computation) -> None:
        super().__init__(initialize_fn, next_fn)
        params = _parameters(self, 3, "FinalizerProcess")
        _placed(params[1], SERVER, "the model weights")
        _placed(params[2], SERVER, "the update")


def _weights_type(model_weights_type: Any) -> StructType:
    if not isinstance(model_weights_type, StructType) or model_weights_type.names() != [
        "trainable",
        "non_trainable",
    ]:
        raise FacadeTypeError(
            "model_weights_type must be the type of a tff.learning.models.ModelWeights "
            f"(<trainable=...,non_trainable=...>), got {model_weights_type}"
        )
    return model_weights_type


def build_broadcast_process(model_weights_type: Any) -> DistributionProcess:
    """Broadcasts the server's weights to the clients. State `()`; measurements `()`."""
    weights_type = FederatedType(_weights_type(model_weights_type), SERVER)

    @federated_computation
    def init_fn() -> Any:
        return intrinsics.federated_value((), SERVER)

    @federated_computation(init_fn.type_signature.result, weights_type)
    def next_fn(state: Any, weights: Any) -> MeasuredProcessOutput:
        return MeasuredProcessOutput(
            state, intrinsics.federated_broadcast(weights), intrinsics.federated_value((), SERVER)
        )

    return DistributionProcess(init_fn, next_fn)


def build_apply_optimizer_finalizer(
    optimizer_fn: OptimizerSpec, model_weights_type: Any
) -> FinalizerProcess:
    """Applies the aggregated update to the trainable weights with one step of the
    optimizer (the update takes the place of the gradient); an update holding a NaN
    or Inf is rejected (weights and optimizer state stay as they were).

    State: the optimizer's (`learning_rate`, and its slots). Measurements:
    `update_non_finite` (1 if the update was rejected, else 0).
    """
    optimizer = to_fedrun(optimizer_fn, "optimizer_fn")
    trainable_type = _weights_type(model_weights_type)["trainable"]
    trainable_specs = to_spec(trainable_type)

    @tf_computation
    def init_tf() -> Any:
        return collections.OrderedDict(sorted(optimizer.initialize(trainable_specs).items()))

    @federated_computation
    def init_fn() -> Any:
        return intrinsics.federated_eval(init_tf, SERVER)

    state_type = init_fn.type_signature.result.member

    @tf_computation(state_type, trainable_type, trainable_type)
    def next_tf(state: Any, trainable: Any, update: Any) -> Any:
        finite = all_finite(update)
        stepped, new_trainable = optimizer.next(dict(state), tuple(trainable), tuple(update))
        keep = lambda new, old: tf.where(finite, new, old)  # noqa: E731
        new_state = collections.OrderedDict(
            (key, tf.nest.map_structure(keep, stepped[key], state[key])) for key in state
        )
        new_trainable = [keep(new, old) for new, old in zip(new_trainable, trainable)]
        measurements = collections.OrderedDict(
            update_non_finite=tf.cast(tf.logical_not(finite), tf.int32)
        )
        return new_state, new_trainable, measurements

    @federated_computation(
        init_fn.type_signature.result,
        FederatedType(model_weights_type, SERVER),
        FederatedType(trainable_type, SERVER),
    )
    def next_fn(state: Any, weights: Any, update: Any) -> MeasuredProcessOutput:
        # Placed values stand in for the tensors of the containers built below.
        trainable: Any
        new_state, trainable, measurements = intrinsics.federated_map(
            next_tf, (state, weights.trainable, update)
        )
        new_weights = intrinsics.federated_zip(ModelWeights(trainable, weights.non_trainable))
        return MeasuredProcessOutput(new_state, new_weights, measurements)

    return FinalizerProcess(init_fn, next_fn)


class ComposedLearningProcess(IterativeProcess):
    """A learning process composed of the four blocks; `next(state, client_data)`
    returns `LearningProcessOutput(state, metrics)` with the metrics
    `{distributor, client_work, aggregator, finalizer}` (each block's measurements).
    The state is `LearningAlgorithmState(global_model_weights, distributor,
    client_work, aggregator, finalizer)`."""

    def get_model_weights(self, state: LearningAlgorithmState) -> Any:
        """The global model weights held in `state`."""
        return state.global_model_weights

    def set_model_weights(
        self, state: LearningAlgorithmState, weights: Any
    ) -> LearningAlgorithmState:
        """A copy of `state` holding `weights`."""
        return state._replace(global_model_weights=weights)


def compose_learning_process(
    initial_model_weights_fn: Computation,
    model_weights_distributor: DistributionProcess,
    client_work: ClientWorkProcess,
    model_update_aggregator: AggregationProcess,
    model_finalizer: FinalizerProcess,
) -> ComposedLearningProcess:
    """The learning process running distributor -> client work -> aggregator ->
    finalizer every round, starting from the weights `initial_model_weights_fn`
    (a computation without parameters) returns."""
    for block, cls, role in (
        (model_weights_distributor, DistributionProcess, "model_weights_distributor"),
        (client_work, ClientWorkProcess, "client_work"),
        (model_update_aggregator, AggregationProcess, "model_update_aggregator"),
        (model_finalizer, FinalizerProcess, "model_finalizer"),
    ):
        if not isinstance(block, cls):
            raise FacadeTypeError(f"{role} must be a {cls.__name__}, got {type(block).__name__}")
    data_type = client_work.next.type_signature.parameter[2]  # type: ignore[index]

    @federated_computation
    def init_fn() -> Any:
        weights: Any = intrinsics.federated_eval(initial_model_weights_fn, SERVER)
        return intrinsics.federated_zip(
            LearningAlgorithmState(
                weights,
                model_weights_distributor.initialize(),
                client_work.initialize(),
                model_update_aggregator.initialize(),
                model_finalizer.initialize(),
            )
        )

    @federated_computation(init_fn.type_signature.result, data_type)
    def next_fn(state: Any, client_data: Any) -> LearningProcessOutput:
        distributed: Any = model_weights_distributor.next(
            state.distributor, state.global_model_weights
        )
        work = client_work.next(state.client_work, distributed.result, client_data)
        weight = [work.result.update_weight] if model_update_aggregator.is_weighted else []
        aggregated = model_update_aggregator.next(state.aggregator, work.result.update, *weight)
        finalized = model_finalizer.next(
            state.finalizer, state.global_model_weights, aggregated.result
        )
        new_state: Any = intrinsics.federated_zip(
            LearningAlgorithmState(
                finalized.result, distributed.state, work.state, aggregated.state, finalized.state
            )
        )
        metrics = intrinsics.federated_zip(
            collections.OrderedDict(
                distributor=distributed.measurements,
                client_work=work.measurements,
                aggregator=aggregated.measurements,
                finalizer=finalized.measurements,
            )
        )
        return LearningProcessOutput(new_state, metrics)

    return ComposedLearningProcess(init_fn, next_fn)


__all__ = [
    "ClientResult",
    "ClientWorkProcess",
    "ComposedLearningProcess",
    "DistributionProcess",
    "FinalizerProcess",
    "build_apply_optimizer_finalizer",
    "build_broadcast_process",
    "compose_learning_process",
]
