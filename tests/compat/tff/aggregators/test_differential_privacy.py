"""`tff.aggregators.DifferentiallyPrivateFactory.gaussian_fixed` / `gaussian_adaptive`:
clipping, the noise TFF's queries add, the fixed denominator, and the epsilon
fedrun reports."""

import math

import dp_accounting
import numpy as np
import pytest
import tensorflow as tf

import fedrun.compat.tff as tff
from tests.compat.tff.aggregators.processes import run_rounds

DP = tff.aggregators.DifferentiallyPrivateFactory
VALUE_TYPE = tff.TensorType(tf.float32, [2])
CLIENT_VALUES = [[3.0, 4.0], [0.3, 0.4], [0.0, 2.0]]  # L2 norms 5.0, 0.5, 2.0
CLIPPED_SUM = np.array([0.6 + 0.3 + 0.0, 0.8 + 0.4 + 1.0])  # clipped to norm 1.0
NEGLIGIBLE_NOISE = 1e-7


def expected_epsilon(noise_multiplier, sampling_rate, rounds, delta=1e-5):
    accountant = dp_accounting.rdp.RdpAccountant()
    event = dp_accounting.PoissonSampledDpEvent(
        sampling_rate, dp_accounting.GaussianDpEvent(noise_multiplier)
    )
    accountant.compose(event, rounds)
    return accountant.get_epsilon(delta)


# ------------------------------------------------------------------ types
def test_serves_unweighted_and_weighted_aggregation():
    factory = DP.gaussian_fixed(noise_multiplier=1.0, clients_per_round=10, clip=1.0)
    assert isinstance(factory, tff.aggregators.UnweightedAggregationFactory)
    assert isinstance(factory, tff.aggregators.WeightedAggregationFactory)
    assert factory.create(VALUE_TYPE, tff.TensorType(tf.float32)).is_weighted


def test_adaptive_state_and_measurements():
    process = DP.gaussian_adaptive(noise_multiplier=1.0, clients_per_round=100).create(VALUE_TYPE)
    assert str(process.initialize.type_signature) == (
        "( -> <clipping_norm=<estimate=float32>,seed=int64[2],round_num=int64,inner=<>>@SERVER)"
    )
    assert str(process.next.type_signature.result["measurements"]) == (
        "<clipping_norm=float32,noise_stddev=float32,unclipped_fraction=float32,epsilon=float64,dp=<>>@SERVER"
    )


# ---------------------------------------------------------------- numbers
def test_fixed_clip_sum_over_clients_per_round():
    process = DP.gaussian_fixed(
        noise_multiplier=NEGLIGIBLE_NOISE, clients_per_round=4, clip=1.0
    ).create(VALUE_TYPE)
    output = process.next(process.initialize(), CLIENT_VALUES)
    np.testing.assert_allclose(output.result, CLIPPED_SUM / 4, atol=1e-5)
    assert output.measurements["clipping_norm"] == 1.0


def test_noise_stddev_is_multiplier_times_clip():
    dim = 20000
    process = DP.gaussian_fixed(noise_multiplier=0.5, clients_per_round=5, clip=2.0, seed=3).create(
        tff.TensorType(tf.float32, [dim])
    )
    output = process.next(process.initialize(), np.zeros([3, dim], np.float32))
    assert output.measurements["noise_stddev"] == pytest.approx(1.0)
    assert np.std(output.result * 5) == pytest.approx(1.0, rel=0.03)


@pytest.mark.parametrize("sampling_rate", [1.0, 0.01], ids=["default-no-amplification", "sampled"])
def test_epsilon_is_reported_every_round(sampling_rate):
    extra = {} if sampling_rate == 1.0 else {"sampling_rate": sampling_rate}
    process = DP.gaussian_fixed(
        noise_multiplier=1.1, clients_per_round=3, clip=1.0, **extra
    ).create(VALUE_TYPE)
    outputs = run_rounds(process, 3, CLIENT_VALUES)
    epsilons = [o.measurements["epsilon"] for o in outputs]
    for rounds, epsilon in enumerate(epsilons, start=1):
        assert epsilon == pytest.approx(expected_epsilon(1.1, sampling_rate, rounds), rel=1e-6)
    assert epsilons[0] < epsilons[1] < epsilons[2]


