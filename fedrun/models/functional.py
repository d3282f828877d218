"""A Keras model as pure functions: the form every fedrun runtime trains.

`FunctionalModel` wraps a Keras 3 model, a loss and Keras metrics into functions of
explicit weights (`stateless_call`), so the same model runs for one client or for a
whole cohort with weights stacked along a client axis.

Metrics follow TFF's `sum_then_finalize`: each client reports *unfinalized* metric
values (sums that can be added across clients), the server sums them over clients
and then applies the finalizers. The unfinalized metrics are, in this order, the
Keras metrics' own variables (by metric name), then
`loss = [sum of per-example losses, number of examples]`,
`num_examples = [count]`, `num_batches = [count]`; finalized, they read
`{<metric names>, loss, num_examples, num_batches}`.
"""

from __future__ import annotations

import collections
from typing import Any, NamedTuple, Sequence

import keras
import tensorflow as tf

Nest = Any


class ModelWeights(NamedTuple):
    """Model weights as TFF names them.

    Attributes:
        trainable: List of trainable weight tensors.
        non_trainable: List of non-trainable float weights (batch-norm statistics).
    """

    trainable: list[Any]
    non_trainable: list[Any]


def _is_weight(variable: keras.Variable) -> bool:
    # Keras keeps random-number state (seed generators) among non-trainable
    # variables; it is model state, not a weight to average.
    return tf.as_dtype(variable.dtype).is_floating


class FunctionalModel:
    """Pure-function view of a Keras model, a loss and metrics.

    Args:
        keras_model: A built Keras 3 model.
        loss: A Keras loss; it is applied per example (reduction is ignored).
        metrics: Keras metric objects whose variables are sums across examples
            (accuracy, mean, precision ...); they define the unfinalized metrics.
        input_spec: Element spec of one batch: `{"x": TensorSpec, "y": TensorSpec}`.
    """

    def __init__(
        self,
        keras_model: keras.Model,
        loss: keras.losses.Loss,
        metrics: Sequence[keras.metrics.Metric],
        input_spec: Nest,
    ) -> None:
        self.keras_model = keras_model
        self.loss = loss
        self.metrics = list(metrics)
        self.input_spec = input_spec
        non_trainable = keras_model.non_trainable_variables
        self._weight_positions = [i for i, v in enumerate(non_trainable) if _is_weight(v)]
        self._state_positions = [i for i, v in enumerate(non_trainable) if not _is_weight(v)]
        self.initial_weights = ModelWeights(
            trainable=[tf.convert_to_tensor(v.value) for v in keras_model.trainable_variables],
            non_trainable=[
                tf.convert_to_tensor(non_trainable[i].value) for i in self._weight_positions
            ],
        )
        self.initial_state = [
            tf.convert_to_tensor(non_trainable[i].value) for i in self._state_positions
        ]
        self.metric_names = [m.name for m in self.metrics] + ["loss", "num_examples", "num_batches"]

    @property
    def weight_specs(self) -> ModelWeights:
        """Specs of one client's weights."""
        return tf.nest.map_structure(
            lambda t: tf.TensorSpec(t.shape, t.dtype), self.initial_weights
        )

    def _merge_non_trainable(self, non_trainable: Sequence[Any], state: Sequence[Any]) -> list[Any]:
        merged: list[Any] = [None] * (len(self._weight_positions) + len(self._state_positions))
        for position, value in zip(self._weight_positions, non_trainable):
            merged[position] = value
        for position, value in zip(self._state_positions, state):
            merged[position] = value
        return merged

    def predict(
        self, weights: ModelWeights, state: Sequence[Any], x: Nest, training: bool
    ) -> tuple[Any, list[Any]]:
        """Forward pass with explicit weights.

        Returns:
            The predictions and the new model state (random-number state advances
            when training uses dropout).
        """
        merged = self._merge_non_trainable(weights.non_trainable, state)
        predictions, new_non_trainable = self.keras_model.stateless_call(
            list(weights.trainable), merged, x, training=training
        )
        return predictions, [new_non_trainable[i] for i in self._state_positions]

    def per_example_loss(self, y: tf.Tensor, predictions: tf.Tensor) -> tf.Tensor:
        """The loss of each example, shape `[batch]` (sequence losses averaged)."""
        values = self.loss.call(y, predictions)
        rank = values.shape.rank
        return tf.reduce_mean(values, axis=list(range(1, rank))) if rank and rank > 1 else values

    def initial_metrics(self) -> collections.OrderedDict[str, list[tf.Tensor]]:
        """Zero unfinalized metrics (see the module docstring for the layout)."""
        metrics: collections.OrderedDict[str, list[tf.Tensor]] = collections.OrderedDict()
        for metric in self.metrics:
            metrics[metric.name] = [tf.zeros(v.shape, v.dtype) for v in metric.variables]
        metrics["loss"] = [tf.constant(0.0), tf.constant(0.0)]
        metrics["num_examples"] = [tf.constant(0, tf.int64)]
        metrics["num_batches"] = [tf.constant(0, tf.int64)]
        return metrics

    def metric_weight(self, y: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
        """Sample weight of the Keras metrics: the example mask, broadcast to `y`'s shape.

        Models whose labels hold padding (sequences) override it to weigh padding 0.
        """
        if y.shape.rank is not None and y.shape.rank > 1:
            return tf.reshape(mask, [-1] + [1] * (y.shape.rank - 1)) * tf.ones_like(y, mask.dtype)
        return mask

    def update_metrics(
        self,
        metrics: collections.OrderedDict[str, list[tf.Tensor]],
        y: tf.Tensor,
        predictions: tf.Tensor,
        losses: tf.Tensor,
        mask: tf.Tensor,
    ) -> collections.OrderedDict[str, list[tf.Tensor]]:
        """Adds one batch (`mask` is 1 for real examples, 0 for padding)."""
        new: collections.OrderedDict[str, list[tf.Tensor]] = collections.OrderedDict()
        weight = self.metric_weight(y, mask)
        for metric in self.metrics:
            new[metric.name] = list(
                metric.stateless_update_state(
                    metrics[metric.name], y, predictions, sample_weight=weight
                )
            )
        count = tf.reduce_sum(mask)
        loss_sum, loss_count = metrics["loss"]
        new["loss"] = [loss_sum + tf.reduce_sum(losses * mask), loss_count + count]
        new["num_examples"] = [metrics["num_examples"][0] + tf.cast(count, tf.int64)]
        new["num_batches"] = [metrics["num_batches"][0] + tf.cast(count > 0, tf.int64)]
        return new

    def finalize_metrics(
        self, metrics: collections.OrderedDict[str, list[Any]]
    ) -> collections.OrderedDict[str, Any]:
        """Finalized values from (summed) unfinalized metrics."""
        final: collections.OrderedDict[str, Any] = collections.OrderedDict()
        for metric in self.metrics:
            final[metric.name] = metric.stateless_result(list(metrics[metric.name]))
        loss_sum, loss_count = metrics["loss"]
        final["loss"] = tf.math.divide_no_nan(loss_sum, loss_count)
        final["num_examples"] = metrics["num_examples"][0]
        final["num_batches"] = metrics["num_batches"][0]
        return final
