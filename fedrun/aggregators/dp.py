"""DP-FedAvg's Gaussian mechanism (`type: dp`), with fixed or adaptive clipping.

McMahan et al. 2018 ("Learning Differentially Private Recurrent Language
Models"): each client's update is clipped to L2 norm `C`, the clipped updates are
summed (by `inner`, a plain sum unless e.g. a secure sum is given), Gaussian noise
`N(0, (z * C)^2)` is added to every coordinate of the sum, and the result is divided
by the expected cohort size `m` (the fixed-denominator estimator), so one client
changes the released mean by at most `C / m`.

With `adaptive`, `C` tracks a quantile of client norms (Andrew et al. 2021); the
count of unclipped clients that drives it is itself noised with stddev `sigma_b`
(default `m / 20`, their recommendation), and the noise multiplier of the sum is
raised so the pair costs exactly what one Gaussian release with multiplier `z`
costs: `z_sum = (z**-2 - (2 * sigma_b)**-2) ** -0.5` (needs `sigma_b > z / 2`).

Every round reports `epsilon` at the configured `delta` after the rounds so far
(`fedrun.aggregators.privacy`, RDP accounting, sampling rate
`clients_per_round / num_clients`) when cohorts are drawn uniformly at random
(`sampling: uniform`). Under other sampling (`fixed`, `weighted`) amplification by
sampling does not hold: the process warns once, when created, and reports
`epsilon_full_participation` (q = 1) instead.

DP-FedAvg gives every client the same weight: a client's weight would scale its
sensitivity. Under a weighted algorithm the weights are ignored.

`DPFactory(noise_multiplier=0, ...)` (Python only; the config requires noise) adds no
noise, as TFF's factory does with a zero multiplier: the same clipping and
fixed-denominator mean, as a baseline for the noised runs; its `epsilon` is infinite.

    aggregator:
      type: dp
      noise_multiplier: 0.5
      adaptive: {target_quantile: 0.5, learning_rate: 0.2, initial_norm: 0.1}
      delta: 1.0e-5
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import math
from typing import Any, NamedTuple, Optional, Union

import tensorflow as tf

from fedrun.aggregators.build import AggregatorContext, ParameterError, register_aggregator
from fedrun.aggregators.clipping import clip_client
from fedrun.aggregators.factory import UnweightedAggregationFactory, WeightedAggregationFactory
from fedrun.aggregators.nests import check_floating, unzip_clients
from fedrun.aggregators.norms import AdaptiveNorm, AdaptiveNormParams, FixedNorm
from fedrun.aggregators.privacy import (
    SAMPLED_UNIFORMLY,
    RdpEpsilon,
    accounted_sampling_rate,
    unaccounted_sampling_warning,
)
from fedrun.aggregators.seeds import initial_seed, stream_seed
from fedrun.aggregators.sum import SumFactory
from fedrun.config.params import bounded
from fedrun.core import intrinsics
from fedrun.core.placements import AtClients, AtServer
from fedrun.core.processes import AggregationProcess, MeasuredProcessOutput

logger = logging.getLogger(__name__)

COUNT_STDDEV_FRACTION = 0.05  # Andrew et al. 2021: sigma_b = m / 20


class DPState(NamedTuple):
    """State of the DP mechanism.

    Attributes:
        clipping_norm: `()` for a fixed clip, else `QuantileState(estimate)`.
        seed: `int64[2]` seed of the noise.
        round_num: Rounds released so far (fresh noise per round; accounting).
        inner: The inner sum's state.
    """

    clipping_norm: Any
    seed: tf.Tensor
    round_num: tf.Tensor
    inner: Any


def sum_noise_multiplier(noise_multiplier: float, count_stddev: float) -> float:
    """The sum's noise multiplier that, with the noised count, costs `noise_multiplier`."""
    if not count_stddev > noise_multiplier / 2:
        raise ValueError(
            f"clipped_count_stddev must exceed noise_multiplier / 2 = {noise_multiplier / 2}, got {count_stddev}"
        )
    return (noise_multiplier**-2 - (2 * count_stddev) ** -2) ** -0.5


