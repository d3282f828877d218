"""Privacy accounting of DP-FedAvg rounds with `dp_accounting`'s RDP accountant.

A round samples each client with probability `q = clients_per_round / num_clients`
and releases the sum of clipped updates with Gaussian noise of stddev
`noise_multiplier * clip`, so it is a `PoissonSampledDpEvent(q,
GaussianDpEvent(noise_multiplier))`; `t` rounds compose it `t` times. Rényi DP
composes additively over rounds, so the per-round RDP curve is computed once and
epsilon after `t` rounds is converted from `t` times it. (fedrun's samplers draw
fixed-size cohorts; Poisson sampling at the same rate is the standard
approximation, and `sampling: fixed` reuses one cohort, which this does not cover.)
"""

from __future__ import annotations

import functools

import dp_accounting
import numpy as np


class RdpEpsilon:
    """Epsilon of `t` rounds of the sampled Gaussian mechanism, for a given delta.

    Args:
        sampling_rate: Probability that a client takes part in a round.
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
        accountant.compose(
            dp_accounting.PoissonSampledDpEvent(
                self.sampling_rate, dp_accounting.GaussianDpEvent(self.noise_multiplier)
            )
        )
        return accountant.orders, accountant.rdp

    def epsilon(self, rounds: int, delta: float) -> float:
        """The epsilon spent after `rounds` rounds at `delta`."""
        if rounds <= 0:
            return 0.0
        orders, rdp = self._per_round
        return float(dp_accounting.rdp.compute_epsilon(orders, rounds * rdp, delta)[0])
