"""Systems heterogeneity: stragglers and dropouts among a round's sampled clients.

Li et al. 2020 (FedProx, Section 5.2) simulate devices that cannot finish the
round's work: a fixed fraction of the selected devices runs fewer local epochs
than `E`. Their released code draws each straggler's epochs uniformly from
`1 .. E-1` (`np.random.randint(1, E)`; the paper's text says "between 1 and E"),
which is what fedrun does, so a straggler always does less than the others (with
`E = 1` there is nothing less to do and stragglers run the one epoch). FedAvg then
drops the stragglers and aggregates the clients that finished, while FedProx
aggregates the stragglers' partial work too. Besides stragglers, a fraction of the
sampled clients can drop out entirely (they send nothing).

Config (top-level `stragglers:`, null for none):

    stragglers:
      fraction: 0.9        # of each round's sampled clients that straggle
      dropout: 0.0         # of each round's sampled clients that send nothing
      partial_work: null   # keep stragglers' partial work; null: the algorithm's
                           # default (FedProx keeps it, the others drop it)

Who straggles and their epochs are drawn from `(seed, round)` only, so FedAvg and
FedProx runs with the same seed see the same stragglers (as the released code
arranges by reseeding with the round). Counts are `round(fraction * K)` and
`round(dropout * K)` for a cohort of `K`, halves rounded up.

Measurements (under `client_work` in the round record): `sampled`, `stragglers`
(sampled clients that straggled), `dropped` (clients that sent nothing: dropouts,
plus stragglers when their partial work is dropped).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Optional, Sequence

import numpy as np

from fedrun.config.errors import ConfigError
from fedrun.config.params import bounded


@dataclasses.dataclass(frozen=True)
class StragglerConfig:
    """The `stragglers:` block.

    Attributes:
        fraction: Fraction of each round's sampled clients that run fewer epochs.
        dropout: Fraction of each round's sampled clients that drop out entirely.
        partial_work: Aggregate stragglers' partial work (true) or drop them
            (false); null lets the algorithm decide.
    """

    fraction: float = bounded(0.0, ge=0, le=1)
    dropout: float = bounded(0.0, ge=0, le=1)
    partial_work: Optional[bool] = None

    def __post_init__(self) -> None:
        if self.fraction + self.dropout > 1:
            raise ValueError(
                f"fraction + dropout must be at most 1, got {self.fraction} + {self.dropout}"
            )


def _count(fraction: float, cohort_size: int) -> int:
    return int(math.floor(fraction * cohort_size + 0.5))


@dataclasses.dataclass(frozen=True)
class RoundParticipation:
    """Who trains in a round, and for how many epochs.

    Attributes:
        client_ids: The clients that train (in sampled order).
        epochs: Local epochs of each of them.
        sampled: How many clients were sampled.
        stragglers: How many sampled clients straggled.
        dropped: How many sampled clients send nothing.
    """

    client_ids: list[str]
    epochs: list[int]
    sampled: int
    stragglers: int
    dropped: int

    def measurements(self) -> dict[str, int]:
        """`{sampled, stragglers, dropped}` for the round record."""
        return {"sampled": self.sampled, "stragglers": self.stragglers, "dropped": self.dropped}


class StragglerSimulator:
    """Decides each round's stragglers and dropouts.

    Args:
        config: The `stragglers:` block.
        epochs: The configured local epochs `E`.
        keep_partial_work: Whether stragglers' partial work is aggregated (used
            when `config.partial_work` is null).
        cohort_size: Clients sampled per round (checked to leave someone training).

    Raises:
        ConfigError: if no client would train in a round.
    """

    def __init__(
        self, config: StragglerConfig, epochs: int, keep_partial_work: bool, cohort_size: int
    ) -> None:
        self.config = config
        self.epochs = int(epochs)
        self.keep_partial_work = (
            keep_partial_work if config.partial_work is None else config.partial_work
        )
        num_dropouts, num_stragglers = self._counts(cohort_size)
        trainers = cohort_size - num_dropouts - (0 if self.keep_partial_work else num_stragglers)
        if trainers < 1:
            raise ConfigError(
                "stragglers",
                f"no client would train: of {cohort_size} sampled a round, {num_dropouts} drop out and "
                f"{num_stragglers} straggle with their partial work dropped (set partial_work: true or lower fraction)",
            )

    def _counts(self, cohort_size: int) -> tuple[int, int]:
        num_dropouts = _count(self.config.dropout, cohort_size)
        num_stragglers = min(_count(self.config.fraction, cohort_size), cohort_size - num_dropouts)
        return num_dropouts, num_stragglers

    def plan(self, client_ids: Sequence[str], round_num: int, seed: int) -> RoundParticipation:
        """The participation of round `round_num`'s sampled `client_ids`."""
        size = len(client_ids)
        num_dropouts, num_stragglers = self._counts(size)
        rng = np.random.default_rng([seed, round_num, 0x57A6])
        order = rng.permutation(size)
        dropouts = set(order[:num_dropouts].tolist())
        stragglers = order[num_dropouts : num_dropouts + num_stragglers].tolist()
        epochs = np.full(size, self.epochs, dtype=np.int64)
        epochs[stragglers] = rng.integers(
            1, max(self.epochs - 1, 1), size=len(stragglers), endpoint=True
        )
        excluded = dropouts if self.keep_partial_work else dropouts | set(stragglers)
        keep = [k for k in range(size) if k not in excluded]
        return RoundParticipation(
            client_ids=[client_ids[k] for k in keep],
            epochs=[int(epochs[k]) for k in keep],
            sampled=size,
            stragglers=len(stragglers),
            dropped=len(excluded),
        )


__all__ = ["RoundParticipation", "StragglerConfig", "StragglerSimulator"]
