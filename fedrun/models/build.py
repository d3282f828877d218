"""Building the configured model (`model: {type: NAME}`) for a data set."""

from __future__ import annotations

from typing import Any, Mapping, Sequence, Union

import keras
import tensorflow as tf

from fedrun.config.errors import ConfigError
from fedrun.config.registry import TARGET_KEY, load_target
from fedrun.data.client_data import FederatedData
from fedrun.models.builders import MODELS, ModelInputs
from fedrun.models.functional import FunctionalModel
from fedrun.models.variable_model import VariableModel


def model_inputs(data: FederatedData) -> ModelInputs:
    """What the model must accept, read from the data's element spec."""
    x = data.train.element_spec["x"]
    return ModelInputs(tuple(x.shape.as_list()), x.dtype.name, data.num_classes)


def input_spec(data: FederatedData) -> dict[str, tf.TensorSpec]:
    """Spec of one example as the model sees it."""
    return dict(data.train.element_spec)


def classification_model(
    keras_model: keras.Model, spec: dict[str, tf.TensorSpec]
) -> FunctionalModel:
    """A classifier with probability outputs: sparse cross-entropy and accuracy."""
    return FunctionalModel(
        keras_model,
        keras.losses.SparseCategoricalCrossentropy(),
        [keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        spec,
    )


def build_model(
    node: Any, path: str, data: FederatedData, seed: int, allowed_targets: Sequence[str] = ()
) -> Union[FunctionalModel, VariableModel]:
    """Builds the model with weights initialized from `seed`.

    A registered builder returns a Keras model (a classifier) or a ready
    `FunctionalModel` (models with their own loss and metrics); a `_target_`
    callable receives `inputs=ModelInputs` plus the node's other keys and may also
    return a `VariableModel` (a model written with raw variables).
    """
    inputs = model_inputs(data)
    keras.utils.set_random_seed(seed)
    if isinstance(node, Mapping) and TARGET_KEY in node:
        if "type" in node:
            raise ConfigError(
                f"{path}.type",
                "give either 'type' (a registered model) or '_target_' (your own), not both",
                node["type"],
            )
        builder = load_target(node[TARGET_KEY], path, allowed_targets)
        kwargs = {k: v for k, v in node.items() if k != TARGET_KEY}
        try:
            built = builder(inputs=inputs, **kwargs)
        except TypeError as err:
            raise ConfigError(path, f"cannot build {node[TARGET_KEY]}: {err}") from None
    else:
        try:
            built = MODELS.build(node, path, inputs=inputs)
        except ValueError as err:
            if isinstance(err, ConfigError):
                raise
            raise ConfigError(path, str(err)) from None
    if isinstance(built, (FunctionalModel, VariableModel)):
        return built
    if isinstance(built, keras.Model):
        return classification_model(built, input_spec(data))
    raise ConfigError(
        path,
        f"a model builder must return a keras.Model, FunctionalModel or VariableModel, got {type(built).__name__}",
    )
