"""The functional model: pure prediction and TFF's sum-then-finalize metrics."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from fedrun.config.errors import ConfigError
from fedrun.models.functional import FunctionalModel, ModelWeights
from tests.conftest import make_arrays


def test_predict_is_a_pure_function_of_weights(tiny_model):
    x = tf.constant(make_arrays(4)["x"])
    weights = tiny_model.initial_weights
    shifted = type(weights)(
        [w + tf.random.stateless_normal(w.shape, [1, 2]) for w in weights.trainable], []
    )
    p0, _ = tiny_model.predict(weights, tiny_model.initial_state, x, training=False)
    p1, _ = tiny_model.predict(shifted, tiny_model.initial_state, x, training=False)
    assert p0.shape == (4, 3) and not np.allclose(p0.numpy(), p1.numpy())
    np.testing.assert_allclose(p0.numpy(), 1 / 3, rtol=1e-6)


def test_masked_examples_do_not_count(tiny_model):
    y = tf.constant([0, 1, 2, 0])
    predictions = tf.constant(
        [[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.6, 0.2, 0.2], [0.2, 0.7, 0.1]]
    )
    mask = tf.constant([1.0, 1.0, 1.0, 0.0])
    losses = tiny_model.per_example_loss(y, predictions) * mask
    metrics = tiny_model.update_metrics(tiny_model.initial_metrics(), y, predictions, losses, mask)
    final = tiny_model.finalize_metrics(metrics)
    assert list(final) == ["accuracy", "loss", "num_examples", "num_batches"]
    assert int(final["num_examples"]) == 3 and int(final["num_batches"]) == 1
    assert float(final["accuracy"]) == np.float32(2 / 3)
    expected_loss = -np.mean(np.log([0.9, 0.8, 0.2]))
    np.testing.assert_allclose(float(final["loss"]), expected_loss, rtol=1e-5)


def test_metrics_sum_across_clients_then_finalize(tiny_model):
    y = tf.constant([0, 1])
    predictions = tf.constant([[0.9, 0.05, 0.05], [0.9, 0.05, 0.05]])
    ones = tf.ones([2])
    a = tiny_model.update_metrics(
        tiny_model.initial_metrics(),
        y,
        predictions,
        tiny_model.per_example_loss(y, predictions),
        ones,
    )
    b = tiny_model.update_metrics(
        tiny_model.initial_metrics(),
        y[:1],
        predictions[:1],
        tiny_model.per_example_loss(y[:1], predictions[:1]),
        ones[:1],
    )
    summed = tf.nest.map_structure(tf.add, a, b)
    final = tiny_model.finalize_metrics(summed)
    assert int(final["num_examples"]) == 3 and float(final["accuracy"]) == np.float32(2 / 3)


def test_model_weights_from_a_keras_model_and_back():
    keras_model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(2), keras.layers.BatchNormalization()]
    )
    weights = ModelWeights.from_model(keras_model)
    assert [tuple(t.shape) for t in weights.trainable] == [(3, 2), (2,), (2,), (2,)]
    assert [tuple(t.shape) for t in weights.non_trainable] == [(2,), (2,)]
    shifted = ModelWeights(
        [t + 1.0 for t in weights.trainable], [t + 2.0 for t in weights.non_trainable]
    )
    shifted.assign_weights_to(keras_model)
    np.testing.assert_array_equal(
        keras_model.trainable_variables[0].numpy(), weights.trainable[0].numpy() + 1.0
    )
    np.testing.assert_array_equal(
        keras_model.non_trainable_variables[1].numpy(), weights.non_trainable[1].numpy() + 2.0
    )
    with pytest.raises(ValueError, match="the model has 4 trainable weights, these weights 1"):
        ModelWeights(shifted.trainable[:1], shifted.non_trainable).assign_weights_to(keras_model)
    with pytest.raises(TypeError, match="expected a Keras model or a fedrun model"):
        ModelWeights.from_model("not a model")


def test_stateful_rnns_are_refused_before_training():
    keras_model = keras.Sequential(
        [
            keras.Input((5,), batch_size=8),
            keras.layers.Embedding(10, 4),
            keras.layers.GRU(3, stateful=True, name="gru"),
        ]
    )
    loss = keras.losses.SparseCategoricalCrossentropy()
    spec = {"x": tf.TensorSpec([5], tf.int32), "y": tf.TensorSpec([], tf.int32)}
    with pytest.raises(ConfigError, match="model: layer .gru. is a stateful RNN"):
        FunctionalModel(keras_model, loss, [], spec)


class _FlattenedAccuracy(keras.metrics.SparseCategoricalAccuracy):
    """Reshapes labels and predictions before weighing them, as TFF's
    text-generation tutorial's metric does."""

    def update_state(self, y_true, y_pred, sample_weight=None):
        return super().update_state(
            tf.reshape(y_true, [-1, 1]), tf.reshape(y_pred, [-1, 3]), sample_weight
        )


@pytest.mark.parametrize(
    "metric",
    [_FlattenedAccuracy(name="flat"), keras.metrics.SparseCategoricalAccuracy(name="plain")],
    ids=["reshaping-metric", "plain-metric"],
)
def test_metrics_leave_padding_out(metric):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Embedding(5, 3)])
    functional = FunctionalModel(
        model,
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        [metric],
        {"x": tf.TensorSpec([4], tf.int32), "y": tf.TensorSpec([4], tf.int32)},
    )
    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, (6, 4)).astype(np.int32)
    y = rng.integers(0, 3, (6, 4)).astype(np.int32)
    mask = tf.constant([1.0, 1.0, 1.0, 1.0, 0.0, 0.0])
    predictions = model(x)
    losses = functional.per_example_loss(y, predictions)
    metrics = functional.update_metrics(functional.initial_metrics(), y, predictions, losses, mask)
    result = functional.finalize_metrics(metrics)[metric.name]
    by_hand = np.mean(np.argmax(predictions.numpy()[:4], axis=-1) == y[:4])
    np.testing.assert_allclose(result, by_hand, rtol=1e-6)
