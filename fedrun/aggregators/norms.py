"""Norm bounds for clipping, zeroing and DP: fixed, or tracking a quantile.

`AdaptiveNorm` follows Andrew et al. 2021 ("Differentially Private Learning with
Adaptive Clipping"): with `b` the fraction of clients whose norm is at most the
current estimate `C` and `q` the target quantile, the geometric update
`C <- C * exp(-lr * (b - q))` moves `C` towards the `q`-quantile of client norms.
For differential privacy the count behind `b` is itself noised: each client
contributes `indicator - 1/2` (sensitivity 1/2), Gaussian noise of stddev
`count_stddev` is added to the sum, and the fraction is taken over the expected
cohort size rather than the (private) actual one.

A bound may be an affine function of the estimate (`multiplier * C + increment`):
zeroing uses a generous multiple of a high quantile.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple, Optional, Union

import tensorflow as tf

from fedrun.config.params import bounded
from fedrun.core import intrinsics
from fedrun.core.placements import AtClients, AtServer


@dataclasses.dataclass(frozen=True)
class AdaptiveNormParams:
    """An adaptive norm bound (Andrew et al. 2021 defaults).

    Attributes:
        target_quantile: Fraction of clients whose norm should fall under the estimate.
        learning_rate: Step of the geometric update.
        initial_norm: The estimate before the first round.
        multiplier: The bound is `multiplier * estimate + increment`.
        increment: See `multiplier`.
    """

    target_quantile: float = bounded(0.5, ge=0.0, le=1.0)
    learning_rate: float = bounded(0.2, gt=0.0)
    initial_norm: float = bounded(0.1, gt=0.0)
    multiplier: float = bounded(1.0, gt=0.0)
    increment: float = bounded(0.0, ge=0.0)


class QuantileState(NamedTuple):
    """State of an adaptive norm.

    Attributes:
        estimate: The current estimate of the target quantile of client norms.
    """

    estimate: tf.Tensor


def _at_most(norm: tf.Tensor, estimate: tf.Tensor) -> tf.Tensor:
    """Per client: 1/2 if its norm is at most the estimate, else -1/2."""
    return tf.where(norm <= estimate, 0.5, -0.5)


class FixedNorm:
    """A constant bound. State: `()`."""

    def __init__(self, norm: float) -> None:
        if not norm > 0:
            raise ValueError(f"a norm bound must be positive, got {norm}")
        self.norm = float(norm)

    def initialize(self) -> tuple:
        return ()

    def bound(self, state: Any) -> tf.Tensor:
        """The bound to apply this round."""
        return tf.constant(self.norm, tf.float32)

    def next(
        self, state: Any, norms: AtClients, noise_seed: Optional[tf.Tensor] = None
    ) -> tuple[Any, Optional[tf.Tensor]]:
        """The state after seeing this round's client norms, and the (noised) unclipped fraction if tracked."""
        return state, None


class AdaptiveNorm:
    """A bound tracking a quantile of client norms. State: `QuantileState`.

    Args:
        params: Target quantile, learning rate, initial estimate, affine bound.
        count_stddev: Stddev of the Gaussian noise on the count (0: exact count).
        expected_clients: Denominator of the fraction (required with noise); None:
            the round's number of clients.
    """

    def __init__(
        self,
        params: AdaptiveNormParams,
        count_stddev: float = 0.0,
        expected_clients: Optional[float] = None,
    ) -> None:
        if count_stddev > 0 and not expected_clients:
            raise ValueError("a noised quantile estimate needs the expected number of clients")
        self.params = params
        self.count_stddev = float(count_stddev)
        self.expected_clients = expected_clients

    def initialize(self) -> QuantileState:
        return QuantileState(tf.constant(self.params.initial_norm, tf.float32))

    def bound(self, state: QuantileState) -> tf.Tensor:
        """The bound to apply this round."""
        return self.params.multiplier * state.estimate + self.params.increment

    def next(
        self, state: QuantileState, norms: AtClients, noise_seed: Optional[tf.Tensor] = None
    ) -> tuple[QuantileState, tf.Tensor]:
        """The updated estimate and the fraction of clients at or under the old one."""
        below = intrinsics.map(
            _at_most, (norms, intrinsics.broadcast(AtServer(state.estimate), norms.num_clients))
        )
        total = intrinsics.sum(below).value
        # Over the expected cohort when one is given (DP's fixed denominator), else the actual one.
        denominator = float(self.expected_clients or norms.num_clients)
        if self.count_stddev > 0:
            if noise_seed is None:
                raise ValueError("a noised quantile estimate needs a noise seed")
            total = total + self.count_stddev * tf.random.stateless_normal([], seed=noise_seed)
        fraction = total / denominator + 0.5
        estimate = state.estimate * tf.exp(
            -self.params.learning_rate * (fraction - self.params.target_quantile)
        )
        return QuantileState(estimate), fraction


NormBound = Union[FixedNorm, AdaptiveNorm]
