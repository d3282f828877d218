"""TFF's `DifferentiallyPrivateFactory` on fedrun's DP-FedAvg mechanism (`fedrun.aggregators.dp`).

| TFF | fedrun |
| --- | --- |
| `DifferentiallyPrivateFactory.gaussian_fixed(noise_multiplier, clients_per_round, clip)` | `DPFactory(noise_multiplier, clients_per_round, clip, sampling_rate=...)`, config `type: dp` with `norm:` |
| `DifferentiallyPrivateFactory.gaussian_adaptive(noise_multiplier, clients_per_round, ...)` | `DPFactory(..., AdaptiveNormParams(...))`, config `type: dp` with `adaptive:` |

Both clip each client's value (L2), sum, add Gaussian noise of stddev
`noise_multiplier * clip` to the sum and divide by `clients_per_round`, as TFF's
queries do (McMahan et al. 2018; the adaptive clip follows Andrew et al. 2021, with
the same split of the noise between the sum and the clipped count). fedrun also
reports the `epsilon` spent so far: pass `sampling_rate=clients_per_round /
num_clients` for the figure with amplification by sampling; the default 1.0
assumes every client takes part in every round, an upper bound.

A `noise_multiplier` of 0 adds no noise (nor to the adaptive clip's count, unless
`clipped_count_stddev` is given), as in TFF: clipping and the fixed-denominator
mean alone; `epsilon` is then infinite.

TFF's factory is unweighted; fedrun's also serves weighted algorithms (it gives
every client the same weight, as DP-FedAvg must).
"""

from __future__ import annotations

from typing import Any, NamedTuple, Optional

from fedrun.aggregators.dp import DPFactory
from fedrun.aggregators.norms import AdaptiveNormParams
from fedrun.compat.tff.aggregators.factories import (
    UnweightedAggregationFactory,
    WeightedAggregationFactory,
    Wrapped,
    check_argument,
)
from fedrun.compat.tff.unsupported import UnsupportedError


def _noise_multiplier(value: Any) -> float:
    return check_argument(
        "noise_multiplier", value, lambda z: z >= 0, "non-negative (0: no noise, no privacy)"
    )


class _Accounting(NamedTuple):
    sampling_rate: float
    delta: float


def _accounting(sampling_rate: float, delta: float) -> _Accounting:
    return _Accounting(
        check_argument("sampling_rate", sampling_rate, lambda q: 0 < q <= 1, "in (0, 1]"),
        check_argument("delta", delta, lambda d: 0 < d < 1, "in (0, 1)"),
    )


class DifferentiallyPrivateFactory(
    Wrapped, WeightedAggregationFactory, UnweightedAggregationFactory
):
    """DP-FedAvg's Gaussian mechanism, built with `gaussian_fixed` or `gaussian_adaptive`.

    The constructor, which takes a TensorFlow Privacy query in TFF, is not
    supported. Each constructor also takes (fedrun) `sampling_rate`, `delta` (at
    which epsilon is reported) and `seed` (of the noise).

    State `DPState(clipping_norm, seed, round_num, inner)`; measurements
    `clipping_norm`, `noise_stddev`, `unclipped_fraction` (adaptive only),
    `epsilon` and `dp` (the inner sum's measurements).
    """

    def __init__(self, query: Any, record_aggregation_factory: Any = None) -> None:
        raise UnsupportedError(
            "DifferentiallyPrivateFactory(query, ...): TensorFlow Privacy queries are not supported; use "
            "DifferentiallyPrivateFactory.gaussian_fixed / gaussian_adaptive (fedrun.aggregators.dp.DPFactory, "
            "config type: dp)"
        )

    @classmethod
    def _from_native(cls, native: DPFactory) -> "DifferentiallyPrivateFactory":
        factory = cls.__new__(cls)
        factory.native = native
        return factory

    @classmethod
    def gaussian_fixed(
        cls,
        noise_multiplier: float,
        clients_per_round: float,
        clip: float,
        *,
        sampling_rate: float = 1.0,
        delta: float = 1e-5,
        seed: int = 0,
    ) -> "DifferentiallyPrivateFactory":
        """Clipping to the fixed L2 norm `clip` and Gaussian noise."""
        native = DPFactory(
            _noise_multiplier(noise_multiplier),
            check_argument("clients_per_round", clients_per_round, lambda m: m > 0, "positive"),
            check_argument("clip", clip, lambda c: c > 0, "positive"),
            seed=seed,
            **_accounting(sampling_rate, delta)._asdict(),
        )
        return cls._from_native(native)

    @classmethod
    def gaussian_adaptive(
        cls,
        noise_multiplier: float,
        clients_per_round: float,
        initial_l2_norm_clip: float = 0.1,
        target_unclipped_quantile: float = 0.5,
        learning_rate: float = 0.2,
        clipped_count_stddev: Optional[float] = None,
        *,
        sampling_rate: float = 1.0,
        delta: float = 1e-5,
        seed: int = 0,
    ) -> "DifferentiallyPrivateFactory":
        """Clipping to a norm that follows the `target_unclipped_quantile` of client
        norms (estimated from a noised count), and Gaussian noise; `noise_multiplier`
        is the total, shared between the sum and the count as in TFF."""
        norm = AdaptiveNormParams(
            target_quantile=check_argument(
                "target_unclipped_quantile",
                target_unclipped_quantile,
                lambda q: 0 <= q <= 1,
                "in [0, 1]",
            ),
            learning_rate=check_argument(
                "learning_rate", learning_rate, lambda r: r >= 0, "non-negative"
            ),
            initial_norm=check_argument(
                "initial_l2_norm_clip", initial_l2_norm_clip, lambda c: c > 0, "positive"
            ),
        )
        if clipped_count_stddev is not None:
            clipped_count_stddev = check_argument(
                "clipped_count_stddev", clipped_count_stddev, lambda s: s > 0, "positive"
            )
        native = DPFactory(
            _noise_multiplier(noise_multiplier),
            check_argument("clients_per_round", clients_per_round, lambda m: m > 0, "positive"),
            norm,
            clipped_count_stddev=clipped_count_stddev,
            seed=seed,
            **_accounting(sampling_rate, delta)._asdict(),
        )
        return cls._from_native(native)

    @classmethod
    def tree_aggregation(cls, *args: Any, **kwargs: Any) -> "DifferentiallyPrivateFactory":
        """Not supported: raises `UnsupportedError`."""
        raise UnsupportedError(
            "DifferentiallyPrivateFactory.tree_aggregation (DP-FTRL) is not provided by fedrun; use gaussian_fixed or "
            "gaussian_adaptive (config type: dp), which add fresh noise every round"
        )


__all__ = ["DifferentiallyPrivateFactory"]
