"""Zeroing of outlying client values (`type: zeroing`).

A client whose value has L2 norm above the bound `B` (or a non-finite norm) sends
zeros instead, so one corrupted or adversarial update cannot dominate the
aggregate; its weight, if any, is kept. `B` is fixed (`norm: 100.0`) or tracks a
high quantile of client norms, as TFF's robust aggregator does:
`B = multiplier * estimate + increment` with the estimate following the
0.98-quantile (defaults below).

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

from fedrun.aggregators.build import AggregatorContext, register_aggregator
from fedrun.aggregators.nests import global_norm
from fedrun.aggregators.norm_wrapper import NormSpec, NormWrapperFactory
from fedrun.aggregators.norms import AdaptiveNormParams
from fedrun.config.params import bounded


def zero_client(value: Any, bound: tf.Tensor) -> tuple[Any, tf.Tensor, tf.Tensor]:
    """One client: its value, or zeros if its norm is above `bound` or not finite."""
    norm = global_norm(value)
    keep = norm <= bound  # False for NaN norms too
    kept = tf.nest.map_structure(lambda leaf: tf.where(keep, leaf, tf.zeros_like(leaf)), value)
    return kept, norm, tf.cast(tf.logical_not(keep), tf.int32)


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

    State: `ZeroingState(zeroing_norm, inner)`.
    Measurements: `zeroing_norm` (the bound used this round), `zeroed_count`
    (clients zeroed), `zeroing` (the inner measurements).
    """

    client_rule = staticmethod(zero_client)
    name = "zeroing"
    norm_key = "zeroing_norm"
    count_key = "zeroed_count"
    state_type = ZeroingState

    def __init__(self, norm: NormSpec, inner: Any) -> None:
        super().__init__(norm, inner)


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
    """Exactly one of a fixed `norm` and an `adaptive` bound."""

    norm: Optional[float] = bounded(None, gt=0.0)
    adaptive: Optional[ZeroingAdaptiveParams] = None

    def __post_init__(self) -> None:
        if (self.norm is None) == (self.adaptive is None):
            raise ValueError("give exactly one of 'norm' (a fixed bound) and 'adaptive' (a tracked quantile)")


@register_aggregator("zeroing", ZeroingParams, children=("inner",), required=("inner",), wraps="inner")
def _zeroing(p: ZeroingParams, context: AggregatorContext, inner: Any) -> ZeroingFactory:
    """Zeroes client values whose norm exceeds a fixed or adaptive bound."""
    return ZeroingFactory(p.norm if p.norm is not None else p.adaptive, inner)  # type: ignore[arg-type]
