"""Seeds of the aggregators' random streams.

Randomness lives in process state as a seed tensor plus a round counter, and every
draw uses `tf.random.stateless_*` with a seed derived from both, so a process is a
pure function of its state (runs resume and repeat exactly). Each purpose (masks,
rounding, noise) folds in its own tag, so streams never coincide.
"""

from __future__ import annotations

import zlib

import tensorflow as tf


def initial_seed(seed: int, kind: str) -> tf.Tensor:
    """The `int64[2]` seed a process keeps in its state: a node seed and its kind."""
    return tf.constant([seed, zlib.crc32(kind.encode())], tf.int64)


def stream_seed(seed: tf.Tensor, round_num: tf.Tensor, purpose: str) -> tf.Tensor:
    """The seed of one purpose's draws in one round."""
    per_round = tf.random.experimental.stateless_fold_in(seed, tf.cast(round_num, tf.int64))
    return tf.random.experimental.stateless_fold_in(
        per_round, tf.constant(zlib.crc32(purpose.encode()), tf.int64)
    )
