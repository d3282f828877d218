"""`char_rnn`: the next-character LSTM of TFF's Shakespeare baseline.

McMahan et al. 2017 (AISTATS), as TFF builds it: an 8-dimensional character
embedding, two LSTM layers of 256 units returning sequences, and a dense layer of
logits over the vocabulary (90 ids for TFF's character set). Sizes are
configurable, so tests and quick runs can use a much smaller network.

The model is a `PaddedSequenceModel`: padding targets (id `pad_id`, 0 in TFF's
vocabulary) count neither in the loss nor in the accuracy. A window's loss is the
mean cross-entropy over its real targets. Padding only ever trails a window, and
the LSTMs read left to right, so predictions at real positions never see padding
and no input mask is needed.

The LSTMs are unrolled over the fixed window length (one cell per position, the
outputs stacked): without TensorFlow's `while_loop` and its tensor lists, XLA can
compile the training step, and `tf.vectorized_map` turns every cell into one
batched cell over the cohort. The weights are those of Keras' default LSTM.
"""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from fedrun.config.params import bounded
from fedrun.models.builders import MODELS, ModelInputs
from fedrun.models.functional import FunctionalModel, Nest


class PaddedSequenceModel(FunctionalModel):
    """A `FunctionalModel` over label sequences whose loss and metrics skip padding.

    Args:
        keras_model: Maps `[batch, length]` ids to `[batch, length, vocab]` logits.
        loss: A per-position Keras loss (reduction is ignored).
        metrics: Keras metrics, weighted by real (non-padding) targets.
        input_spec: Spec of one example `{"x", "y"}`.
        pad_id: The padding id in `y`.
    """

    def __init__(
        self,
        keras_model: keras.Model,
        loss: keras.losses.Loss,
        metrics: list[keras.metrics.Metric],
        input_spec: Nest,
        pad_id: int = 0,
    ) -> None:
        super().__init__(keras_model, loss, metrics, input_spec)
        self.pad_id = pad_id

    def _real(self, y: tf.Tensor) -> tf.Tensor:
        return tf.cast(tf.not_equal(y, self.pad_id), tf.float32)

    def per_example_loss(self, y: tf.Tensor, predictions: tf.Tensor) -> tf.Tensor:
        """Mean loss over each example's real targets, shape `[batch]`."""
        values = self.loss.call(y, predictions)
        real = self._real(y)
        return tf.reduce_sum(values * real, axis=1) / tf.maximum(tf.reduce_sum(real, axis=1), 1.0)

    def update_metric(
        self,
        metric: keras.metrics.Metric,
        variables: list[tf.Tensor],
        y: tf.Tensor,
        predictions: tf.Tensor,
        mask: tf.Tensor,
    ) -> list[tf.Tensor]:
        """Weighs each target by the example mask times 1 for a real target, 0 for padding."""
        weight = tf.reshape(mask, [-1] + [1] * (y.shape.rank - 1)) * self._real(y)
        return list(metric.stateless_update_state(variables, y, predictions, sample_weight=weight))


@dataclasses.dataclass(frozen=True)
class CharRNNParams:
    """Sizes of the char RNN (defaults: TFF's).

    Attributes:
        embedding_dim: Width of the character embedding.
        lstm_units: Units of each LSTM layer, bottom first.
        pad_id: The padding id, ignored by loss and metrics.
    """

    embedding_dim: int = bounded(8, ge=1)
    lstm_units: tuple[int, ...] = (256, 256)
    pad_id: int = bounded(0, ge=0)

    def __post_init__(self) -> None:
        if not self.lstm_units or any(u <= 0 for u in self.lstm_units):
            raise ValueError(f"lstm_units must be positive integers, got {list(self.lstm_units)}")


def char_rnn_keras(p: CharRNNParams, sequence_length: int, vocab_size: int) -> keras.Model:
    """The Keras network: ids `[batch, length]` -> logits `[batch, length, vocab]`."""
    x_in = keras.Input((sequence_length,), dtype="int32")
    x = keras.layers.Embedding(vocab_size, p.embedding_dim)(x_in)
    for units in p.lstm_units:
        x = keras.layers.LSTM(
            units, kernel_initializer="he_normal", return_sequences=True, unroll=True
        )(x)
    return keras.Model(x_in, keras.layers.Dense(vocab_size)(x), name="char_rnn")


@MODELS.register("char_rnn", CharRNNParams)
def char_rnn(p: CharRNNParams, inputs: ModelInputs) -> FunctionalModel:
    """TFF's Shakespeare LSTM (embedding 8, two LSTM 256) predicting every next character."""
    if len(inputs.input_shape) != 1 or not tf.as_dtype(inputs.input_dtype).is_integer:
        raise ValueError(
            f"char_rnn needs integer token sequences [length]; the data gives {inputs.input_dtype} {list(inputs.input_shape)}"
        )
    if p.pad_id >= inputs.num_classes:
        raise ValueError(f"pad_id {p.pad_id} is outside the vocabulary of {inputs.num_classes} ids")
    (length,) = inputs.input_shape
    spec = {"x": tf.TensorSpec([length], tf.int32), "y": tf.TensorSpec([length], tf.int32)}
    return PaddedSequenceModel(
        char_rnn_keras(p, length, inputs.num_classes),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        [keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        spec,
        p.pad_id,
    )
