"""TFF's `clipping_factory`, `zeroing_factory` and `PrivateQuantileEstimationProcess`
on fedrun's norm-bounding wrappers.

| TFF | fedrun |
| --- | --- |
| `clipping_factory(clipping_norm, inner_agg_factory)` | `fedrun.aggregators.clipping.ClippingFactory(norm, inner)`, config `type: clipping` |
| `zeroing_factory(zeroing_norm, inner_agg_factory, norm_order)` | `fedrun.aggregators.zeroing.ZeroingFactory(norm, inner, norm_order)`, config `type: zeroing` |
| `PrivateQuantileEstimationProcess.no_noise(...)` | `fedrun.aggregators.norms.AdaptiveNormParams(...)`, config `adaptive: {...}` |

A norm is a positive number (fixed) or `PrivateQuantileEstimationProcess.no_noise(...)`
(a bound following a quantile of the client norms, Andrew et al. 2021). The
returned factories are weighted and/or unweighted as their inner factory is.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Union

from fedrun.aggregators.clipping import ClippingFactory
from fedrun.aggregators.norms import AdaptiveNormParams
from fedrun.aggregators.sum import SumFactory as NativeSumFactory
from fedrun.aggregators.zeroing import ZeroingFactory
from fedrun.compat.tff.aggregators.factories import SumFactory, as_native, check_argument, wrap
from fedrun.compat.tff.unsupported import UnsupportedError

_ESTIMATION_METHODS = ("initialize", "next", "report", "map", "state_type")


class PrivateQuantileEstimationProcess:
    """TFF's quantile estimate of client norms, as a norm for `clipping_factory` /
    `zeroing_factory`.

    Only the estimator without noise (`no_noise`) is provided; it is fedrun's
    `AdaptiveNormParams` (available as `.native`), run inside the clipping or
    zeroing aggregator it is given to. The estimate `C` moves geometrically towards
    the `target_quantile` of the client norms and the bound is
    `multiplier * C + increment`.
    """

    native: AdaptiveNormParams

    def __init__(
        self, quantile_estimator_query: Any, record_aggregation_factory: Any = None
    ) -> None:
        raise UnsupportedError(
            "PrivateQuantileEstimationProcess(quantile_estimator_query, ...): TensorFlow Privacy queries are not "
            "supported; use PrivateQuantileEstimationProcess.no_noise(...) (fedrun's AdaptiveNormParams), or "
            "tff.aggregators.DifferentiallyPrivateFactory.gaussian_adaptive for a noised estimate"
        )

    @classmethod
    def no_noise(
        cls,
        initial_estimate: float,
        target_quantile: float,
        learning_rate: float,
        multiplier: float = 1.0,
        increment: float = 0.0,
        secure_estimation: bool = False,
    ) -> "PrivateQuantileEstimationProcess":
        """The estimate of the `target_quantile` of client norms, reported as
        `multiplier * estimate + increment`, without noise."""
        if secure_estimation:
            raise UnsupportedError(
                "secure_estimation=True: fedrun's adaptive norms sum the count of clients under the estimate "
                "in the clear; pass secure_estimation=False"
            )
        spec = cls.__new__(cls)
        spec.native = AdaptiveNormParams(
            target_quantile=check_argument(
                "target_quantile", target_quantile, lambda q: 0 <= q <= 1, "in [0, 1]"
            ),
            learning_rate=check_argument(
                "learning_rate", learning_rate, lambda r: r > 0, "positive"
            ),
            initial_norm=check_argument(
                "initial_estimate", initial_estimate, lambda e: e > 0, "positive"
            ),
            multiplier=check_argument("multiplier", multiplier, lambda m: m > 0, "positive"),
            increment=check_argument("increment", increment, lambda i: i >= 0, "non-negative"),
        )
        return spec

    def __getattr__(self, name: str) -> Any:
        if name in _ESTIMATION_METHODS:
            raise UnsupportedError(
                f"PrivateQuantileEstimationProcess.{name}: in fedrun the estimate runs inside the aggregator it bounds "
                "(fedrun.aggregators.norms.AdaptiveNorm); pass this object as clipping_norm / zeroing_norm"
            )
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")


def _norm(norm: Any, argument: str) -> Union[float, AdaptiveNormParams]:
    if isinstance(norm, PrivateQuantileEstimationProcess):
        return norm.native
    if hasattr(norm, "report") and hasattr(norm, "next"):
        raise UnsupportedError(
            f"{argument}: custom estimation processes are not supported; fedrun's adaptive bound tracks a quantile "
            "of the client norms: pass tff.aggregators.PrivateQuantileEstimationProcess.no_noise(...) "
            "(fedrun's AdaptiveNormParams)"
        )
    return check_argument(
        argument,
        norm,
        lambda n: n > 0,
        "positive, or PrivateQuantileEstimationProcess.no_noise(...)",
    )


def _check_count_sum(factory: Optional[Any], argument: str) -> None:
    if factory is not None and not isinstance(factory, (SumFactory, NativeSumFactory)):
        raise UnsupportedError(
            f"{argument}: fedrun counts the affected clients with a plain federated sum; leave {argument} unset"
        )


def clipping_factory(
    clipping_norm: Any, inner_agg_factory: Any, clipped_count_sum_factory: Optional[Any] = None
) -> Any:
    """Clips each client's value to L2 norm `clipping_norm`, then aggregates with
    `inner_agg_factory`.

    State `ClippingState(clipping_norm, inner)`; measurements `clipping_norm`,
    `clipped_count` and `clipping` (the inner measurements).
    """
    _check_count_sum(clipped_count_sum_factory, "clipped_count_sum_factory")
    native = ClippingFactory(_norm(clipping_norm, "clipping_norm"), as_native(inner_agg_factory))
    return wrap(native, "ClippingFactory")


def zeroing_factory(
    zeroing_norm: Any,
    inner_agg_factory: Any,
    norm_order: float = math.inf,
    zeroed_count_sum_factory: Optional[Any] = None,
) -> Any:
    """Replaces by zeros each client's value whose norm (of `norm_order`: 1, 2 or
    infinity, TFF's default) exceeds `zeroing_norm`, then aggregates with
    `inner_agg_factory` (a zeroed client keeps its weight).

    State `ZeroingState(zeroing_norm, inner)`; measurements `zeroing_norm`,
    `zeroed_count` and `zeroing` (the inner measurements).
    """
    _check_count_sum(zeroed_count_sum_factory, "zeroed_count_sum_factory")
    native = ZeroingFactory(
        _norm(zeroing_norm, "zeroing_norm"), as_native(inner_agg_factory), norm_order
    )
    return wrap(native, "ZeroingFactory")


__all__ = ["PrivateQuantileEstimationProcess", "clipping_factory", "zeroing_factory"]
