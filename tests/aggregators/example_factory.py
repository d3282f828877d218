"""A user's own aggregation factories, built as the custom-aggregation tutorial
builds them, on fedrun's core. Used from YAML through `_target_`:

    allowed_targets: [tests.]
    aggregator:
      type: mean
      value_sum:
        _target_: tests.aggregators.example_factory.ExampleTaskFactory
        inner_factory: {type: sum}

The example task sums `value * factor` and divides the sum by `factor`, which
equals the plain sum: (1) scale at the clients, (2) sum, (3) unscale at the server.
"""

from __future__ import annotations

import collections
from typing import Any, Optional

import tensorflow as tf

from fedrun.aggregators.factory import UnweightedAggregationFactory, WeightedAggregationFactory
from fedrun.aggregators.sum import SumFactory
from fedrun.core import intrinsics
from fedrun.core.placements import AtClients, AtServer
from fedrun.core.processes import AggregationProcess, MeasuredProcessOutput


def scale(value: Any, factor: tf.Tensor) -> Any:
    return tf.nest.map_structure(lambda x: x * factor, value)


def unscale(value: Any, factor: tf.Tensor) -> Any:
    return tf.nest.map_structure(lambda x: x / factor, value)


def add_one(value: tf.Tensor) -> tf.Tensor:
    return value + 1.0


def times_two(value: Any) -> Any:
    return scale(value, tf.constant(2.0))


def halve(value: Any) -> Any:
    return unscale(value, tf.constant(2.0))


class MinimalExampleFactory(UnweightedAggregationFactory):
    """Stateless: scale by 2.0, sum, unscale. State `()`, measurements `()`."""

    def create(self, value_spec: Any) -> AggregationProcess:
        def initialize() -> tuple:
            return ()

        def next_fn(state: tuple, value: AtClients) -> MeasuredProcessOutput:
            scaled = intrinsics.map(times_two, value)
            summed = intrinsics.sum(scaled)
            return MeasuredProcessOutput(state, intrinsics.map(halve, summed), ())

        return AggregationProcess(initialize, next_fn, value_spec)


class StatefulExampleFactory(UnweightedAggregationFactory):
    """Scales by the iteration index, kept in the state (float32, 0.0 at first);
    measures the scaled sum. Works on any nest of tensors."""

    def create(self, value_spec: Any) -> AggregationProcess:
        def initialize() -> tf.Tensor:
            return tf.constant(0.0)

        def next_fn(state: tf.Tensor, value: AtClients) -> MeasuredProcessOutput:
            new_state = intrinsics.map(add_one, AtServer(state))
            state_at_clients = intrinsics.broadcast(new_state, value.num_clients)
            scaled = intrinsics.map(scale, (value, state_at_clients))
            summed = intrinsics.sum(scaled)
            unscaled = intrinsics.map(unscale, (summed, new_state))
            return MeasuredProcessOutput(new_state.value, unscaled, summed.value)

        return AggregationProcess(initialize, next_fn, value_spec)


class ExampleTaskFactory(UnweightedAggregationFactory):
    """The stateful example delegating its sum to `inner_factory` (default: sum).

    State: `(own iteration index, inner state)`.
    Measurements: `{scaled_value: the inner result, example_task: inner measurements}`.
    """

    def __init__(self, inner_factory: Optional[UnweightedAggregationFactory] = None) -> None:
        self._inner_factory = inner_factory or SumFactory()

    def create(self, value_spec: Any) -> AggregationProcess:
        inner_process = self._inner_factory.create(value_spec)

        def initialize() -> tuple:
            return (tf.constant(0.0), inner_process.initialize())

        def next_fn(state: tuple, value: AtClients) -> MeasuredProcessOutput:
            my_state, inner_state = state
            my_new_state = intrinsics.map(add_one, AtServer(my_state))
            scaled = intrinsics.map(
                scale, (value, intrinsics.broadcast(my_new_state, value.num_clients))
            )
            inner_output = inner_process.next(inner_state, scaled)
            unscaled = intrinsics.map(unscale, (inner_output.result, my_new_state))
            measurements = collections.OrderedDict(
                scaled_value=inner_output.result.value, example_task=inner_output.measurements
            )
            return MeasuredProcessOutput(
                (my_new_state.value, inner_output.state), unscaled, measurements
            )

        return AggregationProcess(initialize, next_fn, value_spec)


class ExampleWeightedMeanFactory(WeightedAggregationFactory):
    """A user's weighted-only factory: the weighted mean in one intrinsic."""

    def create(self, value_spec: Any, weight_spec: tf.TensorSpec) -> AggregationProcess:
        def initialize() -> tuple:
            return ()

        def next_fn(state: tuple, value: AtClients, weight: AtClients) -> MeasuredProcessOutput:
            return MeasuredProcessOutput(state, intrinsics.mean(value, weight), ())

        return AggregationProcess(initialize, next_fn, value_spec, weight_spec)
