"""Choosing each round's cohort (`sampling: {type: ...}`), seeded from the config.

* `fixed`: the first `clients_per_round` clients, every round (as the tutorial).
* `uniform`: a uniformly random cohort per round, without replacement.
* `weighted`: a random cohort per round, without replacement, each draw choosing a
  remaining client with probability proportional to its number of examples
  (FedProx's sampling by `p_k = n_k / n`, kept duplicate-free so each sampled client
  trains once a round).

Every sampler is a pure function of `(seed, round)`: a resumed run samples the same
cohorts as an uninterrupted one.
"""

from __future__ import annotations

import abc
from typing import Callable, Optional, Sequence

import numpy as np

from fedrun.config.errors import ConfigError
from fedrun.config.registry import Registry
from fedrun.data.progress import QUIET, DataProgress


class Sampler(abc.ABC):
    """Picks the clients of a round. A pure function of (seed, round)."""

    @abc.abstractmethod
    def sample(
        self,
        client_ids: Sequence[str],
        count: int,
        round_num: int,
        seed: int,
        sizes: Callable[[str], int],
    ) -> list[str]:
        """The cohort of `round_num` (1-based)."""


class FixedSampler(Sampler):
    """The same first `count` clients every round."""

    def sample(
        self,
        client_ids: Sequence[str],
        count: int,
        round_num: int,
        seed: int,
        sizes: Callable[[str], int],
    ) -> list[str]:
        return list(client_ids[:count])


class UniformSampler(Sampler):
    """`count` clients drawn uniformly without replacement, anew each round."""

    def sample(
        self,
        client_ids: Sequence[str],
        count: int,
        round_num: int,
        seed: int,
        sizes: Callable[[str], int],
    ) -> list[str]:
        rng = np.random.default_rng([seed, round_num, 0x5A3])
        chosen = rng.choice(len(client_ids), size=count, replace=False)
        return [client_ids[i] for i in chosen]


class WeightedSampler(Sampler):
    """`count` distinct clients drawn with probability proportional to their examples.

    The example counts of the population are read once (one `sizes` call per client)
    and kept for later rounds.

    Args:
        progress: Reports the reading of the counts (a million lazily generated or
            file-backed clients take seconds).
    """

    def __init__(self, progress: DataProgress = QUIET) -> None:
        self.progress = progress
        self._population: Optional[Sequence[str]] = None
        self._probabilities: Optional[np.ndarray] = None

    def _probabilities_for(
        self, client_ids: Sequence[str], sizes: Callable[[str], int]
    ) -> np.ndarray:
        if self._probabilities is None or self._population is not client_ids:
            clients = self.progress.track(client_ids, "reading client sizes", "clients")
            counts = np.array([sizes(cid) for cid in clients], dtype=np.float64)
            if counts.sum() <= 0:
                raise ConfigError("sampling", "weighted sampling: every client holds 0 examples")
            self._population, self._probabilities = client_ids, counts / counts.sum()
        return self._probabilities

    def sample(
        self,
        client_ids: Sequence[str],
        count: int,
        round_num: int,
        seed: int,
        sizes: Callable[[str], int],
    ) -> list[str]:
        probabilities = self._probabilities_for(client_ids, sizes)
        nonempty = int(np.count_nonzero(probabilities))
        if count > nonempty:
            raise ConfigError(
                "clients_per_round",
                f"weighted sampling draws distinct clients holding examples, and only {nonempty} hold examples",
                count,
                f"1..{nonempty}",
            )
        rng = np.random.default_rng([seed, round_num, 0x3E1])
        chosen = rng.choice(len(client_ids), size=count, replace=False, p=probabilities)
        return [client_ids[i] for i in chosen]


SAMPLERS: Registry[Sampler] = Registry("sampling")
"""Builders take the run's `progress`; only weighted sampling reads the population up front."""


@SAMPLERS.register("fixed")
def _fixed(progress: DataProgress = QUIET) -> Sampler:
    """The first clients, every round."""
    del progress
    return FixedSampler()


@SAMPLERS.register("uniform")
def _uniform(progress: DataProgress = QUIET) -> Sampler:
    """Uniform without replacement per round."""
    del progress
    return UniformSampler()


@SAMPLERS.register("weighted")
def _weighted(progress: DataProgress = QUIET) -> Sampler:
    """Proportional to example counts, without replacement per round."""
    return WeightedSampler(progress)


__all__ = ["SAMPLERS", "Sampler"]
