"""DP-FedAvg's Gaussian mechanism: clipping, noise scale, adaptive clip, epsilon."""

import dp_accounting
import numpy as np
import pytest
import tensorflow as tf

from fedrun.aggregators.dp import DPFactory, DPState, sum_noise_multiplier
from fedrun.aggregators.factory import supports_unweighted, supports_weighted
from fedrun.aggregators.norms import AdaptiveNormParams
from fedrun.core.placements import AtClients

DIM = 20000


def rounds(process, values, count, weights=None):
    state, outputs = process.initialize(), []
    for _ in range(count):
        output = process.next(state, values, *([weights] if weights is not None else []))
        state = output.state
        outputs.append(output)
    return outputs


# --- shape and type ---------------------------------------------------------------------


def test_is_weighted_and_unweighted():
    factory = DPFactory(1.0, 10, 1.0, sampling_rate=0.1)
    assert supports_weighted(factory) and supports_unweighted(factory)


def test_adaptive_state_and_measurements():
    process = DPFactory(0.5, 10, AdaptiveNormParams(), sampling_rate=0.1).create(tf.TensorSpec([3]))
    assert isinstance(process.initialize(), DPState)
    assert process.initialize.type_signature.formatted_representation() == (
        "( -> <\n  clipping_norm=<\n    estimate=float32\n  >,\n  seed=int64[2],\n  round_num=int64,\n  inner=<>\n>@SERVER)"
    )
    output = process.next(process.initialize(), AtClients(tf.ones([2, 3]), 2))
    assert list(output.measurements) == [
        "clipping_norm",
        "noise_stddev",
        "unclipped_fraction",
        "epsilon",
        "dp",
    ]


def test_fixed_measurements():
    process = DPFactory(0.5, 10, 1.0, sampling_rate=0.1).create(tf.TensorSpec([3]))
    output = process.next(process.initialize(), AtClients(tf.ones([2, 3]), 2))
    assert list(output.measurements) == ["clipping_norm", "noise_stddev", "epsilon", "dp"]
    assert process.initialize().clipping_norm == ()


# --- numbers --------------------------------------------------------------------------


def test_clipped_sum_over_expected_cohort():
    # Noise negligible: the result is sum(clip(x)) / expected_clients.
    values = AtClients(tf.constant([[3.0, 4.0], [0.3, 0.4]]), 2)
    output = rounds(
        DPFactory(1e-9, 4, 1.0, sampling_rate=0.5).create(tf.TensorSpec([2])), values, 1
    )[0]
    np.testing.assert_allclose(
        output.result.value.numpy(), [(0.6 + 0.3) / 4, (0.8 + 0.4) / 4], atol=1e-6
    )


def test_noise_has_the_mechanism_stddev():
    clip, noise, expected_clients = 2.0, 0.7, 5
    values = AtClients(tf.zeros([3, DIM]), 3)
    output = rounds(
        DPFactory(noise, expected_clients, clip, sampling_rate=0.1, seed=1).create(
            tf.TensorSpec([DIM])
        ),
        values,
        1,
    )[0]
    residual = output.result.value.numpy() * expected_clients  # the noise added to the sum
    assert float(output.measurements["noise_stddev"]) == pytest.approx(noise * clip)
    assert residual.std() == pytest.approx(noise * clip, rel=0.03)
    assert abs(residual.mean()) < 4 * noise * clip / np.sqrt(DIM)


def test_fresh_reproducible_noise():
    values = AtClients(tf.zeros([2, 100]), 2)

    def make(seed):
        return DPFactory(1.0, 2, 1.0, sampling_rate=0.1, seed=seed).create(tf.TensorSpec([100]))

    first, second = rounds(make(0), values, 2)
    again = rounds(make(0), values, 1)[0]
    other_seed = rounds(make(1), values, 1)[0]
    np.testing.assert_array_equal(first.result.value.numpy(), again.result.value.numpy())
    assert not np.allclose(first.result.value.numpy(), second.result.value.numpy())
    assert not np.allclose(first.result.value.numpy(), other_seed.result.value.numpy())


def test_weights_are_ignored():
    values = AtClients(tf.constant([[1.0, 0.0], [0.0, 1.0]]), 2)
    factory = DPFactory(0.3, 2, 1.0, sampling_rate=0.1)
    unweighted = rounds(factory.create(tf.TensorSpec([2])), values, 1)[0]
    weighted = rounds(
        factory.create(tf.TensorSpec([2]), tf.TensorSpec([])),
        values,
        1,
        AtClients(tf.constant([1.0, 9.0]), 2),
    )[0]
    np.testing.assert_array_equal(unweighted.result.value.numpy(), weighted.result.value.numpy())


@pytest.mark.parametrize(
    "noise, count_stddev, expected",
    [(1.0, 1.0, (1 - 0.25) ** -0.5), (0.5, 0.5, (4 - 1) ** -0.5)],
    ids=["one-one", "preset-at-10-clients"],
)
def test_sum_noise_multiplier(noise, count_stddev, expected):
    assert sum_noise_multiplier(noise, count_stddev) == pytest.approx(expected)


def test_sum_noise_multiplier_needs_enough_count_noise():
    with pytest.raises(ValueError, match="noise_multiplier / 2"):
        sum_noise_multiplier(1.0, 0.5)


