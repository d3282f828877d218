"""Choosing each round's cohort (`sampling: {type: ...}`), seeded from the config.

* `fixed`: the first `clients_per_round` clients, every round (as the tutorial).
* `uniform`: a uniformly random cohort per round, without replacement.
"""

from __future__ import annotations

import abc
from typing import Callable, Sequence

import numpy as np

from fedrun.config.registry import Registry


class Sampler(abc.ABC):
    """Picks the clients of a round. A pure function of (seed, round)."""

    @abc.abstractmethod
    def sample(
        self, client_ids: Sequence[str], count: int, round_num: int, seed: int, sizes: Callable[[str], int]
    ) -> list[str]:
        """The cohort of `round_num` (1-based)."""


class FixedSampler(Sampler):
    """The same first `count` clients every round."""

    def sample(self, client_ids: Sequence[str], count: int, round_num: int, seed: int, sizes: Callable[[str], int]) -> list[str]:
        return list(client_ids[:count])


class UniformSampler(Sampler):
    """`count` clients drawn uniformly without replacement, anew each round."""

    def sample(self, client_ids: Sequence[str], count: int, round_num: int, seed: int, sizes: Callable[[str], int]) -> list[str]:
        rng = np.random.default_rng([seed, round_num, 0x5A3])
        chosen = rng.choice(len(client_ids), size=count, replace=False)
        return [client_ids[i] for i in chosen]


SAMPLERS: Registry[Sampler] = Registry("sampling")


@SAMPLERS.register("fixed")
def _fixed() -> Sampler:
    """The first clients, every round."""
    return FixedSampler()


@SAMPLERS.register("uniform")
def _uniform() -> Sampler:
    """Uniform without replacement per round."""
    return UniformSampler()


__all__ = ["SAMPLERS", "Sampler"]
