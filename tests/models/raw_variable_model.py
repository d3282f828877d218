"""A model written with raw TensorFlow variables, as a user would (the tutorial's
`MnistModel` shape), built from YAML through `_target_`."""

from __future__ import annotations

import collections

import tensorflow as tf

from fedrun.models.builders import ModelInputs
from fedrun.models.variable_model import BatchOutput, VariableModel


class SoftmaxRegression(VariableModel):
    """Softmax regression with its own loss and metric accumulators."""

    def __init__(self, num_features: int, num_classes: int) -> None:
        self._weights = tf.Variable(tf.zeros([num_features, num_classes]), name="weights")
        self._bias = tf.Variable(tf.zeros([num_classes]), name="bias")
        self._num_examples = tf.Variable(0.0, trainable=False)
        self._loss_sum = tf.Variable(0.0, trainable=False)
        self._accuracy_sum = tf.Variable(0.0, trainable=False)
        self._num_features, self._num_classes = num_features, num_classes

    @property
    def trainable_variables(self):
        return [self._weights, self._bias]

    @property
    def non_trainable_variables(self):
        return []

    @property
    def local_variables(self):
        return [self._num_examples, self._loss_sum, self._accuracy_sum]

    @property
    def input_spec(self):
        return collections.OrderedDict(
            x=tf.TensorSpec([None, self._num_features], tf.float32),
            y=tf.TensorSpec([None], tf.int32),
        )

    def predict_on_batch(self, x, training=True):
        return tf.nn.softmax(tf.matmul(x, self._weights) + self._bias)

    def forward_pass(self, batch_input, training=True):
        probabilities = self.predict_on_batch(batch_input["x"])
        labels = tf.reshape(batch_input["y"], [-1])
        predictions = tf.cast(tf.argmax(probabilities, 1), tf.int32)
        loss = -tf.reduce_mean(
            tf.reduce_sum(
                tf.one_hot(labels, self._num_classes) * tf.math.log(probabilities), axis=1
            )
        )
        accuracy = tf.reduce_mean(tf.cast(tf.equal(predictions, labels), tf.float32))
        count = tf.cast(tf.size(labels), tf.float32)
        self._num_examples.assign_add(count)
        self._loss_sum.assign_add(loss * count)
        self._accuracy_sum.assign_add(accuracy * count)
        return BatchOutput(loss=loss, predictions=predictions, num_examples=tf.size(labels))

    def report_local_unfinalized_metrics(self):
        return collections.OrderedDict(
            num_examples=[self._num_examples],
            loss=[self._loss_sum, self._num_examples],
            accuracy=[self._accuracy_sum, self._num_examples],
        )

    def metric_finalizers(self):
        return collections.OrderedDict(
            num_examples=lambda x: x[0], loss=lambda x: x[0] / x[1], accuracy=lambda x: x[0] / x[1]
        )

    def reset_metrics(self):
        for variable in self.local_variables:
            variable.assign(tf.zeros_like(variable))


def build(inputs: ModelInputs) -> SoftmaxRegression:
    """The `_target_` a config names: builds the model for the data's shapes."""
    return SoftmaxRegression(int(inputs.input_shape[0]), inputs.num_classes)
