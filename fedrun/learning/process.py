"""`LearningProcess` and the composition of its four building blocks."""

from __future__ import annotations

import collections
from typing import Callable, Optional

import tensorflow as tf

from fedrun.core.placements import CLIENTS, AtClients, AtServer
from fedrun.core.processes import AggregationProcess, IterativeProcess, MeasuredProcess, server_type
from fedrun.core.types import FederatedType, FunctionType, SequenceType, StructType, to_type
from fedrun.data.cohort import CohortData
from fedrun.learning.client_states import ClientStateStore
from fedrun.learning.server_step import compiled_server_step
from fedrun.learning.templates import LearningAlgorithmState, LearningProcessOutput
from fedrun.models.functional import ModelWeights
from fedrun.runtime.probe import dry_run


def batch_type(element_spec: dict[str, tf.TensorSpec]) -> SequenceType:
    """The type of a client's data: a sequence of batches of `element_spec`."""
    batched = {
        k: tf.TensorSpec([None] + s.shape.as_list(), s.dtype) for k, s in element_spec.items()
    }
    return SequenceType(to_type(batched))


def dry_run_cohort(element_spec: dict[str, tf.TensorSpec]) -> CohortData:
    """A one-client, one-example cohort of zeros (to read metric types)."""
    pool = {k: tf.zeros([1] + s.shape.as_list(), s.dtype) for k, s in element_spec.items()}
    return CohortData(
        ("dry_run",), pool, tf.zeros([1, 1, 1], tf.int64), tf.ones([1, 1, 1], tf.float32)
    )


class LearningProcess(IterativeProcess):
    """An iterative process over `LearningAlgorithmState` (TFF's `LearningProcess`).

    `next(state, cohort) -> LearningProcessOutput(state, metrics)`; the model weights
    are read and replaced with `get_model_weights` / `set_model_weights`.

    Args:
        initialize_fn: Returns the initial `LearningAlgorithmState`.
        next_fn: One round.
        element_spec: Spec of one example (for the type signature).
        client_states: Per-client state kept between the rounds a client joins
            (a `ClientStateStore`, saved through its `state_dict` /
            `load_state_dict`), or None for algorithms whose clients are stateless.
        accepts_partial_work: Whether stragglers' partial work is aggregated by
            default (FedProx) rather than dropped (FedAvg).
    """

    def __init__(
        self,
        initialize_fn: Callable[[], LearningAlgorithmState],
        next_fn: Callable[[LearningAlgorithmState, CohortData], LearningProcessOutput],
        element_spec: dict[str, tf.TensorSpec],
        client_states: Optional[ClientStateStore] = None,
        accepts_partial_work: bool = False,
    ) -> None:
        self.element_spec = element_spec
        self.client_states = client_states
        self.accepts_partial_work = accepts_partial_work
        super().__init__(initialize_fn, next_fn, self._learning_signature)

    def _learning_signature(self) -> FunctionType:
        state_t = self.state_type
        # Inside the dry run, client work stores no per-client state (see `is_dry_run`).
        with dry_run():
            output = self.next(self.initialize(), dry_run_cohort(self.element_spec))
        params = StructType(
            [
                ("state", state_t),
                (
                    "client_data",
                    FederatedType(batch_type(self.element_spec), CLIENTS, all_equal=False),
                ),
            ]
        )
        return FunctionType(
            params, StructType([("state", state_t), ("metrics", server_type(output.metrics))])
        )

    @staticmethod
    def get_model_weights(state: LearningAlgorithmState) -> ModelWeights:
        """The global model weights held in `state`."""
        return state.global_model_weights

    @staticmethod
    def set_model_weights(
        state: LearningAlgorithmState, weights: ModelWeights
    ) -> LearningAlgorithmState:
        """A copy of `state` holding `weights` (tensors or numpy arrays) as the global model.

        Raises:
            ValueError: The weights do not have the current weights' count, shapes and dtypes.
        """
        current = state.global_model_weights
        new = ModelWeights(
            [tf.convert_to_tensor(w) for w in weights.trainable],
            [tf.convert_to_tensor(w) for w in weights.non_trainable],
        )
        for kind, olds, news in zip(("trainable", "non_trainable"), current, new):
            if len(olds) != len(news):
                raise ValueError(
                    f"set_model_weights: the model has {len(olds)} {kind} weights, got {len(news)}"
                )
            for i, (old, value) in enumerate(zip(olds, news)):
                if old.shape != value.shape or old.dtype != value.dtype:
                    raise ValueError(
                        f"set_model_weights: {kind} weight {i} must be {old.dtype.name}{old.shape.as_list()}, "
                        f"got {value.dtype.name}{value.shape.as_list()}"
                    )
        return state._replace(global_model_weights=new)


def compose_learning_process(
    initial_weights: ModelWeights,
    distributor: MeasuredProcess,
    client_work: MeasuredProcess,
    aggregator: AggregationProcess,
    finalizer: MeasuredProcess,
    element_spec: dict[str, tf.TensorSpec],
    client_states: Optional[ClientStateStore] = None,
    accepts_partial_work: bool = False,
) -> LearningProcess:
    """Composes distributor -> client work -> aggregator -> finalizer into one process.

    `client_states` and `accepts_partial_work` are the process's (see
    `LearningProcess`). Aggregation and the finalizer run as one compiled call
    where both allow it (`fedrun.learning.server_step`), eagerly otherwise.
    Metrics: `{distributor, client_work, aggregator, finalizer}`, each the
    measurements of that block.
    """

    server_step = compiled_server_step(aggregator, finalizer)

    def initialize() -> LearningAlgorithmState:
        return LearningAlgorithmState(
            initial_weights,
            distributor.initialize(),
            client_work.initialize(),
            aggregator.initialize(),
            finalizer.initialize(),
        )

    def next_fn(state: LearningAlgorithmState, cohort: CohortData) -> LearningProcessOutput:
        count = cohort.num_clients
        distributed = distributor.next(
            state.distributor, AtServer(state.global_model_weights), count
        )
        work = client_work.next(state.client_work, distributed.result, cohort)
        results = work.result.value
        # The survivors: a client dropped in client work is not aggregated.
        updates = AtClients(results.update, work.result.num_clients)
        update_weights = AtClients(results.update_weight, work.result.num_clients)
        if server_step is not None:
            aggregated, finalized = server_step(
                state.aggregator,
                state.finalizer,
                state.global_model_weights,
                updates,
                update_weights if aggregator.is_weighted else None,
                cohort.round_num,
            )
        else:
            if aggregator.is_weighted:
                aggregated = aggregator.next(state.aggregator, updates, update_weights)
            else:
                aggregated = aggregator.next(state.aggregator, updates)
            finalized = finalizer.next(
                state.finalizer, state.global_model_weights, aggregated.result, cohort.round_num
            )
        new_state = LearningAlgorithmState(
            finalized.result.value, distributed.state, work.state, aggregated.state, finalized.state
        )
        metrics = collections.OrderedDict(
            distributor=distributed.measurements,
            client_work=work.measurements,
            aggregator=aggregated.measurements,
            finalizer=finalized.measurements,
        )
        return LearningProcessOutput(new_state, metrics)

    return LearningProcess(initialize, next_fn, element_spec, client_states, accepts_partial_work)


__all__ = ["LearningProcess", "batch_type", "compose_learning_process"]
