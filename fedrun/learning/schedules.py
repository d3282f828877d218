"""Learning-rate schedules over rounds (`client_lr_schedule`, `server_lr_schedule`).

A schedule scales the configured optimizer's learning rate round by round:
`learning_rate(round) = base * factor(round)`, rounds counted from 1 (round 1 uses
`factor(1) == 1`, the configured rate). Client schedules feed the client optimizer
of every local step of a round; server schedules feed the server optimizer.

* `constant`: `1`.
* `exponential`: `decay_rate ** ((round - 1) / decay_rounds)`, or with `staircase`
  `decay_rate ** floor((round - 1) / decay_rounds)`.
* `inverse_time`: `1 / (1 + decay_rate * (round - 1) / decay_rounds)`.
* `cosine`: from 1 down to `min_factor` over `decay_rounds` rounds, then `min_factor`.
* `piecewise`: `factors[i]` from round `boundaries[i-1] + 1` on (`factors[0]` before
  the first boundary), as step decay.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

from fedrun.config.params import bounded
from fedrun.config.registry import Registry

Factor = Callable[[int], float]


@dataclasses.dataclass(frozen=True)
class RoundSchedule:
    """A learning rate per round: `base * factor(round)`.

    Attributes:
        base: The configured learning rate (of the optimizer the schedule drives).
        factor: Round (1-based) -> multiplier of `base`.
    """

    base: float
    factor: Factor

    def __call__(self, round_num: int) -> float:
        return self.base * self.factor(max(int(round_num), 1))

    def rebased(self, base: float) -> "RoundSchedule":
        """The same shape over another base rate (an algorithm's own optimizer)."""
        return dataclasses.replace(self, base=float(base))


SCHEDULES: Registry[RoundSchedule] = Registry("learning-rate schedule")


@dataclasses.dataclass(frozen=True)
class ConstantParams:
    """No parameters: the configured rate every round."""


@dataclasses.dataclass(frozen=True)
class ExponentialParams:
    decay_rate: float = bounded(0.99, gt=0, le=1)
    decay_rounds: int = bounded(1, ge=1)
    staircase: bool = False


@dataclasses.dataclass(frozen=True)
class InverseTimeParams:
    decay_rate: float = bounded(0.1, ge=0)
    decay_rounds: int = bounded(1, ge=1)


@dataclasses.dataclass(frozen=True)
class CosineParams:
    decay_rounds: int = bounded(100, ge=1)
    min_factor: float = bounded(0.0, ge=0, le=1)


@dataclasses.dataclass(frozen=True)
class PiecewiseParams:
    boundaries: list[int] = dataclasses.field(default_factory=lambda: [100])
    factors: list[float] = dataclasses.field(default_factory=lambda: [1.0, 0.1])

    def __post_init__(self) -> None:
        if len(self.factors) != len(self.boundaries) + 1:
            raise ValueError(
                f"piecewise needs one more factor than boundaries, got {len(self.factors)} factors "
                f"for {len(self.boundaries)} boundaries"
            )
        if any(b < 1 for b in self.boundaries) or list(self.boundaries) != sorted(
            set(self.boundaries)
        ):
            raise ValueError(
                f"boundaries must be increasing round numbers >= 1, got {list(self.boundaries)}"
            )
        if any(f <= 0 for f in self.factors):
            raise ValueError(f"factors must be positive, got {list(self.factors)}")


@SCHEDULES.register("constant", ConstantParams)
def _constant(p: ConstantParams, base_learning_rate: float) -> RoundSchedule:
    """The configured learning rate every round."""
    return RoundSchedule(base_learning_rate, lambda r: 1.0)


@SCHEDULES.register("exponential", ExponentialParams)
def _exponential(p: ExponentialParams, base_learning_rate: float) -> RoundSchedule:
    """Exponential decay by `decay_rate` every `decay_rounds` rounds."""

    def factor(r: int) -> float:
        progress = (r - 1) / p.decay_rounds
        return p.decay_rate ** (math.floor(progress) if p.staircase else progress)

    return RoundSchedule(base_learning_rate, factor)


@SCHEDULES.register("inverse_time", InverseTimeParams)
def _inverse_time(p: InverseTimeParams, base_learning_rate: float) -> RoundSchedule:
    """`1 / (1 + decay_rate * t)` decay, `t` in units of `decay_rounds`."""
    return RoundSchedule(
        base_learning_rate, lambda r: 1.0 / (1.0 + p.decay_rate * (r - 1) / p.decay_rounds)
    )


@SCHEDULES.register("cosine", CosineParams)
def _cosine(p: CosineParams, base_learning_rate: float) -> RoundSchedule:
    """Cosine decay to `min_factor` over `decay_rounds` rounds."""

    def factor(r: int) -> float:
        progress = min((r - 1) / p.decay_rounds, 1.0)
        return p.min_factor + (1.0 - p.min_factor) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return RoundSchedule(base_learning_rate, factor)


@SCHEDULES.register("piecewise", PiecewiseParams)
def _piecewise(p: PiecewiseParams, base_learning_rate: float) -> RoundSchedule:
    """Step decay: a factor per range of rounds."""

    def factor(r: int) -> float:
        passed = sum(1 for b in p.boundaries if r > b)
        return p.factors[passed]

    return RoundSchedule(base_learning_rate, factor)


def build_schedule(node: Any, path: str, base_learning_rate: float) -> RoundSchedule | None:
    """The schedule a config node describes (None for a null node)."""
    if node is None:
        return None
    return SCHEDULES.build(node, path, base_learning_rate=float(base_learning_rate))


__all__ = ["SCHEDULES", "RoundSchedule", "build_schedule"]
