"""TFF's tuning_recommended_aggregators tutorial, cell by cell, with
`import fedrun.compat.tff as tff`: each aggregator the tutorial builds is created
for a small value type and run on generated client values; its "Equivalent to"
`tff.learning` helper gives the same process; and the recommended aggregators
train a small model as `model_aggregator=`."""

import collections
import math

import numpy as np
import pytest
import tensorflow as tf

import fedrun.compat.tff as tff

VALUE_TYPE = tff.TensorType(np.float32, [4])
WEIGHT_TYPE = tff.TensorType(np.float32)
CLIENT_VALUES = [
    [0.1, -0.2, 0.3, 0.0],
    [0.5, 0.5, -0.5, 0.5],
    [30.0, 0.0, 0.0, 0.0],  # an L-infinity norm above the initial zeroing bound, 2 * 10 + 1
]
WEIGHTS = [1.0, 2.0, 3.0]


def run(factory, rounds=1, weighted=True):
    process = factory.create(VALUE_TYPE, WEIGHT_TYPE) if weighted else factory.create(VALUE_TYPE)
    state, outputs = process.initialize(), []
    for _ in range(rounds):
        output = (
            process.next(state, CLIENT_VALUES, WEIGHTS)
            if weighted
            else process.next(state, CLIENT_VALUES)
        )
        state = output.state
        outputs.append(output)
    return process, outputs


def assert_same_process(factory, equivalent, rounds=2):
    process, outputs = run(factory, rounds)
    equivalent_process, equivalent_outputs = run(equivalent, rounds)
    assert str(process.next.type_signature) == str(equivalent_process.next.type_signature)
    for output, other in zip(outputs, equivalent_outputs):
        np.testing.assert_array_equal(output.result, other.result)


def test_hello_world():
    assert tff.federated_computation(lambda: "Hello, World!")() == b"Hello, World!"


def test_median_estimate_is_a_norm_for_the_wrappers():
    median_estimate = tff.aggregators.PrivateQuantileEstimationProcess.no_noise(
        initial_estimate=1.0, target_quantile=0.5, learning_rate=0.2
    )
    clipped = tff.aggregators.clipping_factory(median_estimate, tff.aggregators.MeanFactory())
    _, (output,) = run(clipped)
    assert output.measurements["clipping_norm"] == pytest.approx(1.0)


def test_adaptive_zeroing():
    zeroing_norm = tff.aggregators.PrivateQuantileEstimationProcess.no_noise(
        initial_estimate=10.0,
        target_quantile=0.98,
        learning_rate=math.log(10),
        multiplier=2.0,
        increment=1.0,
    )
    zeroing_mean = tff.aggregators.zeroing_factory(
        zeroing_norm=zeroing_norm, inner_agg_factory=tff.aggregators.MeanFactory()
    )
    _, (output,) = run(zeroing_mean)
    # The third client's value is zeroed; it keeps its weight.
    expected = np.average(np.array(CLIENT_VALUES[:2] + [[0.0] * 4]), axis=0, weights=WEIGHTS)
    np.testing.assert_allclose(output.result, expected, rtol=1e-6)
    assert output.measurements["zeroing_norm"] == pytest.approx(21.0)
    assert output.measurements["zeroed_count"] == 1
    assert_same_process(zeroing_mean, tff.learning.robust_aggregator(clipping=False))


def test_adaptive_clipping():
    clipping_norm = tff.aggregators.PrivateQuantileEstimationProcess.no_noise(
        initial_estimate=1.0, target_quantile=0.8, learning_rate=0.2
    )
    clipping_mean = tff.aggregators.clipping_factory(
        clipping_norm=clipping_norm, inner_agg_factory=tff.aggregators.MeanFactory()
    )
    (_, outputs) = run(clipping_mean, rounds=2)
    values = np.array(CLIENT_VALUES)
    norms = np.linalg.norm(values, axis=1)
    clipped = values * np.minimum(1.0, 1.0 / norms)[:, None]
    np.testing.assert_allclose(
        outputs[0].result, np.average(clipped, axis=0, weights=WEIGHTS), rtol=1e-6
    )
    assert outputs[0].measurements["clipped_count"] == 1
    # Two of three norms are under the estimate: it moves by exp(-0.2 * (2/3 - 0.8)).
    assert outputs[1].measurements["clipping_norm"] == pytest.approx(
        math.exp(-0.2 * (2 / 3 - 0.8)), rel=1e-6
    )
    assert_same_process(clipping_mean, tff.learning.robust_aggregator(zeroing=False))


def test_differential_privacy():
    dp_mean = tff.aggregators.DifferentiallyPrivateFactory.gaussian_adaptive(
        noise_multiplier=0.1, clients_per_round=100
    )
    _, (output,) = run(dp_mean, weighted=False)
    assert output.result.shape == (4,)
    assert_same_process(
        dp_mean,
        tff.learning.dp_aggregator(noise_multiplier=0.1, clients_per_round=100, zeroing=False),
    )


def test_lossy_compression():
    compressed_mean = tff.aggregators.MeanFactory(
        tff.aggregators.EncodedSumFactory.quantize_above_threshold(
            quantization_bits=8, threshold=20000
        )
    )
    _, (output,) = run(compressed_mean)
    # Four elements are under the threshold: summed as they are.
    np.testing.assert_allclose(
        output.result, np.average(CLIENT_VALUES, axis=0, weights=WEIGHTS), rtol=1e-6
    )
    assert_same_process(
        compressed_mean, tff.learning.compression_aggregator(zeroing=False, clipping=False)
    )


