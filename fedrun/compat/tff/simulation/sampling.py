"""TFF's `tff.simulation.build_uniform_sampling_fn`: seeded uniform client sampling.

With an integer seed, round `r` samples with numpy's `RandomState` seeded by the
`r`-th term of a Lehmer (multiplicative congruential) sequence started from the
seed, so every round's sample is reproducible on its own and equals TFF's
(Park & Miller 1988, "Random number generators: good ones are hard to find",
CACM 31(10): modulus 2**31 - 1, multiplier 16807).
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import numpy as np

from fedrun.compat.tff.errors import FacadeTypeError, FacadeValueError

MODULUS = 2**31 - 1
MULTIPLIER = 16807


def build_uniform_sampling_fn(
    sample_range: Sequence[Any], replace: bool = False, random_seed: Optional[int] = None
) -> Callable[[int, int], list[Any]]:
    """A function `(round_num, size) -> size elements of sample_range`, drawn uniformly.

    Args:
        sample_range: The population (client ids, indices).
        replace: Whether to sample with replacement.
        random_seed: An int makes every round's sample reproducible; None draws
            fresh randomness each call.
    """
    if isinstance(sample_range, (str, bytes)) or not hasattr(sample_range, "__len__"):
        raise FacadeTypeError(
            f"build_uniform_sampling_fn: sample_range must be a sequence, got {sample_range!r}"
        )
    if random_seed is not None and (
        isinstance(random_seed, bool) or not isinstance(random_seed, int)
    ):
        raise FacadeTypeError(
            f"build_uniform_sampling_fn: random_seed must be an int or None, got {random_seed!r}"
        )
    start = (
        None if random_seed is None else np.random.RandomState(random_seed).randint(1, MODULUS - 1)
    )

    def sample_fn(round_num: int, size: int) -> list[Any]:
        if start is None:
            state = np.random.RandomState()
        else:
            state = np.random.RandomState(
                pow(MULTIPLIER, int(round_num), MODULUS) * int(start) % MODULUS
            )
        if not replace and size > len(sample_range):
            raise FacadeValueError(
                f"cannot sample {size} clients without replacement from a population of {len(sample_range)}"
            )
        return state.choice(sample_range, size=size, replace=replace).tolist()

    return sample_fn


__all__ = ["build_uniform_sampling_fn"]
