"""Epsilon of DP-FedAvg rounds against `dp_accounting` called directly."""

import dp_accounting
import pytest

from fedrun.aggregators.privacy import RdpEpsilon

CASES = [(0.01, 1.1, 100, 1e-5), (0.25, 0.5, 5, 1e-5), (1.0, 2.0, 1, 1e-6), (0.1, 0.8, 37, 1e-3)]


@pytest.mark.parametrize(
    "rate, noise, rounds, delta",
    CASES,
    ids=["small-rate", "tutorial-like", "full-batch", "loose-delta"],
)
def test_matches_rdp_accountant(rate, noise, rounds, delta):
    accountant = dp_accounting.rdp.RdpAccountant()
    accountant.compose(
        dp_accounting.PoissonSampledDpEvent(rate, dp_accounting.GaussianDpEvent(noise)), rounds
    )
    assert RdpEpsilon(rate, noise).epsilon(rounds, delta) == pytest.approx(
        accountant.get_epsilon(delta), rel=1e-9
    )


def test_grows_with_rounds_and_starts_at_zero():
    epsilon = RdpEpsilon(0.1, 1.0)
    values = [epsilon.epsilon(t, 1e-5) for t in (0, 1, 10, 100)]
    assert values[0] == 0.0 and values[1] < values[2] < values[3]


@pytest.mark.parametrize(
    "rate, noise",
    [(0.0, 1.0), (1.5, 1.0), (0.1, 0.0)],
    ids=["zero-rate", "rate-above-one", "no-noise"],
)
def test_rejects_meaningless_mechanisms(rate, noise):
    with pytest.raises(ValueError):
        RdpEpsilon(rate, noise)