def _add_noise(total: Any, stddev: tf.Tensor, seed: tf.Tensor) -> Any:
    leaves = tf.nest.flatten(total)
    noised = []
    for i, leaf in enumerate(leaves):
        noise = tf.random.stateless_normal(
            tf.shape(leaf), tf.random.experimental.stateless_fold_in(seed, i), dtype=leaf.dtype
        )
        noised.append(leaf + tf.cast(stddev, leaf.dtype) * noise)
    return tf.nest.pack_sequence_as(total, noised)


class DPFactory(WeightedAggregationFactory, UnweightedAggregationFactory):
    """The DP-FedAvg Gaussian mechanism: clip, sum, add noise, divide by the expected cohort.

    Args:
        noise_multiplier: `z`, noise stddev over the clip norm (0: no noise, no privacy).
        expected_clients: `m`, the expected cohort size (the denominator).
        norm: A fixed clip norm, or `AdaptiveNormParams` (noised quantile tracking).
        sampling_rate: Probability a client takes part in a round (accounting).
        delta: The delta at which epsilon is reported.
        sampling: How cohorts are drawn (the `sampling` option's name). Only
            `uniform` is covered by the subsampled accountant; under any other
            the rounds are accounted at q = 1 (`sampling_rate` is ignored),
            reported as `epsilon_full_participation`, with a warning.
        clipped_count_stddev: Noise of the adaptive clip's count; default `m / 20`
            (0 without noise).
        inner: Sums the clipped updates (unweighted); default a plain sum.
        seed: Seed of the noise.

    State: `DPState(clipping_norm, seed, round_num, inner)`.
    Measurements: `clipping_norm` (the clip used this round), `noise_stddev` (of the
    noise added to the sum), `unclipped_fraction` (adaptive only: the noised fraction
    of clients within the clip), `epsilon` (spent so far at `delta`; under sampling the
    accountant does not cover, `epsilon_full_participation` instead), `dp` (the inner
    measurements).
    """

    def __init__(
        self,
        noise_multiplier: float,
        expected_clients: float,
        norm: Union[float, AdaptiveNormParams],
        *,
        sampling_rate: float,
        delta: float = 1e-5,
        clipped_count_stddev: Optional[float] = None,
        inner: Optional[UnweightedAggregationFactory] = None,
        seed: int = 0,
        sampling: str = "uniform",
    ) -> None:
        if not noise_multiplier >= 0:
            raise ValueError(f"dp noise_multiplier must be non-negative, got {noise_multiplier}")
        self.sampling = sampling
        covered = sampling in SAMPLED_UNIFORMLY
        noised = noise_multiplier > 0
        self.accountant = (
            RdpEpsilon(sampling_rate if covered else 1.0, noise_multiplier) if noised else None
        )
        self.epsilon_key = "epsilon" if covered else "epsilon_full_participation"
        self.expected_clients = expected_clients
        self.delta = delta
        self.inner = inner or SumFactory()
        self.seed = seed
        if isinstance(norm, AdaptiveNormParams):
            if clipped_count_stddev is not None:
                count_stddev = clipped_count_stddev
            else:
                count_stddev = COUNT_STDDEV_FRACTION * expected_clients if noised else 0.0
            self.norm: Union[FixedNorm, AdaptiveNorm] = AdaptiveNorm(
                norm, count_stddev, expected_clients
            )
            self.value_noise_multiplier = (
                sum_noise_multiplier(noise_multiplier, count_stddev) if noised else 0.0
            )
        else:
            self.norm = FixedNorm(norm)
            self.value_noise_multiplier = noise_multiplier

    def create(
        self, value_spec: Any, weight_spec: Optional[tf.TensorSpec] = None
    ) -> AggregationProcess:
        check_floating(value_spec, "dp")
        inner_process = self.inner.create(value_spec)
        if self.epsilon_key != "epsilon":
            logger.warning(unaccounted_sampling_warning(self.sampling))
        norm, denominator = self.norm, float(self.expected_clients)

        def initialize() -> DPState:
            return DPState(
                norm.initialize(),
                initial_seed(self.seed, "dp"),
                tf.constant(0, tf.int64),
                inner_process.initialize(),
            )

        def next_fn(
            state: DPState, value: AtClients, *unused_weight: AtClients
        ) -> MeasuredProcessOutput:
            clip = norm.bound(state.clipping_norm)
            at_clients = intrinsics.broadcast(AtServer(clip), value.num_clients)
            clipped, norms, _ = unzip_clients(intrinsics.map(clip_client, (value, at_clients)))
            inner_out = inner_process.next(state.inner, clipped)
            noise_stddev = self.value_noise_multiplier * clip
            noised = _add_noise(
                inner_out.result.value,
                noise_stddev,
                stream_seed(state.seed, state.round_num, "noise"),
            )
            mean = tf.nest.map_structure(
                lambda leaf: leaf / tf.cast(denominator, leaf.dtype), noised
            )
            new_norm_state, unclipped = norm.next(
                state.clipping_norm, norms, stream_seed(state.seed, state.round_num, "count_noise")
            )
            rounds = state.round_num + 1
            measurements = collections.OrderedDict(clipping_norm=clip, noise_stddev=noise_stddev)
            if unclipped is not None:
                measurements["unclipped_fraction"] = unclipped
            measurements[self.epsilon_key] = self._epsilon(rounds)
            measurements["dp"] = inner_out.measurements
            new_state = DPState(new_norm_state, state.seed, rounds, inner_out.state)
            return MeasuredProcessOutput(new_state, AtServer(mean), measurements)

        return AggregationProcess(
            initialize, next_fn, value_spec, weight_spec, inner_process.traceable
        )

    def _epsilon(self, rounds: tf.Tensor) -> tf.Tensor:
        """The accounted epsilon after `rounds` rounds (inf without an accountant)."""
        if self.accountant is None:
            return tf.constant(math.inf, tf.float64)
        accountant, delta = self.accountant, self.delta

        def epsilon(count: Any) -> float:
            return accountant.epsilon(int(count), delta)

        if tf.executing_eagerly():
            return tf.constant(epsilon(rounds), tf.float64)
        # The accountant is Python (dp_accounting): inside a compiled round it is
        # called back from the graph, once a round, as it is eagerly.
        value = tf.py_function(epsilon, [rounds], tf.float64)
        return tf.reshape(value, [])


