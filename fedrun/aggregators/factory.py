"""The two kinds of aggregation factory (TFF's `tff.aggregators` contract).

A factory knows *how* to aggregate; `create` makes the `AggregationProcess` for a
particular value type, so one factory serves any model:

* `UnweightedAggregationFactory.create(value_spec)`: `next(state, value@CLIENTS)`.
* `WeightedAggregationFactory.create(value_spec, weight_spec)`:
  `next(state, value@CLIENTS, weight@CLIENTS)`.

`value_spec` is any nest of `tf.TensorSpec` (model weights are nests). A factory
may implement both (the mean does). Wrappers take an `inner` factory, nest the
inner state under their own, and put the inner measurements under a named key;
their weightedness follows the inner factory.
"""

from __future__ import annotations

import abc
from typing import Any, Union

import tensorflow as tf

from fedrun.core.processes import AggregationProcess


class UnweightedAggregationFactory(abc.ABC):
    """Creates processes that aggregate values without weights."""

    @abc.abstractmethod
    def create(self, value_spec: Any) -> AggregationProcess:
        """The aggregation process for values of `value_spec`."""


class WeightedAggregationFactory(abc.ABC):
    """Creates processes that aggregate values with a per-client weight."""

    @abc.abstractmethod
    def create(self, value_spec: Any, weight_spec: tf.TensorSpec) -> AggregationProcess:
        """The aggregation process for values of `value_spec`, weights of `weight_spec`."""


AggregationFactory = Union[UnweightedAggregationFactory, WeightedAggregationFactory]


def supports_weighted(factory: Any) -> bool:
    """Whether `factory.create(value_spec, weight_spec)` is available."""
    return isinstance(factory, WeightedAggregationFactory)


def supports_unweighted(factory: Any) -> bool:
    """Whether `factory.create(value_spec)` is available."""
    return isinstance(factory, UnweightedAggregationFactory)
