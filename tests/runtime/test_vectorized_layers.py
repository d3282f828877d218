"""Per-client convolutions as one grouped convolution: values and gradients equal
to a loop over clients, and CNN cohorts (pooling, dropout, dense) trained in one
call equal to `sequential` to 1e-5."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from fedrun.data.client_data import ArrayClientData
from fedrun.data.cohort import build_cohort
from fedrun.data.preprocess import PreprocessConfig
from fedrun.learning.algorithms.fedprox import ProximalRule
from fedrun.models.build import classification_model
from fedrun.models.builders import ModelInputs, NoParams, cnn_mcmahan
from fedrun.models.functional import ModelWeights
from fedrun.optimizers import SGD, Adam
from fedrun.runtime.base import client_seeds
from fedrun.runtime.local import SequentialRuntime, VectorizedRuntime
from fedrun.runtime.trainer import LocalRule, no_inputs
from fedrun.runtime.vectorizable import vectorization_problem
from fedrun.runtime.vectorized_layers import _cpu_grouped, grouped_conv2d
from tests.conftest import make_arrays

SIZES = {"a": 5, "b": 13, "c": 8, "d": 2}
SPEC = {"x": tf.TensorSpec([64], tf.float32), "y": tf.TensorSpec([], tf.int32)}


@pytest.mark.parametrize(
    "form", ["device-choice", "grouped-cpu-gradients"], ids=["device-choice", "grouped"]
)
@pytest.mark.parametrize("padding", ["VALID", "SAME"], ids=["valid", "same"])
@pytest.mark.parametrize("kernel, channels", [(3, 1), (5, 3)], ids=["3x3x1", "5x5x3"])
def test_grouped_convolution_and_gradients_match_a_loop(form, padding, kernel, channels):
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(3, 2, 9, 9, channels)).astype(np.float32))
    f = tf.constant(rng.normal(size=(3, kernel, kernel, channels, 4)).astype(np.float32))
    strides = dilations = [1, 1, 1, 1]
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, f])
        if form == "device-choice":
            got = grouped_conv2d(x, f, strides, padding, dilations, [])
        else:
            got = _cpu_grouped(x, f, padding)
        expected = tf.stack([tf.nn.conv2d(x[k], f[k], 1, padding) for k in range(3)])
        loss_got, loss_expected = tf.reduce_sum(tf.sin(got)), tf.reduce_sum(tf.sin(expected))
    np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-5)
    for a, b in zip(tape.gradient(loss_got, [x, f]), tape.gradient(loss_expected, [x, f])):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-4, rtol=1e-5)


def _keras_cnn() -> keras.Model:
    """A user's CNN of standard layers: SAME and VALID convolutions, max and average
    pooling, dropout after a convolution and after a dense layer."""
    x_in = keras.Input((64,))
    x = keras.layers.Reshape((8, 8, 1))(x_in)
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Conv2D(6, 3, activation="relu")(x)
    x = keras.layers.Dropout(0.25)(x)
    x = keras.layers.AveragePooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(8, activation="relu")(x)
    x = keras.layers.Dropout(0.5)(x)
    return keras.Model(x_in, keras.layers.Dense(3, activation="softmax")(x))


@pytest.fixture(scope="module")
def cnn():
    keras.utils.set_random_seed(4)
    return classification_model(_keras_cnn(), SPEC)


@pytest.fixture(scope="module")
def cohort():
    arrays = make_arrays(sum(SIZES.values()), shape=(64,), seed=7)
    starts = np.cumsum([0] + list(SIZES.values()))
    data = ArrayClientData(
        arrays, {cid: np.arange(starts[i], starts[i + 1]) for i, cid in enumerate(SIZES)}
    )
    config = PreprocessConfig(epochs=2, batch_size=4, shuffle_buffer=100, flatten=False)
    return build_cohort(data, list(SIZES), config, seed=2, round_num=3)


def test_fedrun_cnns_vectorize():
    inputs = ModelInputs((28, 28), "float32", 10)
    spec = {"x": tf.TensorSpec([28, 28], tf.float32), "y": tf.TensorSpec([], tf.int32)}
    assert (
        vectorization_problem(classification_model(cnn_mcmahan(NoParams(), inputs), spec)) is None
    )


def _weights(model):
    rng = np.random.default_rng(1)
    return ModelWeights(
        [
            tf.constant(rng.normal(size=w.shape).astype(np.float32) * 0.3)
            for w in model.initial_weights.trainable
        ],
        [],
    )


def _train(runtime, model, optimizer, rule, cohort):
    trainer = runtime.make_trainer(model, optimizer, rule)
    inputs = no_inputs(
        0.05, cohort.num_clients, client_seeds(0, cohort.round_num, cohort.client_ids)
    )
    return trainer, runtime.train(trainer, _weights(model), cohort, inputs)


@pytest.mark.parametrize(
    "optimizer, rule",
    [
        pytest.param(SGD(0.05), LocalRule(), id="sgd"),
        pytest.param(
            SGD(0.05, momentum=0.9),
            ProximalRule(0.5),
            id="momentum-fedprox",
            marks=pytest.mark.slow,
        ),
        pytest.param(
            Adam(0.01, 0.9, 0.999, 1e-7, 0.0, True), LocalRule(), id="adam", marks=pytest.mark.slow
        ),
    ],
)
def test_cnn_cohort_in_one_call_matches_sequential(cnn, cohort, optimizer, rule):
    _, sequential = _train(SequentialRuntime(), cnn, optimizer, rule, cohort)
    trainer, vectorized = _train(VectorizedRuntime(fallback="error"), cnn, optimizer, rule, cohort)
    assert trainer.vectorize and trainer.lanes == cohort.num_clients
    for a, b in zip(tf.nest.flatten(sequential), tf.nest.flatten(vectorized)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("clients", [list(SIZES), ["b"]], ids=["cohort", "one-client"])
def test_cnn_evaluation_matches_sequential(cnn, cohort, clients):
    # One client: Keras squeezes a convolution's bias with `tf.squeeze`, which must
    # keep the client axis of a cohort of one.
    cohort = cohort.subset([list(SIZES).index(c) for c in clients])
    sequential, vectorized = SequentialRuntime(), VectorizedRuntime(fallback="error")
    expected = sequential.evaluate(
        sequential.make_trainer(cnn, None, LocalRule()), _weights(cnn), cohort
    )
    got = vectorized.evaluate(
        vectorized.make_trainer(cnn, None, LocalRule()), _weights(cnn), cohort
    )
    for a, b in zip(tf.nest.flatten(expected), tf.nest.flatten(got)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5, rtol=1e-5)


@pytest.mark.skipif(
    bool(tf.config.list_physical_devices("GPU")),
    reason="on a GPU CNN cohorts train vectorized by default",
)
def test_cnns_train_one_client_per_call_on_cpu_unless_forced(cnn):
    assert not VectorizedRuntime().make_trainer(cnn, SGD(0.1), LocalRule()).vectorize
    assert VectorizedRuntime(fallback="error").make_trainer(cnn, SGD(0.1), LocalRule()).vectorize
