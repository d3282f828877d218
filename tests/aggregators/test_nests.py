"""Per-client nest helpers."""

import numpy as np
import pytest
import tensorflow as tf

from fedrun.aggregators.nests import (
    check_floating,
    flatten,
    flatten_stacked,
    global_norm,
    num_elements,
    unflatten,
)

SPEC = {
    "w": tf.TensorSpec([2, 3], tf.float32),
    "b": tf.TensorSpec([3], tf.float64),
    "s": tf.TensorSpec([], tf.float32),
}


def test_flatten_round_trip_keeps_shapes_and_dtypes():
    value = {
        "w": tf.reshape(tf.range(6.0), [2, 3]),
        "b": tf.constant([6.0, 7.0, 8.0], tf.float64),
        "s": tf.constant(9.0),
    }
    vector = flatten(value)
    assert vector.shape == (num_elements(SPEC),) == (10,)
    back = unflatten(vector, SPEC)
    assert back["b"].dtype == tf.float64 and back["w"].shape == (2, 3)
    for key in value:
        np.testing.assert_array_equal(back[key].numpy(), value[key].numpy())


def test_flatten_stacked_matches_per_client_flatten():
    stacked = {
        "w": tf.random.normal([4, 2, 3]),
        "b": tf.random.normal([4, 3], dtype=tf.float64),
        "s": tf.random.normal([4]),
    }
    rows = flatten_stacked(stacked, 4).numpy()
    for i in range(4):
        np.testing.assert_allclose(
            rows[i], flatten(tf.nest.map_structure(lambda x: x[i], stacked)).numpy(), rtol=1e-6
        )


def test_global_norm_spans_leaves():
    assert float(global_norm([tf.constant([3.0]), tf.constant([[4.0]])])) == pytest.approx(5.0)


def test_check_floating_refuses_integers():
    with pytest.raises(TypeError, match="int32"):
        check_floating([tf.TensorSpec([2], tf.int32)], "secure_sum")
