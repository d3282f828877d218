"""The two secure sums TFF's `SecureSumFactory` selects besides fixed float bounds.

* Integer thresholds: integer values are clipped into `[lower, upper]`, shifted by
  `-lower` and summed with `intrinsics.secure_sum` (TFF's
  `federated_secure_sum_bitwidth`), then shifted back by `lower` per client. The
  modulus is wide enough for the cohort, so the sum is the exact clipped sum.
* An adaptive upper bound (`PrivateQuantileEstimationProcess.no_noise`): every round
  the values are clipped into `[-B, B]` and summed by fedrun's `SecureSumFactory`,
  where `B` is the bound `fedrun.aggregators.norms.AdaptiveNorm` reports; the
  estimate then moves towards the target quantile of the clients' largest absolute
  values, as TFF updates its estimate.
"""

from __future__ import annotations

import collections
import math
from typing import Any, NamedTuple, Optional

import tensorflow as tf

from fedrun.aggregators import factory as native_factory
from fedrun.aggregators.nests import check_floating, global_max_norm
from fedrun.aggregators.norms import AdaptiveNorm, AdaptiveNormParams, QuantileState
from fedrun.aggregators.secure import MAX_BITS, SecureSumFactory, SecureSumState
from fedrun.compat.tff.errors import FacadeTypeError, FacadeValueError
from fedrun.core import intrinsics
from fedrun.core.placements import AtClients, AtServer
from fedrun.core.processes import AggregationProcess, MeasuredProcessOutput


def _check_integers(spec: Any) -> None:
    for s in tf.nest.flatten(spec):
        if not tf.as_dtype(s.dtype).is_integer:
            raise FacadeTypeError(
                f"SecureSumFactory with integer thresholds sums integer values, got {tf.as_dtype(s.dtype).name}; "
                "pass float thresholds to sum floating-point values"
            )


class IntegerSecureSum(native_factory.UnweightedAggregationFactory):
    """The secure sum of integer values clipped into `[lower, upper]`.

    Args:
        upper: Values above are clipped to it.
        lower: Values below are clipped to it (less than `upper`).

    State: `()`. Measurements: `secure_upper_clipped_count`,
    `secure_lower_clipped_count` (clients with any value above / below the bounds).
    """

    def __init__(self, upper: int, lower: int) -> None:
        self.upper, self.lower = int(upper), int(lower)
        self.bitwidth = math.ceil(math.log2(self.upper - self.lower + 1))

    def create(self, value_spec: Any) -> AggregationProcess:
        _check_integers(value_spec)
        upper, lower = self.upper, self.lower

        def shift(value: Any) -> tuple[Any, tf.Tensor, tf.Tensor]:
            leaves = [tf.cast(leaf, tf.int64) for leaf in tf.nest.flatten(value)]
            above = tf.reduce_any([tf.reduce_any(leaf > upper) for leaf in leaves])
            below = tf.reduce_any([tf.reduce_any(leaf < lower) for leaf in leaves])
            shifted = [tf.clip_by_value(leaf, lower, upper) - lower for leaf in leaves]
            return shifted, tf.cast(above, tf.int32), tf.cast(below, tf.int32)

        def next_fn(state: tuple, value: AtClients) -> MeasuredProcessOutput:
            count = value.num_clients
            # Room for the sum of the whole cohort: the modular sum is then exact.
            bits = self.bitwidth + max(1, math.ceil(math.log2(count + 1)))
            if bits > MAX_BITS:
                raise FacadeValueError(
                    f"SecureSumFactory({upper}, {lower}): the sum of {count} clients needs {bits} bits, "
                    f"more than the {MAX_BITS} fedrun's secure sum carries"
                )
            shifted = intrinsics.map(shift, value)
            values, above, below = (
                AtClients(member, count, shifted.all_equal) for member in shifted.value
            )
            total = intrinsics.secure_sum(values, bits).value
            result = [
                tf.cast(leaf + lower * count, spec.dtype)
                for leaf, spec in zip(total, tf.nest.flatten(value_spec))
            ]
            measurements = collections.OrderedDict(
                secure_upper_clipped_count=intrinsics.sum(above).value,
                secure_lower_clipped_count=intrinsics.sum(below).value,
            )
            return MeasuredProcessOutput(
                state, AtServer(tf.nest.pack_sequence_as(value_spec, result)), measurements
            )

        return AggregationProcess(lambda: (), next_fn, value_spec)


class AdaptiveSecureSumState(NamedTuple):
    """State of a secure sum with an adaptive bound.

    Attributes:
        bound: The quantile estimate behind the bound.
        secure_sum: The state of fedrun's secure sum (seed, round).
    """

    bound: QuantileState
    secure_sum: SecureSumState


class AdaptiveSecureSum(native_factory.UnweightedAggregationFactory):
    """The secure sum of float values clipped into `[-B, B]`, `B` tracking a quantile
    of the clients' largest absolute values.

    Args:
        params: The quantile estimate (`multiplier * estimate + increment` is `B`).
        bits, max_clients, neighbors, seed: As fedrun's `SecureSumFactory`.

    State: `AdaptiveSecureSumState(bound, secure_sum)`. Measurements: those of
    fedrun's `SecureSumFactory`, then `secure_upper_threshold` and
    `secure_lower_threshold` (the round's `B` and `-B`).
    """

    def __init__(
        self,
        params: AdaptiveNormParams,
        *,
        bits: int,
        max_clients: int,
        neighbors: Optional[int],
        seed: int,
    ) -> None:
        self.params = params
        self.bits, self.max_clients, self.neighbors, self.seed = bits, max_clients, neighbors, seed
        self.norm = AdaptiveNorm(params)
        # Validates the options once, with the first round's bound.
        self._sum_factory(params.multiplier * params.initial_norm + params.increment)

    def _sum_factory(self, bound: float) -> SecureSumFactory:
        return SecureSumFactory(
            bound,
            -bound,
            bits=self.bits,
            max_clients=self.max_clients,
            neighbors=self.neighbors,
            seed=self.seed,
        )

    def create(self, value_spec: Any) -> AggregationProcess:
        check_floating(value_spec, "SecureSumFactory")

        def initialize() -> AdaptiveSecureSumState:
            estimate = self.norm.initialize()
            first = self._sum_factory(float(self.norm.bound(estimate))).create(value_spec)
            return AdaptiveSecureSumState(estimate, first.initialize())

        def next_fn(state: AdaptiveSecureSumState, value: AtClients) -> MeasuredProcessOutput:
            bound = self.norm.bound(state.bound)
            # The bound is fixed within a round: this round's sum is fedrun's secure sum with it.
            process = self._sum_factory(float(bound)).create(value_spec)
            output = process.next(state.secure_sum, value)
            estimate, _ = self.norm.next(state.bound, intrinsics.map(global_max_norm, value))
            measurements = collections.OrderedDict(output.measurements)
            measurements["secure_upper_threshold"] = bound
            measurements["secure_lower_threshold"] = -bound
            return MeasuredProcessOutput(
                AdaptiveSecureSumState(estimate, output.state), output.result, measurements
            )

        return AggregationProcess(initialize, next_fn, value_spec)


__all__ = ["AdaptiveSecureSum", "AdaptiveSecureSumState", "IntegerSecureSum"]
