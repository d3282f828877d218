"""Epsilon of DP-FedAvg rounds against `dp_accounting` called directly."""

import dp_accounting
import pytest

from fedrun.aggregators.privacy import RdpEpsilon, accounted_sampling_rate

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


@pytest.mark.parametrize(
    "sampling, expected",
    [("uniform", 0.25), ("fixed", 1.0), ("weighted", 1.0)],
    ids=["uniform", "fixed", "weighted"],
)
def test_accounted_rate_is_m_over_n_only_for_uniform_cohorts(sampling, expected):
    assert accounted_sampling_rate(sampling, 10, 40) == expected


def test_full_cohort_is_rate_one():
    assert accounted_sampling_rate("uniform", 40, 40) == 1.0


def test_convergence_warnings_stay_off_the_console(caplog):
    with caplog.at_level("WARNING"):
        accountant = (
            dp_accounting.rdp.RdpAccountant()
        )  # the library alone does log them (the control)
        accountant.compose(
            dp_accounting.PoissonSampledDpEvent(0.25, dp_accounting.GaussianDpEvent(0.5))
        )
        assert any("failed to converge" in r.getMessage() for r in caplog.records)
        caplog.clear()
        epsilon = RdpEpsilon(0.25, 0.5).epsilon(2, 1e-5)
    assert epsilon == pytest.approx(11.97, abs=0.01)
    assert not [r for r in caplog.records if "failed to converge" in r.getMessage()]
