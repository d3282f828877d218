"""`MeanFactory`: weighted or unweighted mean over clients (`type: mean`).

The sums are delegated to inner factories (`value_sum`, `weight_sum`, both a plain
sum by default), so a secure or clipped sum can replace either one.
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


def _scale(value: Any, weight: tf.Tensor) -> Any:
    return tf.nest.map_structure(lambda v: v * tf.cast(weight, v.dtype), value)


def _divide(value: Any, total: tf.Tensor, no_nan: bool) -> Any:
    def divide(v: tf.Tensor) -> tf.Tensor:
        denominator = tf.cast(total, v.dtype)
        return tf.math.divide_no_nan(v, denominator) if no_nan else v / denominator

    return tf.nest.map_structure(divide, value)


class MeanFactory(WeightedAggregationFactory, UnweightedAggregationFactory):
    """The mean of client values, weighted when `create` is given a weight spec.

    Args:
        value_sum_factory: Sums the (weighted) values; unweighted; default sum.
        weight_sum_factory: Sums the weights (weighted mean only); default sum.
        no_nan_division: Return zeros instead of NaN when the weights sum to 0.

    State: `{value_sum_process, weight_sum_process}` (the inner states).
    Measurements: weighted `{mean_value, mean_weight}`, unweighted
    `{mean_value, mean_count}`: the inner measurements.
    """

    def __init__(
        self,
        value_sum_factory: Optional[UnweightedAggregationFactory] = None,
        weight_sum_factory: Optional[UnweightedAggregationFactory] = None,
        no_nan_division: bool = False,
    ) -> None:
        self._value_sum = value_sum_factory or SumFactory()
        self._weight_sum = weight_sum_factory or SumFactory()
        self._no_nan = no_nan_division

    def create(
        self, value_spec: Any, weight_spec: Optional[tf.TensorSpec] = None
    ) -> AggregationProcess:
        value_process = self._value_sum.create(value_spec)
        if weight_spec is None:
            return self._create_unweighted(value_spec, value_process)
        weight_process = self._weight_sum.create(weight_spec)

        def initialize() -> collections.OrderedDict:
            return collections.OrderedDict(
                value_sum_process=value_process.initialize(),
                weight_sum_process=weight_process.initialize(),
            )

        def next_fn(state: Any, value: AtClients, weight: AtClients) -> MeasuredProcessOutput:
            weighted = intrinsics.map(_scale, (value, weight))
            value_out = value_process.next(state["value_sum_process"], weighted)
            weight_out = weight_process.next(state["weight_sum_process"], weight)
            mean = AtServer(_divide(value_out.result.value, weight_out.result.value, self._no_nan))
            new_state = collections.OrderedDict(
                value_sum_process=value_out.state, weight_sum_process=weight_out.state
            )
            measurements = collections.OrderedDict(
                mean_value=value_out.measurements, mean_weight=weight_out.measurements
            )
            return MeasuredProcessOutput(new_state, mean, measurements)

        traceable = value_process.traceable and weight_process.traceable
        return AggregationProcess(initialize, next_fn, value_spec, weight_spec, traceable)

    def _create_unweighted(
        self, value_spec: Any, value_process: AggregationProcess
    ) -> AggregationProcess:
        def initialize() -> collections.OrderedDict:
            return collections.OrderedDict(
                value_sum_process=value_process.initialize(), weight_sum_process=()
            )

        def next_fn(state: Any, value: AtClients) -> MeasuredProcessOutput:
            value_out = value_process.next(state["value_sum_process"], value)
            count = intrinsics.sum(
                AtClients(tf.ones([value.num_clients], tf.float32), value.num_clients)
            )
            mean = AtServer(_divide(value_out.result.value, count.value, self._no_nan))
            new_state = collections.OrderedDict(
                value_sum_process=value_out.state, weight_sum_process=()
            )
            measurements = collections.OrderedDict(mean_value=value_out.measurements, mean_count=())
            return MeasuredProcessOutput(new_state, mean, measurements)

        return AggregationProcess(
            initialize, next_fn, value_spec, traceable=value_process.traceable
        )
