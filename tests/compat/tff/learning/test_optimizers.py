"""Keras optimizer factories and `tff.learning.optimizers` as fedrun optimizers."""

import pytest
import tensorflow as tf

import fedrun.compat.tff as tff
from fedrun.compat.tff.learning.optimizers import to_fedrun
from fedrun.optimizers import SGD, Adagrad, Adam, Yogi


@pytest.mark.parametrize(
    "spec, kind, fields",
    [
        (
            lambda: tf.keras.optimizers.SGD(learning_rate=0.02),
            SGD,
            {"momentum": 0.0, "nesterov": False},
        ),
        (
            lambda: tf.keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
            SGD,
            {"momentum": 0.9, "nesterov": True},
        ),
        (
            lambda: tf.keras.optimizers.Adam(0.01, beta_2=0.99),
            Adam,
            {"beta_2": 0.99, "bias_correction": True},
        ),
        (
            lambda: tf.keras.optimizers.Adagrad(0.1, initial_accumulator_value=0.5),
            Adagrad,
            {"initial_accumulator_value": 0.5},
        ),
        (tff.learning.optimizers.build_sgdm(0.5, momentum=0.8), SGD, {"momentum": 0.8}),
        (tff.learning.optimizers.build_adam(0.01), Adam, {"epsilon": 1e-7}),
        (tff.learning.optimizers.build_yogi(0.01), Yogi, {"initial_preconditioner_value": 1e-6}),
    ],
    ids=[
        "keras-sgd",
        "keras-momentum",
        "keras-adam",
        "keras-adagrad",
        "tff-sgdm",
        "tff-adam",
        "tff-yogi",
    ],
)
def test_optimizers_map_onto_fedrun(spec, kind, fields):
    optimizer = to_fedrun(spec, "client_optimizer_fn")
    assert type(optimizer) is kind
    for name, value in fields.items():
        assert getattr(optimizer, name) == pytest.approx(value)


def test_keras_learning_rate_is_read():
    assert to_fedrun(
        lambda: tf.keras.optimizers.SGD(learning_rate=0.02), "x"
    ).learning_rate == pytest.approx(0.02)


@pytest.mark.parametrize(
    "spec, pattern",
    [
        (lambda: tf.keras.optimizers.SGD(0.1, clipnorm=1.0), "clipnorm"),
        (lambda: tf.keras.optimizers.Adam(amsgrad=True), "amsgrad"),
        (lambda: tf.keras.optimizers.RMSprop(), "RMSprop has no fedrun counterpart"),
        (
            lambda: tf.keras.optimizers.SGD(
                tf.keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)
            ),
            "schedule",
        ),
    ],
    ids=["clipnorm", "amsgrad", "rmsprop", "schedule"],
)
def test_unsupported_keras_options_are_refused_by_name(spec, pattern):
    with pytest.raises(tff.UnsupportedError, match=pattern):
        to_fedrun(spec, "client_optimizer_fn")


def test_a_factory_must_return_an_optimizer():
    with pytest.raises(TypeError, match="not an optimizer"):
        to_fedrun(lambda: 0.1, "client_optimizer_fn")
