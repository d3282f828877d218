"""Privacy accounting of DP-FedAvg rounds with `dp_accounting`'s RDP accountant.

A round releases the sum of clipped updates with Gaussian noise of stddev
`noise_multiplier * clip`; `t` rounds compose it `t` times. Rényi DP composes
additively over rounds, so the per-round RDP curve is computed once and epsilon
after `t` rounds is converted from `t` times it. What a round is depends on how
its clients were chosen (`sampling`):

* `uniform` (a random cohort of `m` of the `n` clients, without replacement): the
  accountant's Poisson-subsampled Gaussian at rate `q = m / n`,
  `PoissonSampledDpEvent(q, GaussianDpEvent(z))`. This is an approximation of
  fixed-size sampling; `docs/privacy.md` states it and its limits.
* `fixed` (the same cohort every round) and `weighted` (clients drawn by example
  count) are not uniform subsampling, and amplification by sampling does not
  apply. What does hold is the guarantee of full participation (`q = 1`): every
  participating client is in every round's release. That epsilon is reported
  under its own name (`epsilon_full_participation`), never as `epsilon`.

`dp_accounting` logs a warning through absl for every RDP order whose series fails
to converge ("_compute_log_a_frac failed to converge ...") and leaves that order
out of the minimum over orders; that is correct and fedrun keeps those lines off
the console.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from typing import Iterator

import dp_accounting
import numpy as np

SAMPLED_UNIFORMLY = ("uniform",)  # samplers whose cohorts the Poisson accountant approximates


class _ConvergenceNoise(logging.Filter):
    """Drops `dp_accounting`'s per-order convergence warnings (the orders are excluded correctly)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "failed to converge" not in record.getMessage()


@contextlib.contextmanager
def _quiet_accountant() -> Iterator[None]:
    absl_logger, quiet = logging.getLogger("absl"), _ConvergenceNoise()
    absl_logger.addFilter(quiet)
    try:
        yield
    finally:
        absl_logger.removeFilter(quiet)


def accounted_sampling_rate(sampling: str, clients_per_round: int, num_clients: int) -> float:
    """The `q` a sampler's rounds are accounted with: `m / n` for uniform cohorts, else 1."""
    return min(1.0, clients_per_round / num_clients) if sampling in SAMPLED_UNIFORMLY else 1.0


def unaccounted_sampling_warning(sampling: str) -> str:
    """What to tell a user whose `sampling` the subsampled accountant does not cover."""
    what = (
        "reuses the same cohort every round"
        if sampling == "fixed"
        else "does not draw cohorts uniformly at random"
    )
    return (
        f"DP accounting: sampling={sampling} {what}, which privacy amplification by sampling does not cover; "
        "no `epsilon` is reported, only `epsilon_full_participation` (q = 1: every round counted in full "
        "against each participating client). Set sampling=uniform for the subsampled accountant."
    )


class RdpEpsilon:
    """Epsilon of `t` rounds of the (sampled) Gaussian mechanism, for a given delta.

    Args:
        sampling_rate: Probability that a client takes part in a round (1: all
            participating clients take part in every round).
        noise_multiplier: Noise stddev over the L2 sensitivity (the clip norm).
    """

    def __init__(self, sampling_rate: float, noise_multiplier: float) -> None:
        if not 0 < sampling_rate <= 1:
            raise ValueError(f"sampling rate must be in (0, 1], got {sampling_rate}")
        if not noise_multiplier > 0:
            raise ValueError(f"noise multiplier must be positive, got {noise_multiplier}")
        self.sampling_rate = sampling_rate
        self.noise_multiplier = noise_multiplier

    @functools.cached_property
    def _per_round(self) -> tuple[np.ndarray, np.ndarray]:
        accountant = dp_accounting.rdp.RdpAccountant()
        event = dp_accounting.PoissonSampledDpEvent(
            self.sampling_rate, dp_accounting.GaussianDpEvent(self.noise_multiplier)
        )
        with _quiet_accountant():
            accountant.compose(event)
        return accountant.orders, accountant.rdp

    def epsilon(self, rounds: int, delta: float) -> float:
        """The epsilon spent after `rounds` rounds at `delta`."""
        if rounds <= 0:
            return 0.0
        orders, rdp = self._per_round
        with _quiet_accountant():
            return float(dp_accounting.rdp.compute_epsilon(orders, rounds * rdp, delta)[0])
