"""TFF's `EncodedSumFactory.quantize_above_threshold` on fedrun's uniform quantization.

TFF quantizes each tensor with more than `threshold` elements to
`2**quantization_bits` evenly spaced levels between its minimum and maximum,
rounding stochastically (Suresh et al. 2017, "Distributed Mean Estimation with
Limited Communication"), and sums smaller tensors as they are. fedrun does the
same per client with `fedrun.aggregators.quantize.quantize_leaf` (the leaf rule of
fedrun's `QuantizeFactory`, config aggregator `type: quantize`), then sums.
"""

from __future__ import annotations

import collections
from typing import Any, NamedTuple

import numpy as np
import tensorflow as tf

from fedrun.aggregators import factory as native_factory
from fedrun.aggregators.nests import check_floating
from fedrun.aggregators.quantize import quantize_leaf
from fedrun.aggregators.seeds import initial_seed, stream_seed
from fedrun.compat.tff.aggregators.factories import UnweightedAggregationFactory, Wrapped
from fedrun.compat.tff.errors import FacadeTypeError, FacadeValueError
from fedrun.compat.tff.unsupported import UnsupportedError
from fedrun.core import intrinsics
from fedrun.core.placements import AtClients, AtServer
from fedrun.core.processes import AggregationProcess, MeasuredProcessOutput


class EncodedSumState(NamedTuple):
    """State of a quantized sum.

    Attributes:
        seed: `int64[2]` seed of the stochastic rounding.
        round_num: Rounds aggregated so far.
    """

    seed: tf.Tensor
    round_num: tf.Tensor


class QuantizedSumAboveThreshold(native_factory.UnweightedAggregationFactory):
    """Sums client values, each tensor with more than `threshold` elements quantized
    to `bits` bits per value (stochastic, unbiased) first.

    Args:
        bits: Bits per quantized value, 1..16 (TFF's range).
        threshold: Tensors with at most this many elements are summed unquantized.
        seed: Seed of the stochastic rounding.

    State: `EncodedSumState(seed, round_num)`. Measurements: none (`()`), as TFF's.
    """

    def __init__(self, bits: int, threshold: int, seed: int = 0) -> None:
        self.bits, self.threshold, self.seed = bits, threshold, seed

    def create(self, value_spec: Any) -> AggregationProcess:
        check_floating(value_spec, "EncodedSumFactory")
        specs = tf.nest.flatten(value_spec)
        quantized = [
            int(np.prod(s.shape.as_list(), dtype=np.int64)) > self.threshold for s in specs
        ]
        levels = tf.constant(2**self.bits - 1, tf.int64)

        def encode(value: Any, uniform: list, levels: tf.Tensor) -> Any:
            leaves = [
                quantize_leaf(leaf, u, levels) if q else leaf
                for leaf, u, q in zip(tf.nest.flatten(value), uniform, quantized)
            ]
            return tf.nest.pack_sequence_as(value_spec, leaves)

        def initialize() -> EncodedSumState:
            return EncodedSumState(initial_seed(self.seed, "encoded_sum"), tf.constant(0, tf.int64))

        def next_fn(state: EncodedSumState, value: AtClients) -> MeasuredProcessOutput:
            count = value.num_clients
            seed = stream_seed(state.seed, state.round_num, "rounding")
            # Only quantized tensors draw rounding noise; the others get a placeholder.
            uniform = [
                tf.random.stateless_uniform(
                    [count] + s.shape.as_list(), tf.random.experimental.stateless_fold_in(seed, i)
                )
                if q
                else tf.zeros([count])
                for i, (s, q) in enumerate(zip(specs, quantized))
            ]
            received = intrinsics.map(
                encode,
                (value, AtClients(uniform, count), intrinsics.broadcast(AtServer(levels), count)),
            )
            new_state = EncodedSumState(state.seed, state.round_num + 1)
            return MeasuredProcessOutput(
                new_state, intrinsics.sum(received), collections.OrderedDict()
            )

        return AggregationProcess(initialize, next_fn, value_spec)


class EncodedSumFactory(Wrapped, UnweightedAggregationFactory):
    """TFF's sum of encoded client values; only `quantize_above_threshold` is provided.

    State `EncodedSumState(seed, round_num)`; measurements `()`.
    """

    native: QuantizedSumAboveThreshold

    def __init__(self, encoder_fn: Any) -> None:
        raise UnsupportedError(
            "tff.aggregators.EncodedSumFactory(encoder_fn): TensorFlow Model Optimization encoders are not "
            "supported; use EncodedSumFactory.quantize_above_threshold(quantization_bits, threshold), or "
            "fedrun.aggregators.quantize.QuantizeFactory (config aggregator `type: quantize`)"
        )

    @classmethod
    def quantize_above_threshold(
        cls, quantization_bits: int = 8, threshold: int = 20000, *, seed: int = 0, **kwargs: Any
    ) -> "EncodedSumFactory":
        """Uniform stochastic quantization to `quantization_bits` bits of every tensor
        with more than `threshold` elements; smaller tensors are summed as they are.
        `seed` (fedrun's) seeds the rounding."""
        if kwargs:
            raise UnsupportedError(
                f"EncodedSumFactory.quantize_above_threshold({', '.join(sorted(kwargs))}=...): fedrun's quantization "
                "takes quantization_bits and threshold only (min/max of each tensor, stochastic rounding)"
            )
        if isinstance(quantization_bits, bool) or not isinstance(quantization_bits, int):
            raise FacadeTypeError(
                f"quantization_bits={quantization_bits!r}: must be an integer in [1, 16]"
            )
        if not 1 <= quantization_bits <= 16:
            raise FacadeValueError(f"quantization_bits={quantization_bits}: must be in [1, 16]")
        if isinstance(threshold, bool) or not isinstance(threshold, int):
            raise FacadeTypeError(f"threshold={threshold!r}: must be a non-negative integer")
        if threshold < 0:
            raise FacadeValueError(f"threshold={threshold}: must be non-negative")
        factory = cls.__new__(cls)
        factory.native = QuantizedSumAboveThreshold(quantization_bits, threshold, seed)
        return factory


__all__ = ["EncodedSumFactory"]
