"""TFF's aggregators as `model_aggregator=` of the facade's FedAvg builders: each one
changes the training the way it promises, and its measurements reach the round's
metrics under `aggregator`."""

import collections

import dp_accounting
import numpy as np
import pytest
import tensorflow as tf

import fedrun.compat.tff as tff

FEATURES, CLASSES, ROUNDS = 8, 3, 2
CLIENT_SIZES = (10, 15, 20, 25)


def client_dataset(num_examples, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(num_examples, FEATURES)).astype(np.float32)
    y = (np.argmax(x[:, :CLASSES], axis=1)).astype(np.int32).reshape(-1, 1)
    return tf.data.Dataset.from_tensor_slices(collections.OrderedDict(x=x, y=y)).batch(5)


FEDERATED_DATA = [client_dataset(n, seed) for seed, n in enumerate(CLIENT_SIZES)]


def model_fn():
    keras_model = tf.keras.models.Sequential(
        [
            tf.keras.layers.InputLayer(shape=(FEATURES,)),
            tf.keras.layers.Dense(CLASSES, kernel_initializer="zeros"),
            tf.keras.layers.Softmax(),
        ]
    )
    return tff.learning.models.from_keras_model(
        keras_model,
        input_spec=FEDERATED_DATA[0].element_spec,
        loss=tf.keras.losses.SparseCategoricalCrossentropy(),
    )


def train(model_aggregator, builder=tff.learning.algorithms.build_weighted_fed_avg):
    """The global weights before and after each round, and each round's aggregator metrics."""
    process = builder(
        model_fn,
        client_optimizer_fn=lambda: tf.keras.optimizers.SGD(learning_rate=0.5),
        model_aggregator=model_aggregator,
    )
    state = process.initialize()
    weights, measurements = [flat_weights(process, state)], []
    for _ in range(ROUNDS):
        output = process.next(state, FEDERATED_DATA)
        state = output.state
        weights.append(flat_weights(process, state))
        measurements.append(output.metrics["aggregator"])
    return weights, measurements


def flat_weights(process, state):
    return np.concatenate([np.ravel(w) for w in process.get_model_weights(state).trainable])


@pytest.fixture(scope="module")
def plain_mean():
    return train(tff.aggregators.MeanFactory())


def test_clipping_bounds_each_rounds_step():
    clip = 1e-3
    weights, measurements = train(
        tff.aggregators.clipping_factory(clip, tff.aggregators.MeanFactory())
    )
    for before, after, round_measurements in zip(weights, weights[1:], measurements):
        assert round_measurements["clipping_norm"] == pytest.approx(clip)
        assert round_measurements["clipped_count"] == len(CLIENT_SIZES)
        # A weighted mean of updates of norm `clip` moves the model by at most `clip`.
        assert 0 < np.linalg.norm(after - before) <= clip * (1 + 1e-5)


def test_secure_mean_trains_as_the_plain_mean(plain_mean):
    secure_mean = tff.aggregators.MeanFactory(
        value_sum_factory=tff.aggregators.SecureSumFactory(100.0)
    )
    weights, measurements = train(secure_mean)
    np.testing.assert_allclose(weights[-1], plain_mean[0][-1], rtol=0, atol=1e-5)
    for round_measurements in measurements:
        secure = round_measurements["mean_value"]
        assert (secure["secure_upper_clipped_count"], secure["secure_lower_clipped_count"]) == (
            0,
            0,
        )


def test_zeroing_around_adaptive_clipping_nests_measurements(plain_mean):
    clipping_norm = tff.aggregators.PrivateQuantileEstimationProcess.no_noise(
        initial_estimate=100.0, target_quantile=0.5, learning_rate=0.2
    )
    robust = tff.aggregators.zeroing_factory(
        1e-6, tff.aggregators.clipping_factory(clipping_norm, tff.aggregators.MeanFactory())
    )
    weights, measurements = train(robust)
    # Every update is far above 1e-6: all are zeroed and the model does not move.
    np.testing.assert_array_equal(weights[-1], weights[0])
    first, second = measurements
    assert list(first) == ["zeroing_norm", "zeroed_count", "zeroing"]
    assert first["zeroed_count"] == len(CLIENT_SIZES)
    assert list(first["zeroing"]) == ["clipping_norm", "clipped_count", "clipping"]
    # The zeroed (all-zero) values are all under the estimate, which shrinks.
    assert first["zeroing"]["clipping_norm"] == pytest.approx(100.0)
    assert second["zeroing"]["clipping_norm"] == pytest.approx(100.0 * np.exp(-0.2 * 0.5), rel=1e-5)


@pytest.fixture(scope="module")
def private_runs():
    def private():
        return tff.aggregators.DifferentiallyPrivateFactory.gaussian_fixed(
            noise_multiplier=0.8, clients_per_round=4, clip=0.1, sampling_rate=0.1
        )

    return {
        "unweighted": train(private(), tff.learning.algorithms.build_unweighted_fed_avg),
        "weighted": train(private(), tff.learning.algorithms.build_weighted_fed_avg),
    }


def test_private_fed_avg_reports_epsilon(private_runs):
    accountant = dp_accounting.rdp.RdpAccountant()
    for rounds, round_measurements in enumerate(private_runs["unweighted"][1], start=1):
        accountant.compose(
            dp_accounting.PoissonSampledDpEvent(0.1, dp_accounting.GaussianDpEvent(0.8))
        )
        assert round_measurements["epsilon"] == pytest.approx(
            accountant.get_epsilon(1e-5), rel=1e-6
        )
        assert round_measurements["noise_stddev"] == pytest.approx(0.08)


def test_private_weighted_fed_avg_weights_clients_equally(private_runs):
    np.testing.assert_allclose(
        private_runs["weighted"][0][-1], private_runs["unweighted"][0][-1], rtol=1e-6
    )
