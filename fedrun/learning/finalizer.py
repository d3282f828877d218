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


class OptimizerFinalizer(MeasuredProcess):
    """The server optimizer step `w <- optimizer(w, aggregated update)`.

    An aggregate with a NaN or Inf is not applied (the model and the optimizer
    state stay as they were).

    `next(state, weights: ModelWeights, update: AtServer, round_num: int)` is
    `apply(round_state(state, round_num), weights, update)`: the Python part (the
    learning-rate schedule) is split from the pure-TensorFlow step so that the
    step can run inside a compiled round.

    Args:
        optimizer: The server optimizer.
        weight_specs: Specs of the model weights.
        learning_rate_schedule: Round number (1-based) -> server learning rate.

    State: the optimizer state. Measurements: `{update_non_finite}` (1 if the
    aggregate was not finite, else 0).
    """

    def __init__(
        self,
        optimizer: Optimizer,
        weight_specs: ModelWeights,
        learning_rate_schedule: Optional[LearningRateSchedule] = None,
    ) -> None:
        self.optimizer = optimizer
        self.weight_specs = weight_specs
        self.learning_rate_schedule = learning_rate_schedule
        super().__init__(self._initialize, self._next)

    def _initialize(self) -> Any:
        return self.optimizer.initialize(self.weight_specs.trainable)

    def round_state(self, state: Any, round_num: int) -> Any:
        """`state` with this round's scheduled learning rate (unchanged without a schedule)."""
        if self.learning_rate_schedule is None:
            return state
        rate = tf.constant(self.learning_rate_schedule(round_num), tf.float32)
        return {**state, "learning_rate": rate}

    def apply(self, state: Any, weights: ModelWeights, update: AtServer) -> MeasuredProcessOutput:
        """The optimizer step, kept only if `update` is finite (pure TensorFlow)."""
        finite = all_finite(update.value)
        stepped, trainable = self.optimizer.next(state, list(weights.trainable), list(update.value))

        def keep_if_finite(new: Any, old: Any) -> Any:
            return tf.where(finite, new, old)

        state = tf.nest.map_structure(keep_if_finite, stepped, state)
        kept = [keep_if_finite(new, old) for new, old in zip(trainable, weights.trainable)]
        measurements = collections.OrderedDict(
            update_non_finite=tf.cast(tf.logical_not(finite), tf.int32)
        )
        return MeasuredProcessOutput(
            state, AtServer(ModelWeights(kept, list(weights.non_trainable))), measurements
        )

    def _next(
        self, state: Any, weights: ModelWeights, update: AtServer, round_num: int = 0
    ) -> MeasuredProcessOutput:
        return self.apply(self.round_state(state, round_num), weights, update)


def build_apply_optimizer_finalizer(
    optimizer: Optimizer,
    weight_specs: ModelWeights,
    learning_rate_schedule: Optional[LearningRateSchedule] = None,
) -> OptimizerFinalizer:
    """The server optimizer step as a finalizer (see `OptimizerFinalizer`)."""
    return OptimizerFinalizer(optimizer, weight_specs, learning_rate_schedule)
