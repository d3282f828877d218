"""Byzantine-robust aggregators that replace the mean: coordinate-wise median
(`type: median`), trimmed mean (`type: trimmed_mean`) and Krum / multi-Krum
(`type: krum`).

Unlike sums, these need every client's individual value, so they move values to the
server with `intrinsics.collect`, which REVEALS each client's update to the server:
they cannot run under secure aggregation. They are root (or mean-position)
factories, weighted or unweighted:

* median (Yin et al. 2018): per coordinate, the (weighted) median of client values;
  with equal weights and an even cohort, the mean of the two middle values.
* trimmed mean (Yin et al. 2018): per coordinate, drop the `floor(trim_fraction * K)`
  largest and smallest values and average the rest (weighted).
* Krum (Blanchard et al. 2017): with `f` Byzantine clients assumed, score each client
  by the summed squared distances to its `K - f - 2` nearest others; Krum returns the
  best-scored update, multi-Krum the (weighted) mean of the `multi` best. Needs
  `K >= 2f + 3`.
"""

from __future__ import annotations

import abc
import collections
import dataclasses
from typing import Any, Optional

import tensorflow as tf

from fedrun.aggregators.build import AggregatorContext, ParameterError, register_aggregator
from fedrun.aggregators.factory import UnweightedAggregationFactory, WeightedAggregationFactory
from fedrun.aggregators.nests import check_floating, flatten_stacked
from fedrun.config.params import bounded
from fedrun.core import intrinsics
from fedrun.core.placements import AtClients, AtServer
from fedrun.core.processes import AggregationProcess, MeasuredProcessOutput