def test_adaptive_clip_follows_the_quantile():
    # Negligible noise: the estimate moves as the exact geometric update.
    params = AdaptiveNormParams(target_quantile=0.5, learning_rate=0.2, initial_norm=0.1)
    norms = [0.05, 1.0, 2.0, 4.0]
    values = AtClients(tf.constant([[n, 0.0] for n in norms]), 4)
    factory = DPFactory(1e-6, 4, params, sampling_rate=0.5, clipped_count_stddev=1e-6)
    outputs = rounds(factory.create(tf.TensorSpec([2])), values, 3)
    clip, expected = 0.1, []
    for _ in range(3):
        expected.append(clip)
        fraction = sum(n <= clip for n in norms) / 4
        clip *= np.exp(-0.2 * (fraction - 0.5))
    assert [float(o.measurements["clipping_norm"]) for o in outputs] == pytest.approx(
        expected, rel=1e-5
    )
    assert float(outputs[0].measurements["unclipped_fraction"]) == pytest.approx(0.25, abs=1e-4)
    assert float(outputs[0].measurements["noise_stddev"]) == pytest.approx(
        sum_noise_multiplier(1e-6, 1e-6) * 0.1
    )


def test_epsilon_every_round_matches_dp_accounting():
    rate, noise, delta = 10 / 40, 0.5, 1e-5
    factory = DPFactory(noise, 10, 0.5, sampling_rate=rate, delta=delta)
    outputs = rounds(factory.create(tf.TensorSpec([2])), AtClients(tf.ones([10, 2]), 10), 3)
    for round_num, output in enumerate(outputs, start=1):
        accountant = dp_accounting.rdp.RdpAccountant()
        accountant.compose(
            dp_accounting.PoissonSampledDpEvent(rate, dp_accounting.GaussianDpEvent(noise)),
            round_num,
        )
        assert float(output.measurements["epsilon"]) == pytest.approx(
            accountant.get_epsilon(delta), rel=1e-9
        )


# --- which epsilon: the sampling the accountant covers ----------------------------------

DP_NODE = {"type": "dp", "noise_multiplier": 0.5, "norm": 1.0}


def built_process(sampling):
    from fedrun.aggregators.build import AggregatorContext, build_factory

    context = AggregatorContext(
        clients_per_round=10, num_clients=40, rounds=3, seed=0, sampling=sampling
    )
    return build_factory(DP_NODE, "aggregator", (), context).create(tf.TensorSpec([2]))


def full_participation_epsilon(noise, rounds, delta=1e-5):
    accountant = dp_accounting.rdp.RdpAccountant()
    accountant.compose(dp_accounting.GaussianDpEvent(noise), rounds)
    return accountant.get_epsilon(delta)


@pytest.mark.parametrize(
    "sampling", ["fixed", "weighted", "custom"], ids=["fixed", "weighted", "custom"]
)
def test_uncovered_sampling_reports_only_full_participation_and_warns_once(sampling, caplog):
    with caplog.at_level("WARNING", logger="fedrun.aggregators.dp"):
        process = built_process(sampling)
        outputs = rounds(process, AtClients(tf.ones([10, 2]), 10), 2)
    warnings = [r.getMessage() for r in caplog.records if r.name == "fedrun.aggregators.dp"]
    assert (
        len(warnings) == 1
        and f"sampling={sampling}" in warnings[0]
        and "Set sampling=uniform" in warnings[0]
    )
    for round_num, output in enumerate(outputs, start=1):
        assert "epsilon" not in output.measurements
        assert float(output.measurements["epsilon_full_participation"]) == pytest.approx(
            full_participation_epsilon(0.5, round_num), rel=1e-9
        )


def test_uniform_sampling_reports_subsampled_epsilon_without_warning(caplog):
    with caplog.at_level("WARNING", logger="fedrun.aggregators.dp"):
        outputs = rounds(built_process("uniform"), AtClients(tf.ones([10, 2]), 10), 2)
    assert not [r for r in caplog.records if r.name == "fedrun.aggregators.dp"]
    accountant = dp_accounting.rdp.RdpAccountant()
    accountant.compose(
        dp_accounting.PoissonSampledDpEvent(10 / 40, dp_accounting.GaussianDpEvent(0.5)), 2
    )
    assert float(outputs[1].measurements["epsilon"]) == pytest.approx(
        accountant.get_epsilon(1e-5), rel=1e-9
    )
    assert "epsilon_full_participation" not in outputs[1].measurements


# --- without noise ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "norm", [1.0, AdaptiveNormParams(initial_norm=1.0)], ids=["fixed", "adaptive"]
)
def test_zero_noise_multiplier_clips_and_averages_exactly(norm):
    process = DPFactory(0.0, 4, norm, sampling_rate=1.0).create(tf.TensorSpec([2]))
    values = tf.constant([[3.0, 4.0], [0.3, 0.4], [0.0, 2.0]])  # norms 5, 0.5, 2
    output = process.next(process.initialize(), AtClients(values, 3))
    np.testing.assert_allclose(output.result.value, np.array([0.9, 2.2]) / 4, rtol=1e-6)
    assert float(output.measurements["noise_stddev"]) == 0.0
    assert float(output.measurements["epsilon"]) == float("inf")


def test_negative_noise_multiplier_is_refused():
    with pytest.raises(ValueError, match="non-negative, got -1.0"):
        DPFactory(-1.0, 4, 1.0, sampling_rate=1.0)
