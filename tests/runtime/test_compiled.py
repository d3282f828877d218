"""Compiling once: relaxed signatures, step buckets, padding, XLA fallback."""

import numpy as np
import pytest
import tensorflow as tf

from fedrun.runtime.compiled import CompiledFunction, bucket, pad_axis, relaxed


def test_relaxed_leaves_only_the_named_axes_unknown():
    nest = {"a": tf.zeros([3, 4, 5]), "b": [tf.zeros([2], tf.int64)]}
    specs = relaxed(nest, [0, 2])
    assert specs["a"] == tf.TensorSpec([None, 4, None], tf.float32)
    assert specs["b"][0] == tf.TensorSpec([None], tf.int64)
    assert relaxed(tf.constant(1.0)) == tf.TensorSpec([], tf.float32)


@pytest.mark.parametrize(
    "n, expected", [(1, 8), (8, 8), (9, 16), (35, 64), (64, 64)], ids=["1", "8", "9", "35", "64"]
)
def test_bucket_is_a_power_of_two_at_least_eight(n, expected):
    assert bucket(n) == expected


def test_pad_axis_appends_zeros():
    padded = pad_axis(tf.ones([2, 3]), 1, 5)
    np.testing.assert_array_equal(padded.numpy(), [[1, 1, 1, 0, 0], [1, 1, 1, 0, 0]])
    assert pad_axis(tf.ones([2, 3]), 1, 3).shape == (2, 3)


def _count_traces():
    traces = []

    def fn(x):
        traces.append(1)
        return tf.reduce_sum(x, axis=0)

    return traces, fn


def test_one_trace_for_any_size_of_the_relaxed_axes():
    traces, fn = _count_traces()
    compiled = CompiledFunction(fn, lambda x: (relaxed(x, [0]),), jit_compile=False)
    for rows in (2, 5, 9):
        np.testing.assert_allclose(compiled(tf.ones([rows, 3])).numpy(), [rows] * 3)
    assert len(traces) == 1


def test_auto_falls_back_to_a_graph_when_xla_cannot_compile():
    def fn(x):
        # String ops have no XLA kernel.
        return tf.strings.length(tf.strings.as_string(x))

    compiled = CompiledFunction(fn, lambda x: (relaxed(x),), jit_compile=None)
    np.testing.assert_array_equal(compiled(tf.constant([1, 22])).numpy(), [1, 2])
    assert compiled.jit_compile is False


def test_auto_uses_xla_when_it_compiles():
    compiled = CompiledFunction(lambda x: x * 2.0, lambda x: (relaxed(x),), jit_compile=None)
    assert float(compiled(tf.constant(2.0))) == 4.0
    assert compiled.jit_compile is True
