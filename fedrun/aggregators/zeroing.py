"""Zeroing of outlying client values (`type: zeroing`).

A client whose value has norm above the bound `B` (or a non-finite norm) sends
zeros instead, so one corrupted or adversarial update cannot dominate the
aggregate; its weight, if any, is kept. `B` is fixed (`norm: 100.0`) or tracks a
high quantile of client norms, as TFF's robust aggregator does:
`B = multiplier * estimate + increment` with the estimate following the
0.98-quantile (defaults below). The norm is L2 unless `norm_order` says 1 or
infinity (the largest absolute value, TFF's default for zeroing).

    aggregator:
      type: zeroing
      adaptive: {}
      inner: {type: clipping, adaptive: {target_quantile: 0.8, initial_norm: 1.0}, inner: {type: mean}}
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple, Optional

import tensorflow as tf

from fedrun.aggregators.build import AggregatorContext, ParameterError, register_aggregator
from fedrun.aggregators.nests import global_l1_norm, global_max_norm, global_norm
from fedrun.aggregators.norm_wrapper import NormSpec, NormWrapperFactory
from fedrun.aggregators.norms import AdaptiveNormParams
from fedrun.config.params import bounded


def _zero_above(value: Any, norm: tf.Tensor, bound: tf.Tensor) -> tuple[Any, tf.Tensor, tf.Tensor]:
    keep = norm <= bound  # False for NaN norms too
    kept = tf.nest.map_structure(lambda leaf: tf.where(keep, leaf, tf.zeros_like(leaf)), value)
    return kept, norm, tf.cast(tf.logical_not(keep), tf.int32)


def zero_client(value: Any, bound: tf.Tensor) -> tuple[Any, tf.Tensor, tf.Tensor]:
    """One client: its value, or zeros if its L2 norm is above `bound` or not finite."""
    return _zero_above(value, global_norm(value), bound)


def zero_client_l1(value: Any, bound: tf.Tensor) -> tuple[Any, tf.Tensor, tf.Tensor]:
    """`zero_client` by the L1 norm."""
    return _zero_above(value, global_l1_norm(value), bound)


def zero_client_max(value: Any, bound: tf.Tensor) -> tuple[Any, tf.Tensor, tf.Tensor]:
    """`zero_client` by the largest absolute value (the infinity norm)."""
    return _zero_above(value, global_max_norm(value), bound)


ZERO_RULES = {1.0: zero_client_l1, 2.0: zero_client, math.inf: zero_client_max}


class ZeroingState(NamedTuple):
    """State of a zeroing process.

    Attributes:
        zeroing_norm: The norm bound's state (`()` fixed, `QuantileState` adaptive).
        inner: The inner process's state.
    """

    zeroing_norm: Any
    inner: Any


class ZeroingFactory(NormWrapperFactory):
    """Replaces client values of too large a norm by zeros, then delegates to `inner`.

    Weighted and/or unweighted exactly as `inner` is.

    Args:
        norm: A positive number (fixed bound), `AdaptiveNormParams`, or a norm
            bound object from `fedrun.aggregators.norms`.
        inner: The factory aggregating the results.
        norm_order: The norm compared with the bound: 1, 2 or `math.inf`.

    State: `ZeroingState(zeroing_norm, inner)`.
    Measurements: `zeroing_norm` (the bound used this round), `zeroed_count`
    (clients zeroed), `zeroing` (the inner measurements).
    """

    client_rule = staticmethod(zero_client)
    name = "zeroing"
    norm_key = "zeroing_norm"
    count_key = "zeroed_count"
    state_type = ZeroingState

    def __init__(self, norm: NormSpec, inner: Any, norm_order: float = 2.0) -> None:
        if norm_order not in ZERO_RULES:
            raise ValueError(f"zeroing norm_order must be 1, 2 or infinity, got {norm_order}")
        super().__init__(norm, inner)
        self.norm_order = float(norm_order)
        self.client_rule = ZERO_RULES[norm_order]


@dataclasses.dataclass(frozen=True)
class ZeroingAdaptiveParams(AdaptiveNormParams):
    """An adaptive zeroing bound: a generous multiple of a high quantile (TFF's robust defaults)."""

    target_quantile: float = bounded(0.98, ge=0.0, le=1.0)
    learning_rate: float = bounded(math.log(10.0), gt=0.0)
    initial_norm: float = bounded(10.0, gt=0.0)
    multiplier: float = bounded(2.0, gt=0.0)
    increment: float = bounded(1.0, ge=0.0)


@dataclasses.dataclass(frozen=True)
class ZeroingParams:
    """Exactly one of a fixed `norm` and an `adaptive` bound; `norm_order` 1, 2 or .inf."""

    norm: Optional[float] = bounded(None, gt=0.0)
    adaptive: Optional[ZeroingAdaptiveParams] = None
    norm_order: float = 2.0

    def __post_init__(self) -> None:
        if (self.norm is None) == (self.adaptive is None):
            raise ValueError(
                "give exactly one of 'norm' (a fixed bound) and 'adaptive' (a tracked quantile)"
            )


@register_aggregator(
    "zeroing", ZeroingParams, children=("inner",), required=("inner",), wraps="inner"
)
def _zeroing(p: ZeroingParams, context: AggregatorContext, inner: Any) -> ZeroingFactory:
    """Zeroes client values whose norm exceeds a fixed or adaptive bound."""
    if p.norm_order not in ZERO_RULES:
        raise ParameterError("norm_order", "not a supported norm", p.norm_order, [1.0, 2.0, ".inf"])
    return ZeroingFactory(p.norm if p.norm is not None else p.adaptive, inner, p.norm_order)  # type: ignore[arg-type]