def _sorted_with_weights(stacked: tf.Tensor, weights: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Per coordinate, the client values sorted ascending and their weights, as `[n, K]`."""
    values = tf.transpose(tf.reshape(stacked, [tf.shape(stacked)[0], -1]))
    order = tf.argsort(values, axis=-1, stable=True)
    return tf.gather(values, order, batch_dims=1), tf.gather(tf.cast(weights, values.dtype), order)


@tf.function(reduce_retracing=True)
def weighted_median(stacked: tf.Tensor, weights: tf.Tensor) -> tf.Tensor:
    """Coordinate-wise weighted median of `[K, ...]` values: the mean of the lower and
    upper weighted medians (the ordinary median when weights are equal)."""
    values, w = _sorted_with_weights(stacked, weights)
    cumulative = tf.cumsum(w, axis=-1)
    half = cumulative[:, -1:] / 2
    lower = tf.argmax(tf.cast(cumulative >= half, tf.int32), axis=-1)
    upper = tf.argmax(tf.cast(cumulative > half, tf.int32), axis=-1)
    picked = tf.gather(values, tf.stack([lower, upper], axis=-1), batch_dims=1)
    return tf.reshape(tf.reduce_mean(picked, axis=-1), tf.shape(stacked)[1:])


@tf.function(reduce_retracing=True)
def trimmed_mean(stacked: tf.Tensor, weights: tf.Tensor, trim: int) -> tf.Tensor:
    """Coordinate-wise weighted mean of `[K, ...]` values without the `trim` lowest and highest."""
    values, w = _sorted_with_weights(stacked, weights)
    count = tf.shape(values)[-1]
    kept, kept_w = values[:, trim : count - trim], w[:, trim : count - trim]
    return tf.reshape(
        tf.reduce_sum(kept * kept_w, axis=-1) / tf.reduce_sum(kept_w, axis=-1),
        tf.shape(stacked)[1:],
    )


@tf.function(reduce_retracing=True)
def krum_scores(flat: tf.Tensor, byzantine: int) -> tf.Tensor:
    """Each client's Krum score: summed squared distances to its `K - f - 2` nearest others."""
    count = tf.shape(flat)[0]
    flat = tf.cast(flat, tf.float64)
    squared = tf.reduce_sum(tf.square(flat), axis=1)
    distances = tf.maximum(
        squared[:, None] + squared[None, :] - 2 * tf.matmul(flat, flat, transpose_b=True), 0.0
    )
    distances = tf.where(
        tf.eye(count, dtype=tf.bool), tf.constant(float("inf"), tf.float64), distances
    )
    nearest = -tf.math.top_k(-distances, k=count - byzantine - 2).values
    return tf.reduce_sum(nearest, axis=1)


class _RobustFactory(WeightedAggregationFactory, UnweightedAggregationFactory):
    """A factory aggregating the collected stacked values at the server."""

    min_clients = 1

    def create(
        self, value_spec: Any, weight_spec: Optional[tf.TensorSpec] = None
    ) -> AggregationProcess:
        check_floating(value_spec, type(self).__name__)

        def initialize() -> tuple:
            return ()

        def next_fn(state: tuple, value: AtClients, *weight: AtClients) -> MeasuredProcessOutput:
            if value.num_clients < self.min_clients:
                raise ValueError(
                    f"{type(self).__name__} needs at least {self.min_clients} clients, got {value.num_clients}"
                )
            stacked = intrinsics.collect(value).value  # reveals every client's value
            weights = (
                intrinsics.collect(weight[0]).value
                if weight
                else tf.ones([value.num_clients], tf.float32)
            )
            result, measurements = self.aggregate(
                stacked, tf.cast(weights, tf.float32), value.num_clients
            )
            return MeasuredProcessOutput(state, AtServer(result), measurements)

        return AggregationProcess(initialize, next_fn, value_spec, weight_spec)

    @abc.abstractmethod
    def aggregate(self, stacked: Any, weights: tf.Tensor, num_clients: int) -> tuple[Any, Any]:
        """The aggregate of stacked client values (at the server), and measurements."""


class MedianFactory(_RobustFactory):
    """Coordinate-wise (weighted) median. State: `()`. Measurements: `()`."""

    def aggregate(self, stacked: Any, weights: tf.Tensor, num_clients: int) -> tuple[Any, Any]:
        return tf.nest.map_structure(lambda leaf: weighted_median(leaf, weights), stacked), ()


class TrimmedMeanFactory(_RobustFactory):
    """Coordinate-wise (weighted) mean after trimming extremes.

    Args:
        trim_fraction: Fraction of the cohort dropped at each end (rounded down).

    State: `()`. Measurements: `trimmed_count` (values dropped per coordinate).
    """

    def __init__(self, trim_fraction: float) -> None:
        if not 0 <= trim_fraction < 0.5:
            raise ValueError(f"trim_fraction must be in [0, 0.5), got {trim_fraction}")
        self.trim_fraction = trim_fraction

    def aggregate(self, stacked: Any, weights: tf.Tensor, num_clients: int) -> tuple[Any, Any]:
        trim = int(self.trim_fraction * num_clients)
        result = tf.nest.map_structure(lambda leaf: trimmed_mean(leaf, weights, trim), stacked)
        return result, collections.OrderedDict(trimmed_count=tf.constant(2 * trim, tf.int32))


class KrumFactory(_RobustFactory):
    """Krum (`multi=1`) or multi-Krum.

    Args:
        byzantine: `f`, the number of Byzantine clients tolerated.
        multi: How many best-scored clients to average.

    State: `()`. Measurements: `krum_score` (mean score of the selected clients).
    """

    def __init__(self, byzantine: int = 1, multi: int = 1) -> None:
        if byzantine < 0 or multi < 1:
            raise ValueError(f"Krum needs byzantine >= 0 and multi >= 1, got {byzantine}, {multi}")
        self.byzantine, self.multi = byzantine, multi
        self.min_clients = max(2 * byzantine + 3, multi)

    def aggregate(self, stacked: Any, weights: tf.Tensor, num_clients: int) -> tuple[Any, Any]:
        scores = krum_scores(flatten_stacked(stacked, num_clients), self.byzantine)
        best = tf.math.top_k(-scores, k=self.multi).indices
        chosen_w = tf.gather(weights, best)

        def average(leaf: tf.Tensor) -> tf.Tensor:
            chosen = tf.gather(leaf, best)
            w = tf.reshape(tf.cast(chosen_w, leaf.dtype), [-1] + [1] * (leaf.shape.rank - 1))
            return tf.reduce_sum(chosen * w, axis=0) / tf.reduce_sum(w)

        measurements = collections.OrderedDict(
            krum_score=tf.cast(tf.reduce_mean(tf.gather(scores, best)), tf.float32)
        )
        return tf.nest.map_structure(average, stacked), measurements


@register_aggregator("median")
def _median(p: Any, context: AggregatorContext) -> MedianFactory:
    """Coordinate-wise median (reveals client values to the server)."""
    return MedianFactory()


@dataclasses.dataclass(frozen=True)
class TrimmedMeanParams:
    trim_fraction: float = bounded(0.1, ge=0.0, lt=0.5)


@register_aggregator("trimmed_mean", TrimmedMeanParams)
def _trimmed_mean(p: TrimmedMeanParams, context: AggregatorContext) -> TrimmedMeanFactory:
    """Coordinate-wise trimmed mean (reveals client values to the server)."""
    return TrimmedMeanFactory(p.trim_fraction)


@dataclasses.dataclass(frozen=True)
class KrumParams:
    byzantine: int = bounded(1, ge=0)
    multi: int = bounded(1, ge=1)


@register_aggregator("krum", KrumParams)
def _krum(p: KrumParams, context: AggregatorContext) -> KrumFactory:
    """Krum / multi-Krum (reveals client values to the server)."""
    cohort = context.clients_per_round
    if cohort < 2 * p.byzantine + 3:
        problem = (
            f"Krum needs clients_per_round >= 2 * byzantine + 3, and clients_per_round is {cohort}"
        )
        raise ParameterError("byzantine", problem, p.byzantine, f"0..{(cohort - 3) // 2}")
    if p.multi > cohort:
        raise ParameterError(
            "multi",
            f"cannot select more than the {cohort} clients of a round",
            p.multi,
            f"1..{cohort}",
        )
    return KrumFactory(p.byzantine, p.multi)
