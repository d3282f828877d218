import collections

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
    assert isinstance(model, tff.learning.models.FunctionalModel)
    assert [m.name for m in model.metrics] == ["accuracy"]
    assert model.input_spec["x"].shape.as_list() == [3]


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
