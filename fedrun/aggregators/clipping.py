"""L2 norm clipping of client values (`type: clipping`).

Each client's value is scaled down to norm at most `B` (`v * min(1, B / ||v||)`)
before the `inner` factory aggregates it. `B` is fixed (`norm: 1.0`) or tracks a
quantile of the client norms (`adaptive: {target_quantile: 0.5, learning_rate:
0.2, initial_norm: 0.1}`, Andrew et al. 2021). Around a weighted mean it clips the
raw updates before weighting (TFF's robust aggregation); under a mean's
`value_sum` it clips the weighted values.

    aggregator:
      type: clipping
      adaptive: {target_quantile: 0.8, initial_norm: 1.0}
      inner: {type: mean}
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple, Optional

import tensorflow as tf

from fedrun.aggregators.build import AggregatorContext, register_aggregator
from fedrun.aggregators.nests import global_norm, scale
from fedrun.aggregators.norm_wrapper import NormSpec, NormWrapperFactory
from fedrun.aggregators.norms import AdaptiveNormParams
from fedrun.config.params import bounded


def clip_client(value: Any, bound: tf.Tensor) -> tuple[Any, tf.Tensor, tf.Tensor]:
    """One client: its value clipped to norm `bound`, its norm, whether it was clipped."""
    norm = global_norm(value)
    factor = tf.minimum(1.0, bound / tf.maximum(norm, 1e-30))
    return scale(value, factor), norm, tf.cast(norm > bound, tf.int32)


class ClippingState(NamedTuple):
    """State of a clipping process.

    Attributes:
        clipping_norm: The norm bound's state (`()` fixed, `QuantileState` adaptive).
        inner: The inner process's state.
    """

    clipping_norm: Any
    inner: Any


class ClippingFactory(NormWrapperFactory):
    """Clips each client's value to an L2 norm, then delegates to `inner`.

    Weighted and/or unweighted exactly as `inner` is.

    Args:
        norm: A positive number (fixed bound), `AdaptiveNormParams`, or a norm
            bound object from `fedrun.aggregators.norms`.
        inner: The factory aggregating the clipped values.

    State: `ClippingState(clipping_norm, inner)`.
    Measurements: `clipping_norm` (the bound used this round), `clipped_count`
    (clients whose norm exceeded it), `clipping` (the inner measurements).
    """

    client_rule = staticmethod(clip_client)
    name = "clipping"
    norm_key = "clipping_norm"
    count_key = "clipped_count"
    state_type = ClippingState

    def __init__(self, norm: NormSpec, inner: Any) -> None:
        super().__init__(norm, inner)


@dataclasses.dataclass(frozen=True)
class ClippingParams:
    """Exactly one of a fixed `norm` and an `adaptive` bound."""

    norm: Optional[float] = bounded(None, gt=0.0)
    adaptive: Optional[AdaptiveNormParams] = None

    def __post_init__(self) -> None:
        if (self.norm is None) == (self.adaptive is None):
            raise ValueError(
                "give exactly one of 'norm' (a fixed bound) and 'adaptive' (a tracked quantile)"
            )


@register_aggregator(
    "clipping", ClippingParams, children=("inner",), required=("inner",), wraps="inner"
)
def _clipping(p: ClippingParams, context: AggregatorContext, inner: Any) -> ClippingFactory:
    """L2 norm clipping (fixed or adaptive) around an inner aggregator."""
    return ClippingFactory(p.norm if p.norm is not None else p.adaptive, inner)  # type: ignore[arg-type]
