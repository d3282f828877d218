"""Uniform stochastic k-bit quantization of client values (`type: quantize`).

Each client sends, per tensor of its update, the minimum and maximum (two float32)
and every value as one of `2**bits` evenly spaced levels between them, rounded up
or down at random with the probabilities that make it unbiased (the stochastic
k-level quantization of Suresh et al. 2017, "Distributed Mean Estimation with
Limited Communication"). The `inner` factory aggregates what the server
reconstructs from those messages; weightedness follows `inner`.

    aggregator:
      type: quantize
      bits: 8
      inner: {type: mean}
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Any, NamedTuple, Optional

import numpy as np
import tensorflow as tf

from fedrun.aggregators.build import AggregatorContext, register_aggregator
from fedrun.aggregators.factory import FollowsInner
from fedrun.aggregators.nests import check_floating
from fedrun.aggregators.seeds import initial_seed, stream_seed
from fedrun.config.params import bounded
from fedrun.core import intrinsics
from fedrun.core.placements import AtClients, AtServer
from fedrun.core.processes import AggregationProcess, MeasuredProcessOutput

RANGE_BITS = 64  # the two float32 end points sent with every tensor


class QuantizeState(NamedTuple):
    """State of a quantizing process.

    Attributes:
        seed: `int64[2]` seed of the stochastic rounding.
        round_num: Rounds aggregated so far.
        inner: The inner process's state.
    """

    seed: tf.Tensor
    round_num: tf.Tensor
    inner: Any


def quantize_leaf(leaf: tf.Tensor, uniform: tf.Tensor, levels: tf.Tensor) -> tf.Tensor:
    """One tensor of one client, as the server reconstructs it from `levels + 1` levels."""
    low, high = tf.reduce_min(leaf), tf.reduce_max(leaf)
    step = (high - low) / tf.cast(levels, leaf.dtype)
    scaled = tf.math.divide_no_nan(leaf - low, step)
    rounded = tf.minimum(
        tf.floor(scaled + tf.cast(uniform, leaf.dtype)), tf.cast(levels, leaf.dtype)
    )
    return low + rounded * step


def quantize_client(value: Any, uniform: Any, levels: tf.Tensor) -> Any:
    """One client's value, every tensor quantized on its own range."""
    return tf.nest.map_structure(lambda leaf, u: quantize_leaf(leaf, u, levels), value, uniform)


def bits_per_client(value_spec: Any, bits: int) -> int:
    """Bits one client sends: `bits` per value plus the range of every tensor."""
    return sum(
        int(np.prod(s.shape.as_list(), dtype=np.int64)) * bits + RANGE_BITS
        for s in tf.nest.flatten(value_spec)
    )


class QuantizeFactory(FollowsInner):
    """Quantizes client values to `bits` bits each (stochastic, unbiased), then delegates to `inner`.

    Args:
        bits: Bits per value (`2**bits` levels), 1..24.
        inner: The factory aggregating the reconstructed values.
        seed: Seed of the stochastic rounding.

    State: `QuantizeState(seed, round_num, inner)`.
    Measurements: `bits_sent` (by the whole cohort this round), `quantize` (the inner
    measurements).
    """

    def __init__(self, bits: int, inner: Any, seed: int = 0) -> None:
        if not 1 <= bits <= 24:
            raise ValueError(f"quantize bits must be in [1, 24], got {bits}")
        self.bits, self.inner, self.seed = bits, inner, seed

    def create(
        self, value_spec: Any, weight_spec: Optional[tf.TensorSpec] = None
    ) -> AggregationProcess:
        check_floating(value_spec, "quantize")
        inner_process = self._create_inner(value_spec, weight_spec)
        levels = tf.constant(2**self.bits - 1, tf.int64)
        client_bits = bits_per_client(value_spec, self.bits)

        def initialize() -> QuantizeState:
            return QuantizeState(
                initial_seed(self.seed, "quantize"),
                tf.constant(0, tf.int64),
                inner_process.initialize(),
            )

        def next_fn(
            state: QuantizeState, value: AtClients, *weight: AtClients
        ) -> MeasuredProcessOutput:
            count = value.num_clients
            seed = stream_seed(state.seed, state.round_num, "rounding")
            draws = [
                tf.random.stateless_uniform(
                    [count] + s.shape.as_list(), tf.random.experimental.stateless_fold_in(seed, i)
                )
                for i, s in enumerate(tf.nest.flatten(value_spec))
            ]
            uniform = tf.nest.pack_sequence_as(value_spec, draws)
            received = intrinsics.map(
                quantize_client,
                (value, AtClients(uniform, count), intrinsics.broadcast(AtServer(levels), count)),
            )
            inner_out = inner_process.next(state.inner, received, *weight)
            measurements = collections.OrderedDict(
                bits_sent=tf.constant(count * client_bits, tf.int64),
                quantize=inner_out.measurements,
            )
            new_state = QuantizeState(state.seed, state.round_num + 1, inner_out.state)
            return MeasuredProcessOutput(new_state, inner_out.result, measurements)

        return AggregationProcess(initialize, next_fn, value_spec, weight_spec)


@dataclasses.dataclass(frozen=True)
class QuantizeParams:
    bits: int = bounded(8, ge=1, le=24)


@register_aggregator(
    "quantize", QuantizeParams, children=("inner",), required=("inner",), wraps="inner"
)
def _quantize(p: QuantizeParams, context: AggregatorContext, inner: Any) -> QuantizeFactory:
    """Uniform stochastic k-bit quantization of client values around an inner aggregator."""
    return QuantizeFactory(p.bits, inner, context.seed)
