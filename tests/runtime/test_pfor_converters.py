"""The vectorization rules fedrun adds: results equal a per-client loop."""

import numpy as np
import pytest
import tensorflow as tf

import fedrun.runtime.pfor_converters  # noqa: F401  (installs the rules)


def _vectorized(fn, signature):
    return tf.function(lambda x: tf.vectorized_map(fn, x), input_signature=[signature])


@pytest.mark.parametrize("clients", [1, 3], ids=["one-client", "three-clients"])
@pytest.mark.parametrize(
    "signature",
    [
        pytest.param(tf.TensorSpec([None, 1, 1, 5]), id="static-client-shape"),
        pytest.param(tf.TensorSpec([None, None, 1, None]), id="dynamic-client-shape"),
    ],
)
def test_squeeze_without_axes_keeps_the_client_axis(clients, signature):
    x = tf.reshape(tf.range(clients * 5, dtype=tf.float32), [clients, 1, 1, 5])
    got = _vectorized(tf.squeeze, signature)(x)
    np.testing.assert_array_equal(got.numpy(), np.stack([np.squeeze(c) for c in x.numpy()]))


@pytest.mark.parametrize("clients", [1, 2], ids=["one-client", "two-clients"])
def test_squeeze_with_axes_squeezes_only_those(clients):
    x = tf.ones([clients, 1, 4, 1])
    got = _vectorized(lambda t: tf.squeeze(t, axis=[0]), tf.TensorSpec([None, 1, 4, 1]))(x)
    assert got.shape == (clients, 4, 1)


def test_squeeze_of_nothing_squeezable_is_the_input():
    x = tf.reshape(tf.range(12, dtype=tf.float32), [1, 3, 4])
    got = _vectorized(tf.squeeze, tf.TensorSpec([None, 3, 4]))(x)
    np.testing.assert_array_equal(got.numpy(), x.numpy())
