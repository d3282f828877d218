"""The interface for a model written with raw TensorFlow variables.

This is TFF's `VariableModel` (the tutorial's `MnistModel`): the model owns its
variables, `forward_pass` updates metric variables as a side effect, and the model
reports unfinalized metrics plus finalizers. fedrun trains such models client by
client with the `sequential` runtime; Keras models should use `FunctionalModel`,
which every runtime can vectorize.
"""

from __future__ import annotations

import abc
import collections
from typing import Any, Callable, NamedTuple, Optional

import tensorflow as tf


class BatchOutput(NamedTuple):
    """What `forward_pass` returns for one batch.

    Attributes:
        loss: The scalar loss of the batch (what training differentiates).
        predictions: The model's predictions, if any.
        num_examples: Number of examples in the batch.
    """

    loss: Optional[tf.Tensor] = None
    predictions: Optional[tf.Tensor] = None
    num_examples: Optional[tf.Tensor] = None


class VariableModel(abc.ABC):
    """A model that owns TensorFlow variables (TFF's `tff.learning.models.VariableModel`)."""

    @property
    @abc.abstractmethod
    def trainable_variables(self) -> list[tf.Variable]:
        """Variables local training updates."""

    @property
    @abc.abstractmethod
    def non_trainable_variables(self) -> list[tf.Variable]:
        """Model variables training does not differentiate."""

    @property
    @abc.abstractmethod
    def local_variables(self) -> list[tf.Variable]:
        """Metric accumulators, reset before each client's work."""

    @property
    @abc.abstractmethod
    def input_spec(self) -> Any:
        """Element spec of one batch (`{'x': ..., 'y': ...}`)."""

    @abc.abstractmethod
    def predict_on_batch(self, x: Any, training: bool = True) -> tf.Tensor:
        """Predictions for a batch of features."""

    @abc.abstractmethod
    def forward_pass(self, batch_input: Any, training: bool = True) -> BatchOutput:
        """Loss and predictions of a batch; updates the metric variables."""

    @abc.abstractmethod
    def report_local_unfinalized_metrics(self) -> collections.OrderedDict[str, list[tf.Tensor]]:
        """Metric name -> list of tensors that can be summed over clients."""

    @abc.abstractmethod
    def metric_finalizers(
        self,
    ) -> collections.OrderedDict[str, Callable[[list[tf.Tensor]], tf.Tensor]]:
        """Metric name -> function of the summed unfinalized values."""

    @abc.abstractmethod
    def reset_metrics(self) -> None:
        """Resets the metric variables to zero."""