def test_quantization_above_the_threshold():
    encoded_sum = tff.aggregators.EncodedSumFactory.quantize_above_threshold(
        quantization_bits=8, threshold=3
    )
    process = encoded_sum.create(VALUE_TYPE)
    values = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    output = process.next(process.initialize(), list(values))
    # Each client's tensor is rounded to one of 256 levels between its min and max.
    steps = (values.max(axis=1) - values.min(axis=1)) / 255
    np.testing.assert_allclose(output.result, values.sum(axis=0), atol=steps.sum() + 1e-5)
    assert not np.allclose(output.result, values.sum(axis=0), atol=1e-6)


def test_secure_aggregation_with_an_adaptive_bound():
    secagg_bound = tff.aggregators.PrivateQuantileEstimationProcess.no_noise(
        initial_estimate=50.0, target_quantile=0.95, learning_rate=1.0, multiplier=2.0
    )
    secure_mean = tff.aggregators.MeanFactory(tff.aggregators.SecureSumFactory(secagg_bound))
    _, outputs = run(secure_mean, rounds=2)
    first = outputs[0].measurements["mean_value"]
    assert (first["secure_upper_threshold"], first["secure_lower_threshold"]) == (100.0, -100.0)
    # The weighted value 3 * 30 is inside [-100, 100]: nothing is clipped.
    assert first["secure_upper_clipped_count"] == 0
    np.testing.assert_allclose(
        outputs[0].result, np.average(CLIENT_VALUES, axis=0, weights=WEIGHTS), atol=1e-5
    )
    # The estimate follows the weighted values' largest absolute values (0.3, 1, 90):
    # two of three are under 50, so it moves by exp(-1.0 * (2/3 - 0.95)).
    second = outputs[1].measurements["mean_value"]
    assert second["secure_upper_threshold"] == pytest.approx(
        2 * 50 * math.exp(-1.0 * (2 / 3 - 0.95)), rel=1e-6
    )


def test_secure_mean_with_bounded_weights():
    max_weight = 10.0
    secagg_bound = tff.aggregators.PrivateQuantileEstimationProcess.no_noise(
        initial_estimate=50.0, target_quantile=0.95, learning_rate=1.0, multiplier=2.0
    )
    secure_mean = tff.aggregators.MeanFactory(
        value_sum_factory=tff.aggregators.SecureSumFactory(secagg_bound),
        weight_sum_factory=tff.aggregators.SecureSumFactory(
            upper_bound_threshold=max_weight, lower_bound_threshold=0.0
        ),
    )
    _, (output,) = run(secure_mean)
    np.testing.assert_allclose(
        output.result, np.average(CLIENT_VALUES, axis=0, weights=WEIGHTS), atol=1e-5
    )


def test_integer_secure_sum():
    secure_sum = tff.aggregators.SecureSumFactory(upper_bound_threshold=100)
    process = secure_sum.create(tff.TensorType(np.int32, [2]))
    output = process.next(process.initialize(), [[1, 200], [-150, 5], [3, 4]])
    np.testing.assert_array_equal(output.result, [1 - 100 + 3, 100 + 5 + 4])
    assert output.result.dtype == np.int32
    assert (
        output.measurements["secure_upper_clipped_count"],
        output.measurements["secure_lower_clipped_count"],
    ) == (1, 1)


def test_composing_zeroing_clipping_and_compression():
    compressed_mean = tff.aggregators.MeanFactory(
        tff.aggregators.EncodedSumFactory.quantize_above_threshold(
            quantization_bits=8, threshold=20000
        )
    )
    clipped_compressed_mean = tff.aggregators.clipping_factory(
        clipping_norm=1.0, inner_agg_factory=compressed_mean
    )
    final_aggregator = tff.aggregators.zeroing_factory(
        zeroing_norm=20.0, inner_agg_factory=clipped_compressed_mean
    )
    _, (output,) = run(final_aggregator)
    values = np.array(CLIENT_VALUES)
    values[2] = 0.0  # zeroed first (L-infinity 30 > 20) ...
    norms = np.maximum(np.linalg.norm(values, axis=1), 1e-12)
    clipped = values * np.minimum(1.0, 1.0 / norms)[:, None]  # ... then clipped
    np.testing.assert_allclose(
        output.result, np.average(clipped, axis=0, weights=WEIGHTS), rtol=1e-6
    )


# ------------------------------------------- as model_aggregator of FedAvg
FEATURES, CLASSES = 4, 2


def client_dataset(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(12, FEATURES)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int32).reshape(-1, 1)
    return tf.data.Dataset.from_tensor_slices(collections.OrderedDict(x=x, y=y)).batch(4)


FEDERATED_DATA = [client_dataset(seed) for seed in range(3)]


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


@pytest.mark.parametrize(
    "aggregator, builder, key",
    [
        (
            tff.learning.robust_aggregator,
            tff.learning.algorithms.build_weighted_fed_avg,
            "zeroed_count",
        ),
        (
            tff.learning.compression_aggregator,
            tff.learning.algorithms.build_weighted_fed_avg,
            "zeroed_count",
        ),
        (
            tff.learning.secure_aggregator,
            tff.learning.algorithms.build_weighted_fed_avg,
            "zeroed_count",
        ),
        (
            lambda: tff.learning.dp_aggregator(noise_multiplier=0.1, clients_per_round=3),
            tff.learning.algorithms.build_unweighted_fed_avg,
            "zeroed_count",
        ),
    ],
    ids=["robust", "compression", "secure", "dp"],
)
def test_recommended_aggregators_train(aggregator, builder, key):
    process = builder(
        model_fn,
        client_optimizer_fn=lambda: tf.keras.optimizers.SGD(learning_rate=0.5),
        model_aggregator=aggregator(),
    )
    state = process.initialize()
    output = process.next(state, FEDERATED_DATA)
    assert output.metrics["aggregator"][key] == 0
    trained = process.get_model_weights(output.state).trainable
    assert np.abs(trained[0]).sum() > 0
