"""TFF's recommended model-update aggregators (`tff.learning.robust_aggregator`, ...),
composed from the facade's `tff.aggregators` as TFF composes them.

Zeroing (adaptive, L-infinity) wraps clipping (adaptive, L2), which wraps the mean
or the technique at hand (Andrew et al. 2021, "Differentially Private Learning with
Adaptive Clipping", for the adaptive bounds); the quantile parameters are TFF's.
TFF estimates the bounds of `secure_aggregator` with secure sums of the clients'
counts; fedrun sums those counts in the clear (the bounded values themselves are
summed securely).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Optional

from fedrun.compat.tff import aggregators
from fedrun.compat.tff.unsupported import UnsupportedError

_QuantileEstimate = aggregators.PrivateQuantileEstimationProcess


def _default_zeroing(inner: Any) -> Any:
    # Adapts very quickly to a value somewhat above the largest values seen so far.
    norm = _QuantileEstimate.no_noise(
        initial_estimate=10.0,
        target_quantile=0.98,
        learning_rate=math.log(10.0),
        multiplier=2.0,
        increment=1.0,
    )
    return aggregators.zeroing_factory(norm, inner)


def _default_clipping(inner: Any) -> Any:
    # Adapts relatively quickly to a moderately high norm.
    norm = _QuantileEstimate.no_noise(initial_estimate=1.0, target_quantile=0.8, learning_rate=0.2)
    return aggregators.clipping_factory(norm, inner)


def _check_debug(debug_measurements_fn: Optional[Callable[[Any], Any]]) -> None:
    if debug_measurements_fn is not None:
        raise UnsupportedError(
            "debug_measurements_fn: tff.learning.add_debug_measurements is not provided by fedrun; fedrun's "
            "round metrics already report the aggregators' measurements (metrics.jsonl `aggregator`)"
        )


def _robust(inner: Any, zeroing: bool, clipping: bool) -> Any:
    if clipping:
        inner = _default_clipping(inner)
    return _default_zeroing(inner) if zeroing else inner


def robust_aggregator(
    *,
    zeroing: bool = True,
    clipping: bool = True,
    weighted: bool = True,
    debug_measurements_fn: Optional[Callable[[Any], Any]] = None,
) -> Any:
    """The mean with adaptive zeroing and adaptive L2 clipping.

    `weighted=False` gives the same mean factory (the facade's `MeanFactory` is
    weighted and unweighted; `build_unweighted_fed_avg` uses it unweighted).
    """
    _check_debug(debug_measurements_fn)
    return _robust(aggregators.MeanFactory(), zeroing, clipping)


def dp_aggregator(noise_multiplier: float, clients_per_round: float, zeroing: bool = True) -> Any:
    """Adaptive zeroing around `DifferentiallyPrivateFactory.gaussian_adaptive(noise_multiplier,
    clients_per_round)` (adaptive clipping and Gaussian noise, McMahan et al. 2018)."""
    dp_mean = aggregators.DifferentiallyPrivateFactory.gaussian_adaptive(
        noise_multiplier, clients_per_round
    )
    return _default_zeroing(dp_mean) if zeroing else dp_mean


def compression_aggregator(
    *,
    zeroing: bool = True,
    clipping: bool = True,
    weighted: bool = True,
    debug_measurements_fn: Optional[Callable[[Any], Any]] = None,
    **kwargs: Any,
) -> Any:
    """Adaptive zeroing and clipping around a mean whose weighted values are
    quantized to 8 bits (tensors with more than 20000 elements) before summing."""
    _check_debug(debug_measurements_fn)
    encoded = aggregators.EncodedSumFactory.quantize_above_threshold(
        quantization_bits=8, threshold=20000, **kwargs
    )
    return _robust(aggregators.MeanFactory(encoded), zeroing, clipping)


def secure_aggregator(*, zeroing: bool = True, clipping: bool = True, weighted: bool = True) -> Any:
    """Adaptive zeroing and clipping around a mean whose weighted values are summed
    securely within an adaptive bound (weighted: and whose weights are summed
    securely within `[0, 2**20 - 1]`; unweighted, fedrun counts the clients in the clear)."""
    bound = _QuantileEstimate.no_noise(
        initial_estimate=50.0, target_quantile=0.95, learning_rate=1.0, multiplier=2.0
    )
    value_sum = aggregators.SecureSumFactory(bound)
    # A power of two minus one encodes integer-valued float weights exactly (TFF's choice).
    weight_sum = (
        aggregators.SecureSumFactory(
            upper_bound_threshold=float(2**20 - 1), lower_bound_threshold=0.0
        )
        if weighted
        else None
    )
    mean = aggregators.MeanFactory(value_sum_factory=value_sum, weight_sum_factory=weight_sum)
    return _robust(mean, zeroing, clipping)


__all__ = ["compression_aggregator", "dp_aggregator", "robust_aggregator", "secure_aggregator"]
