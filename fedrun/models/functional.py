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
import numpy as np
import tensorflow as tf

from fedrun.config.errors import ConfigError

Nest = Any


class ModelWeights(NamedTuple):
    """Model weights as TFF names them.

    Attributes:
        trainable: List of trainable weight tensors.
        non_trainable: List of non-trainable float weights (batch-norm statistics).
    """

    trainable: list[Any]
    non_trainable: list[Any]

    @classmethod
    def from_model(cls, model: Any) -> "ModelWeights":
        """The current weights of a Keras model, a `FunctionalModel` (its initial
        weights) or a variable model (`trainable_variables`, `non_trainable_variables`)."""
        if isinstance(model, FunctionalModel):
            return model.initial_weights
        if isinstance(model, keras.Model):
            non_trainable = [v for v in model.non_trainable_variables if _is_weight(v)]
            return cls(
                [tf.convert_to_tensor(v.value) for v in model.trainable_variables],
                [tf.convert_to_tensor(v.value) for v in non_trainable],
            )
        if hasattr(model, "trainable_variables") and hasattr(model, "non_trainable_variables"):
            return cls(
                [tf.convert_to_tensor(v) for v in model.trainable_variables],
                [tf.convert_to_tensor(v) for v in model.non_trainable_variables],
            )
        raise TypeError(
            f"ModelWeights.from_model: expected a Keras model or a fedrun model, got a {type(model).__name__}"
        )

    def assign_weights_to(self, keras_model: keras.Model) -> None:
        """Assigns these weights to a Keras model with the same architecture (to
        evaluate or save the global model with Keras)."""
        if not isinstance(keras_model, keras.Model):
            raise TypeError(
                f"assign_weights_to: expected a keras.Model, got a {type(keras_model).__name__}"
            )
        non_trainable = [v for v in keras_model.non_trainable_variables if _is_weight(v)]
        for kind, variables, values in (
            ("trainable", keras_model.trainable_variables, self.trainable),
            ("non_trainable", non_trainable, self.non_trainable),
        ):
            if len(variables) != len(values):
                raise ValueError(
                    f"assign_weights_to: the model has {len(variables)} {kind} weights, these weights {len(values)}"
                )
            for variable, value in zip(variables, values):
                if tuple(variable.shape) != tuple(np.shape(value)):
                    raise ValueError(
                        f"assign_weights_to: {kind} weight {variable.path} has shape {tuple(variable.shape)}, got {tuple(np.shape(value))}"
                    )
                variable.assign(value)


def _is_weight(variable: keras.Variable) -> bool:
    # Keras keeps random-number state (seed generators) among non-trainable
    # variables; it is model state, not a weight to average.
    return tf.as_dtype(variable.dtype).is_floating


def _layers(layer: Any) -> list[Any]:
    nested = getattr(layer, "layers", None) or []
    return [layer] + [inner for child in nested for inner in _layers(child)]


def stateful_layers(keras_model: keras.Model) -> list[str]:
    """Names of the model's stateful RNN layers (`stateful=True`)."""
    return [layer.name for layer in _layers(keras_model) if getattr(layer, "stateful", False)]


def _refuse_stateful_rnns(keras_model: keras.Model) -> None:
    """Stateful RNNs carry state from batch to batch, which fedrun's stateless
    training does not; training them as stateless would silently change the model."""
    for name in stateful_layers(keras_model):
        raise ConfigError(
            "model",
            f"layer {name!r} is a stateful RNN (stateful=True); fedrun trains models whose "
            "batches are independent: build the layer with stateful=False (fedrun's char_rnn model "
            "does), which resets the state at every batch",
        )


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
        if not isinstance(keras_model, keras.Model):
            raise ConfigError(
                "model",
                f"a FunctionalModel wraps a keras.Model, got a {type(keras_model).__name__}",
            )
        _refuse_stateful_rnns(keras_model)
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

    def update_metric(
        self,
        metric: keras.metrics.Metric,
        variables: list[tf.Tensor],
        y: tf.Tensor,
        predictions: tf.Tensor,
        mask: tf.Tensor,
    ) -> list[tf.Tensor]:
        """One metric's variables after a batch, padding (`mask` 0) left out.

        Each example's contribution to the metric's sums is computed on its own
        (a batch of one, no `sample_weight`) and the contributions of real
        examples are added. So any summing metric is masked exactly, including
        those that reshape labels or predictions before weighing them (a
        label-shaped weight would no longer fit).
        """
        zeros = [tf.zeros_like(v) for v in variables]

        def contribution(example: tuple[tf.Tensor, tf.Tensor]) -> list[tf.Tensor]:
            label, prediction = example
            return list(metric.stateless_update_state(zeros, label[None], prediction[None]))

        contributions = tf.vectorized_map(contribution, (y, predictions))
        return [
            v
            + tf.reduce_sum(
                c * tf.reshape(tf.cast(mask, c.dtype), [-1] + [1] * v.shape.rank), axis=0
            )
            for v, c in zip(variables, contributions)
        ]

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
        for metric in self.metrics:
            new[metric.name] = self.update_metric(
                metric, list(metrics[metric.name]), y, predictions, mask
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
