"""Per-client math on nests of tensors (one client's model update).

These functions are written for ONE client's value; aggregators apply them to a
cohort with `intrinsics.map`, which vectorizes them over the stacked client axis.
Server-side helpers (`unflatten`, `flatten_stacked`) say so in their names.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from fedrun.core.placements import AtClients


def global_norm(value: Any) -> tf.Tensor:
    """The L2 norm of all leaves of one client's value together (float32)."""
    squares = [
        tf.reduce_sum(tf.square(tf.cast(leaf, tf.float32))) for leaf in tf.nest.flatten(value)
    ]
    return tf.sqrt(tf.add_n(squares)) if squares else tf.constant(0.0)


def global_l1_norm(value: Any) -> tf.Tensor:
    """The L1 norm of all leaves of one client's value together (float32)."""
    sums = [tf.reduce_sum(tf.abs(tf.cast(leaf, tf.float32))) for leaf in tf.nest.flatten(value)]
    return tf.add_n(sums) if sums else tf.constant(0.0)


def global_max_norm(value: Any) -> tf.Tensor:
    """The largest absolute value over all leaves of one client's value (float32);
    NaN if any value is NaN, as the other norms are."""
    flat = tf.abs(flatten(value))
    return tf.where(
        tf.reduce_any(tf.math.is_nan(flat)), tf.constant(float("nan")), tf.reduce_max(flat)
    )


def scale(value: Any, factor: tf.Tensor) -> Any:
    """Every leaf times `factor`."""
    return tf.nest.map_structure(lambda leaf: leaf * tf.cast(factor, leaf.dtype), value)


def flatten(value: Any) -> tf.Tensor:
    """One client's value as one float32 vector (leaves in `tf.nest` order)."""
    return tf.concat(
        [tf.reshape(tf.cast(leaf, tf.float32), [-1]) for leaf in tf.nest.flatten(value)], axis=0
    )


def num_elements(spec: Any) -> int:
    """The length of `flatten` for a value of `spec`."""
    return int(sum(int(np.prod(s.shape.as_list(), dtype=np.int64)) for s in tf.nest.flatten(spec)))


def flatten_stacked(stacked: Any, num_clients: int) -> tf.Tensor:
    """A stacked nest (leading client axis) as a `[num_clients, D]` float32 matrix."""
    return tf.concat(
        [
            tf.reshape(tf.cast(leaf, tf.float32), [num_clients, -1])
            for leaf in tf.nest.flatten(stacked)
        ],
        axis=1,
    )


def unflatten(vector: tf.Tensor, spec: Any) -> Any:
    """Inverse of `flatten`: a vector back to a nest of `spec` (shapes and dtypes)."""
    leaves, start = [], 0
    for s in tf.nest.flatten(spec):
        size = int(np.prod(s.shape.as_list(), dtype=np.int64))
        leaves.append(tf.cast(tf.reshape(vector[start : start + size], s.shape), s.dtype))
        start += size
    return tf.nest.pack_sequence_as(spec, leaves)


def check_floating(spec: Any, what: str) -> None:
    """Raises TypeError unless every leaf of `spec` is a floating-point tensor."""
    for s in tf.nest.flatten(spec):
        if not tf.as_dtype(s.dtype).is_floating:
            raise TypeError(
                f"{what} aggregates floating-point values; got a {tf.as_dtype(s.dtype).name} leaf"
            )


def unzip_clients(placed: AtClients) -> tuple[AtClients, ...]:
    """A client value holding a tuple, as a tuple of client values."""
    return tuple(AtClients(member, placed.num_clients, placed.all_equal) for member in placed.value)
