"""Random streams: one per purpose and round, reproducible."""

import numpy as np
import tensorflow as tf

from fedrun.aggregators.seeds import initial_seed, stream_seed


def test_streams_differ_by_purpose_round_and_node():
    seed = initial_seed(0, "secure_sum")
    round_zero = tf.constant(0, tf.int64)
    seeds = [
        stream_seed(seed, round_zero, "masks"),
        stream_seed(seed, round_zero, "rounding"),
        stream_seed(seed, tf.constant(1, tf.int64), "masks"),
        stream_seed(initial_seed(1, "secure_sum"), round_zero, "masks"),
        stream_seed(initial_seed(0, "dp"), round_zero, "masks"),
    ]
    assert len({tuple(s.numpy().tolist()) for s in seeds}) == len(seeds)


def test_streams_are_reproducible():
    first = stream_seed(initial_seed(5, "dp"), tf.constant(3, tf.int64), "noise")
    again = stream_seed(initial_seed(5, "dp"), tf.constant(3, tf.int64), "noise")
    np.testing.assert_array_equal(first.numpy(), again.numpy())
