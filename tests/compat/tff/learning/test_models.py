import collections

import numpy as np
import pytest
import tensorflow as tf

import fedrun.compat.tff as tff

SPEC = collections.OrderedDict(
    x=tf.TensorSpec([None, 3], tf.float32), y=tf.TensorSpec([None], tf.int32)
)


def keras_model():
    return tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(2)])


def test_functional_model_from_keras_names_metrics_by_their_keys():
    model = tff.learning.models.functional_model_from_keras(
        keras_model(),
        loss_fn=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        input_spec=SPEC,
        metrics_constructor=collections.OrderedDict(
            accuracy=tf.keras.metrics.SparseCategoricalAccuracy
        ),
    )
    assert isinstance(model.native, tff.learning.models.FunctionalModel)
    assert [m.name for m in model.native.metrics] == ["accuracy"]
    assert model.input_spec is SPEC


def test_functional_model_predicts_and_computes_the_loss_as_tff():
    model = tff.learning.models.functional_model_from_keras(
        keras_model(),
        loss_fn=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        input_spec=SPEC,
    )
    x = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]], np.float32)
    y = np.array([1, 0], np.int32)
    trainable, non_trainable = model.initial_weights
    output = model.predict_on_batch(model_weights=(trainable, ()), x=x, training=False)
    kernel, bias = (np.asarray(t) for t in trainable)
    logits = x @ kernel + bias
    np.testing.assert_allclose(output, logits, rtol=1e-6)
    log_p = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    expected = -np.mean(log_p[np.arange(2), y])
    np.testing.assert_allclose(model.loss(output=output, label=y), expected, rtol=1e-5)


def test_builders_take_a_functional_model_itself():
    model = tff.learning.models.functional_model_from_keras(
        keras_model,
        loss_fn=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        input_spec=SPEC,
    )
    process = tff.learning.algorithms.build_weighted_fed_avg(
        model, client_optimizer_fn=tff.learning.optimizers.build_sgdm(0.1)
    )
    trainable = process.get_model_weights(process.initialize()).trainable
    assert [tuple(t.shape) for t in trainable] == [(3, 2), (2,)]


def test_unprovided_model_names_say_what_to_do():
    with pytest.raises(tff.UnsupportedError, match="save the Keras model"):
        _ = tff.learning.models.save_functional_model
