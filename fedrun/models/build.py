"""Building the configured model (`model: {type: NAME}`) for a data set."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Optional, Sequence, Union

import keras
import tensorflow as tf

from fedrun.config.errors import ConfigError
from fedrun.config.registry import TARGET_KEY, Choice, load_target
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


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A parsed `model` node: a registered option, or a user's `_target_` callable.

    Attributes:
        path: The node's config path.
        choice: The registered option and its parameters (None for a `_target_`).
        target: The user's callable (None for a registered option).
        target_name: The dotted name the `_target_` gave.
        kwargs: The node's other keys, passed to the callable.
    """

    path: str
    choice: Optional[Choice[Any]] = None
    target: Optional[Callable[..., Any]] = None
    target_name: str = ""
    kwargs: tuple[tuple[str, Any], ...] = ()


def parse_model(node: Any, path: str, allowed_targets: Sequence[str] = ()) -> ModelSpec:
    """Checks the `model` node (its `type` and parameters, or an allowed `_target_`)."""
    if isinstance(node, Mapping) and TARGET_KEY in node:
        if "type" in node:
            raise ConfigError(
                f"{path}.type",
                "give either 'type' (a registered model) or '_target_' (your own), not both",
                node["type"],
            )
        target = load_target(node[TARGET_KEY], path, allowed_targets)
        kwargs = tuple((str(k), v) for k, v in node.items() if k != TARGET_KEY)
        return ModelSpec(path, target=target, target_name=str(node[TARGET_KEY]), kwargs=kwargs)
    return ModelSpec(path, choice=MODELS.choose(node, path))


def build_model(
    node: Any, path: str, data: FederatedData, seed: int, allowed_targets: Sequence[str] = ()
) -> Union[FunctionalModel, VariableModel]:
    """`make_model` of the parsed `node`."""
    return make_model(parse_model(node, path, allowed_targets), data, seed)


def make_model(
    spec: ModelSpec, data: FederatedData, seed: int
) -> Union[FunctionalModel, VariableModel]:
    """Builds the model with weights initialized from `seed`.

    A registered builder returns a Keras model (a classifier) or a ready
    `FunctionalModel` (models with their own loss and metrics); a `_target_`
    callable receives `inputs=ModelInputs` plus the node's other keys and may also
    return a `VariableModel` (a model written with raw variables).
    """
    inputs = model_inputs(data)
    keras.utils.set_random_seed(seed)
    path = spec.path
    if spec.target is not None:
        try:
            built = spec.target(inputs=inputs, **dict(spec.kwargs))
        except TypeError as err:
            raise ConfigError(path, f"cannot build {spec.target_name}: {err}") from None
    else:
        assert spec.choice is not None  # parse_model sets one of the two
        try:
            built = spec.choice.build(inputs=inputs)
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
