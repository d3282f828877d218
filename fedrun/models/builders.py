"""Registered Keras model builders (`model: {type: NAME}`).

Every builder receives its parameters and the data's `ModelInputs` (input shape,
input dtype, number of classes) and returns a Keras 3 model whose
output is class probabilities, as in the TFF tutorials.

* `logreg`: the tutorial's `Dense(10, kernel_initializer='zeros')` + softmax.
* `mlp_2nn`: McMahan et al. 2017's "2NN", two ReLU layers of 200 units.
* `cnn_mcmahan`: McMahan et al. 2017's CNN: conv 5x5x32, pool, conv 5x5x64, pool,
  dense 512, softmax (1,663,370 parameters for 10 classes).
* `cnn_emnist`: Reddi et al. 2021's EMNIST CNN: conv 3x3x32, conv 3x3x64, pool,
  dropout 0.25, dense 128, dropout 0.5, softmax (1,206,590 parameters for 62 classes).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import keras

from fedrun.config.params import bounded
from fedrun.config.registry import Registry


@dataclasses.dataclass(frozen=True)
class ModelInputs:
    """What a model builder needs to know about the data (passed at build time).

    Attributes:
        input_shape: Shape of one example's features (no batch axis).
        input_dtype: Dtype name of the features.
        num_classes: Number of label classes.
    """

    input_shape: tuple[int, ...]
    input_dtype: str
    num_classes: int


MODELS: Registry[keras.Model] = Registry("model")


def _image_input(inputs: ModelInputs) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """An input layer and the features reshaped to `[28, 28, 1]`-style images."""
    x_in = keras.Input(inputs.input_shape, dtype=inputs.input_dtype)
    size = math.prod(inputs.input_shape)
    side = math.isqrt(size)
    if len(inputs.input_shape) == 3:
        return x_in, x_in
    if len(inputs.input_shape) == 2:
        return x_in, keras.layers.Reshape(inputs.input_shape + (1,))(x_in)
    if side * side != size:
        raise ValueError(f"a CNN needs square images; features have shape {inputs.input_shape}")
    return x_in, keras.layers.Reshape((side, side, 1))(x_in)


@dataclasses.dataclass(frozen=True)
class NoParams:
    """A model without parameters."""


@MODELS.register("logreg", NoParams)
def logreg(_: NoParams, inputs: ModelInputs) -> keras.Model:
    """Multinomial logistic regression with zero-initialized weights (the tutorial's model)."""
    x_in = keras.Input(inputs.input_shape, dtype=inputs.input_dtype)
    x = keras.layers.Flatten()(x_in) if len(inputs.input_shape) > 1 else x_in
    x = keras.layers.Dense(inputs.num_classes, kernel_initializer="zeros")(x)
    return keras.Model(x_in, keras.layers.Softmax()(x), name="logreg")


@dataclasses.dataclass(frozen=True)
class MLPParams:
    hidden_units: tuple[int, ...] = (200, 200)

    def __post_init__(self) -> None:
        if not self.hidden_units or any(u <= 0 for u in self.hidden_units):
            raise ValueError(
                f"hidden_units must be positive integers, got {list(self.hidden_units)}"
            )


@MODELS.register("mlp_2nn", MLPParams)
def mlp_2nn(p: MLPParams, inputs: ModelInputs) -> keras.Model:
    """McMahan et al. 2017's 2NN: fully connected ReLU layers (200, 200 by default)."""
    x_in = keras.Input(inputs.input_shape, dtype=inputs.input_dtype)
    x = keras.layers.Flatten()(x_in) if len(inputs.input_shape) > 1 else x_in
    for units in p.hidden_units:
        x = keras.layers.Dense(units, activation="relu")(x)
    x = keras.layers.Dense(inputs.num_classes)(x)
    return keras.Model(x_in, keras.layers.Softmax()(x), name="mlp_2nn")


@MODELS.register("cnn_mcmahan", NoParams)
def cnn_mcmahan(_: NoParams, inputs: ModelInputs) -> keras.Model:
    """McMahan et al. 2017's CNN for MNIST (two 5x5 conv layers, dense 512)."""
    x_in, x = _image_input(inputs)
    x = keras.layers.Conv2D(32, 5, padding="same", activation="relu")(x)
    x = keras.layers.MaxPool2D(2, padding="same")(x)
    x = keras.layers.Conv2D(64, 5, padding="same", activation="relu")(x)
    x = keras.layers.MaxPool2D(2, padding="same")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(512, activation="relu")(x)
    x = keras.layers.Dense(inputs.num_classes)(x)
    return keras.Model(x_in, keras.layers.Softmax()(x), name="cnn_mcmahan")


@dataclasses.dataclass(frozen=True)
class CNNDropoutParams:
    dropout: bool = True
    conv_dropout_rate: float = bounded(0.25, ge=0, lt=1)
    dense_dropout_rate: float = bounded(0.5, ge=0, lt=1)


@MODELS.register("cnn_emnist", CNNDropoutParams)
def cnn_emnist(p: CNNDropoutParams, inputs: ModelInputs) -> keras.Model:
    """Reddi et al. 2021's EMNIST CNN (3x3 conv 32 and 64, pool, dense 128, dropout)."""
    x_in, x = _image_input(inputs)
    x = keras.layers.Conv2D(32, 3, activation="relu")(x)
    x = keras.layers.Conv2D(64, 3, activation="relu")(x)
    x = keras.layers.MaxPool2D(2)(x)
    if p.dropout:
        x = keras.layers.Dropout(p.conv_dropout_rate)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(128, activation="relu")(x)
    if p.dropout:
        x = keras.layers.Dropout(p.dense_dropout_rate)(x)
    x = keras.layers.Dense(inputs.num_classes)(x)
    return keras.Model(x_in, keras.layers.Softmax()(x), name="cnn_emnist")


def parameter_count(model: keras.Model) -> int:
    """Number of trainable scalars."""
    return int(sum(math.prod(v.shape) for v in model.trainable_variables))


__all__: Sequence[str] = ["MODELS", "ModelInputs", "parameter_count"]

# Builders in their own modules register on import; MODELS exists by now.
from fedrun.models import char_rnn  # noqa: E402,F401
