"""Which models vectorize over clients, and what the vectorized runtime does otherwise."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from fedrun.config.errors import ConfigError
from fedrun.data.client_data import ArrayClientData
from fedrun.data.cohort import build_cohort
from fedrun.data.preprocess import PreprocessConfig
from fedrun.models.build import classification_model
from fedrun.optimizers import SGD
from fedrun.runtime.local import SequentialRuntime, VectorizedRuntime
from fedrun.runtime.trainer import LocalRule, no_inputs
from fedrun.runtime.vectorizable import (
    has_recurrent_layers,
    vectorization_problem,
    vectorizing_suits,
    xla_suits,
)
from tests.conftest import make_arrays


@pytest.fixture(scope="module")
def conv_model():
    """A 3-D convolution: TensorFlow has no vectorization of a per-client filter."""
    keras.utils.set_random_seed(0)
    x_in = keras.Input((16,))
    x = keras.layers.Reshape((2, 2, 4, 1))(x_in)
    x = keras.layers.Conv3D(2, 2, activation="relu")(x)
    x = keras.layers.Flatten()(x)
    out = keras.layers.Dense(3, activation="softmax")(x)
    spec = {"x": tf.TensorSpec([16], tf.float32), "y": tf.TensorSpec([], tf.int32)}
    return classification_model(keras.Model(x_in, out), spec)


def test_dense_models_vectorize(tiny_model):
    assert vectorization_problem(tiny_model) is None


def test_a_per_client_3d_convolution_does_not(conv_model):
    problem = vectorization_problem(conv_model)
    assert problem is not None and "Conv3D" in problem


def test_vectorized_runtime_refuses_when_asked(conv_model):
    with pytest.raises(ConfigError, match="runtime"):
        VectorizedRuntime(fallback="error").make_trainer(conv_model, SGD(0.1), LocalRule())


def test_vectorized_runtime_falls_back_to_one_client_per_call(conv_model, caplog):
    arrays = make_arrays(12, shape=(16,), seed=2)
    data = ArrayClientData(arrays, {"a": np.arange(5), "b": np.arange(5, 12)})
    cohort = build_cohort(
        data,
        ["a", "b"],
        PreprocessConfig(epochs=1, batch_size=4, flatten=False),
        seed=0,
        round_num=1,
    )
    vectorized = VectorizedRuntime()
    with caplog.at_level("WARNING"):
        trainer = vectorized.make_trainer(conv_model, SGD(0.1), LocalRule())
    assert not trainer.vectorize and "cannot be vectorized" in caplog.text
    sequential = SequentialRuntime()
    expected = sequential.train(
        sequential.make_trainer(conv_model, SGD(0.1), LocalRule()),
        conv_model.initial_weights,
        cohort,
        no_inputs(0.1, 2),
    )
    got = vectorized.train(trainer, conv_model.initial_weights, cohort, no_inputs(0.1, 2))
    for a, b in zip(tf.nest.flatten(expected), tf.nest.flatten(got)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)


def test_xla_is_the_default_only_without_convolutions(tiny_model, conv_model):
    assert xla_suits(tiny_model)
    if not tf.config.list_physical_devices("GPU"):
        assert not xla_suits(conv_model)
        assert (
            SequentialRuntime().make_trainer(conv_model, SGD(0.1), LocalRule())._train.jit_compile
            is False
        )


def _sequence_model(wrap: bool) -> object:
    keras.utils.set_random_seed(0)
    x_in = keras.Input((4, 2))
    recurrent = keras.layers.GRU(3, unroll=True)
    x = keras.layers.Bidirectional(recurrent)(x_in) if wrap else recurrent(x_in)
    out = keras.layers.Dense(3, activation="softmax")(x)
    spec = {"x": tf.TensorSpec([4, 2], tf.float32), "y": tf.TensorSpec([], tf.int32)}
    return classification_model(keras.Model(x_in, out), spec)


@pytest.mark.parametrize("wrap", [False, True], ids=["gru", "bidirectional-gru"])
def test_recurrent_layers_are_found_inside_wrappers(wrap, tiny_model):
    assert has_recurrent_layers(_sequence_model(wrap))
    assert not has_recurrent_layers(tiny_model)


@pytest.mark.skipif(
    bool(tf.config.list_physical_devices("GPU")),
    reason="on a GPU recurrent models train vectorized with XLA",
)
def test_recurrent_models_run_as_graphs_one_client_per_call_on_cpu(tiny_model):
    recurrent = _sequence_model(False)
    assert not xla_suits(recurrent) and not vectorizing_suits(recurrent)
    assert vectorizing_suits(tiny_model)
    assert not VectorizedRuntime().make_trainer(recurrent, SGD(0.1), LocalRule()).vectorize
    assert (
        VectorizedRuntime(fallback="error").make_trainer(recurrent, SGD(0.1), LocalRule()).vectorize
    )