def test_adaptive_clip_follows_the_quantile_and_costs_the_total_noise():
    clients_per_round, noise_multiplier = 100, 1.0
    process = DP.gaussian_adaptive(
        noise_multiplier,
        clients_per_round,
        initial_l2_norm_clip=1.0,
        target_unclipped_quantile=0.9,
        learning_rate=0.5,
    ).create(VALUE_TYPE)
    first, second = run_rounds(process, 2, CLIENT_VALUES)
    assert first.measurements["clipping_norm"] == 1.0
    # TFF's split: the sum's noise multiplier rises so that with the count's stddev (m / 20) it costs the total.
    count_stddev = 0.05 * clients_per_round
    sum_multiplier = (noise_multiplier**-2 - (2 * count_stddev) ** -2) ** -0.5
    assert first.measurements["noise_stddev"] == pytest.approx(sum_multiplier * 1.0, rel=1e-6)
    # Few clients are under the clip, far fewer than 90%: the clip grows.
    fraction = first.measurements["unclipped_fraction"]
    assert second.measurements["clipping_norm"] == pytest.approx(
        math.exp(-0.5 * (fraction - 0.9)), rel=1e-5
    )
    assert second.measurements["clipping_norm"] > 1.0


def test_as_value_sum_of_the_mean():
    private_sum = DP.gaussian_fixed(
        noise_multiplier=NEGLIGIBLE_NOISE, clients_per_round=3, clip=1.0
    )
    process = tff.aggregators.MeanFactory(value_sum_factory=private_sum).create(
        VALUE_TYPE, tff.TensorType(tf.float32)
    )
    output = process.next(process.initialize(), CLIENT_VALUES, [1.0, 2.0, 1.0])
    # Weighted values [3, 4], [0.6, 0.8], [0, 2] are clipped to norm 1, summed, divided by 3, then by the weights' sum 4.
    np.testing.assert_allclose(output.result, np.array([1.2, 2.6]) / 3 / 4, atol=1e-5)
    assert output.measurements["mean_value"]["epsilon"] > 0


@pytest.mark.parametrize("build", ["fixed", "adaptive"], ids=["fixed", "adaptive"])
def test_zero_noise_clips_and_divides_by_the_expected_cohort(build):
    # TFF's baseline without privacy: no noise on the sum, nor on the adaptive clip's count.
    factory = (
        DP.gaussian_fixed(0.0, clients_per_round=4, clip=1.0)
        if build == "fixed"
        else DP.gaussian_adaptive(0.0, clients_per_round=4, initial_l2_norm_clip=1.0)
    )
    process = factory.create(VALUE_TYPE)
    output = process.next(process.initialize(), CLIENT_VALUES)
    # [3, 4], [0.3, 0.4], [0, 2] clipped to norm 1 sum to [0.9, 2.2]; over 4 expected clients.
    np.testing.assert_allclose(output.result, np.array([0.9, 2.2]) / 4, rtol=1e-6)
    assert output.measurements["noise_stddev"] == 0.0
    assert output.measurements["epsilon"] == float("inf")
    if build == "adaptive":
        # One of three norms (0.5) is within the clip 1.0. As in TFF, each client counts
        # +-1/2, the sum goes over the 4 expected clients, plus 1/2: (1 - 2) / 2 / 4 + 1/2.
        assert output.measurements["unclipped_fraction"] == pytest.approx(0.375)


# ------------------------------------------------------ what is not honoured
@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: DP(object()), tff.UnsupportedError, "gaussian_fixed / gaussian_adaptive"),
        (lambda: DP.tree_aggregation(1.0, 10, 1.0, []), tff.UnsupportedError, "DP-FTRL"),
        (lambda: DP.gaussian_fixed(-0.5, 10, 1.0), ValueError, "non-negative"),
        (lambda: DP.gaussian_adaptive(-0.5, 10), ValueError, "non-negative"),
        (lambda: DP.gaussian_adaptive(1.0, 10), ValueError, "clipped_count_stddev"),
        (lambda: DP.gaussian_fixed(1.0, 10, 1.0, sampling_rate=0.0), ValueError, "sampling_rate"),
    ],
    ids=[
        "query-constructor",
        "tree-aggregation",
        "negative-noise-fixed",
        "negative-noise-adaptive",
        "count-noise-too-small",
        "sampling-rate",
    ],
)
def test_what_fedrun_cannot_honour(call, error, message):
    with pytest.raises(error, match=message):
        call()