@dataclasses.dataclass(frozen=True)
class DPAdaptiveParams:
    """Adaptive clipping under DP (Andrew et al. 2021 defaults)."""

    target_quantile: float = bounded(0.5, ge=0.0, le=1.0)
    learning_rate: float = bounded(0.2, gt=0.0)
    initial_norm: float = bounded(0.1, gt=0.0)
    clipped_count_stddev: Optional[float] = bounded(None, gt=0.0)


@dataclasses.dataclass(frozen=True)
class DPParams:
    """Parameters of `type: dp`: the noise multiplier and exactly one of `norm`, `adaptive`."""

    noise_multiplier: float = bounded(gt=0.0)
    norm: Optional[float] = bounded(None, gt=0.0)
    adaptive: Optional[DPAdaptiveParams] = None
    delta: float = bounded(1e-5, gt=0.0, lt=1.0)

    def __post_init__(self) -> None:
        if (self.norm is None) == (self.adaptive is None):
            raise ValueError(
                "give exactly one of 'norm' (a fixed clip) and 'adaptive' (a tracked quantile)"
            )


@register_aggregator("dp", DPParams, children=("inner",))
def _dp(p: DPParams, context: AggregatorContext, inner: Any = None) -> DPFactory:
    """DP-FedAvg Gaussian mechanism with fixed or adaptive clipping and RDP accounting."""
    norm: Union[float, AdaptiveNormParams]
    if p.adaptive is not None:
        a = p.adaptive
        count_stddev = (
            a.clipped_count_stddev
            if a.clipped_count_stddev is not None
            else COUNT_STDDEV_FRACTION * context.clients_per_round
        )
        if not count_stddev > p.noise_multiplier / 2:
            raise ParameterError(
                "adaptive.clipped_count_stddev",
                f"must exceed noise_multiplier / 2 = {p.noise_multiplier / 2} (unset, it is clients_per_round / 20)",
                count_stddev,
                f"> {p.noise_multiplier / 2}",
            )
        norm = AdaptiveNormParams(a.target_quantile, a.learning_rate, a.initial_norm)
    else:
        norm = p.norm  # type: ignore[assignment]
    return DPFactory(
        p.noise_multiplier,
        context.clients_per_round,
        norm,
        sampling_rate=accounted_sampling_rate(
            context.sampling, context.clients_per_round, context.num_clients
        ),
        delta=p.delta,
        clipped_count_stddev=p.adaptive.clipped_count_stddev if p.adaptive else None,
        inner=inner,
        seed=context.seed,
        sampling=context.sampling,
    )
