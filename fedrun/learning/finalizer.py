"""The finalizer: applies the aggregated update with the server optimizer."""

from __future__ import annotations

import collections
from typing import Any, Callable, Optional

import tensorflow as tf

from fedrun.core.placements import AtServer
from fedrun.core.processes import MeasuredProcess, MeasuredProcessOutput
from fedrun.models.functional import ModelWeights
from fedrun.optimizers import Optimizer

LearningRateSchedule = Callable[[int], float]


def all_finite(nest: Any) -> tf.Tensor:
    """Whether every element of every tensor in `nest` is finite."""
    flags = [tf.reduce_all(tf.math.is_finite(t)) for t in tf.nest.flatten(nest)]
    return tf.reduce_all(tf.stack(flags)) if flags else tf.constant(True)


def build_apply_optimizer_finalizer(
    optimizer: Optimizer,
    weight_specs: ModelWeights,
    learning_rate_schedule: Optional[LearningRateSchedule] = None,
) -> MeasuredProcess:
    """The server optimizer step `w <- optimizer(w, aggregated update)`.

    An aggregate with a NaN or Inf is not applied (the model stays as it was).

    Args:
        optimizer: The server optimizer.
        weight_specs: Specs of the model weights.
        learning_rate_schedule: Round number (1-based) -> server learning rate.

    `next(state, weights: ModelWeights, update: AtServer, round_num: int)`.
    State: the optimizer state. Measurements: `{update_non_finite}` (1 if the
    aggregate was not finite, else 0).
    """

    def initialize() -> Any:
        return optimizer.initialize(weight_specs.trainable)

    def next_fn(
        state: Any, weights: ModelWeights, update: AtServer, round_num: int = 0
    ) -> MeasuredProcessOutput:
        if learning_rate_schedule is not None:
            state = {
                **state,
                "learning_rate": tf.constant(learning_rate_schedule(round_num), tf.float32),
            }
        finite = bool(all_finite(update.value))
        if finite:
            state, trainable = optimizer.next(state, list(weights.trainable), list(update.value))
            weights = ModelWeights(list(trainable), list(weights.non_trainable))
        measurements = collections.OrderedDict(
            update_non_finite=tf.constant(0 if finite else 1, tf.int32)
        )
        return MeasuredProcessOutput(state, AtServer(weights), measurements)

    return MeasuredProcess(initialize, next_fn)
