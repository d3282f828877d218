"""TFF's `tff.learning.models` on fedrun's models.

* `from_keras_model` builds fedrun's `FunctionalModel` (the form every fedrun
  runtime trains, vectorized over a cohort).
* `VariableModel` and `BatchOutput` are fedrun's own (`fedrun.models.variable_model`);
  fedrun trains such models one client at a time (`fedrun.runtime.variable_trainer`).
* `functional_model_from_keras` returns a `KerasFunctionalModel`: TFF's
  functional-model calls (`predict_on_batch`, `loss(output=, label=)`, the batched
  `input_spec`) over fedrun's `FunctionalModel`, which the builders train.
* `ModelWeights` is fedrun's `(trainable, non_trainable)` pair.
"""

from __future__ import annotations

import collections
import inspect
from typing import Any, Callable, Optional, Sequence, Union

import keras
import tensorflow as tf

from fedrun.compat.tff.errors import FacadeTypeError, FacadeValueError
from fedrun.compat.tff.unsupported import LEARNING_MODELS, UnsupportedError, error
from fedrun.models.functional import FunctionalModel, ModelWeights, stateful_layers
from fedrun.models.variable_model import BatchOutput, VariableModel

MetricSpec = Union[keras.metrics.Metric, Callable[[], keras.metrics.Metric]]


def example_spec(batch_spec: Any) -> dict[str, tf.TensorSpec]:
    """fedrun's per-example `{"x", "y"}` spec from TFF's batched `input_spec`.

    TFF describes a batch (`x: float32[?,784]`); fedrun describes one example
    (`x: float32[784]`). An `(x, y)` pair is accepted as well as a mapping.
    """
    if isinstance(batch_spec, collections.abc.Mapping):
        if set(batch_spec) != {"x", "y"}:
            raise FacadeValueError(
                f"input_spec must have exactly the keys 'x' and 'y', got {list(batch_spec)}"
            )
        pairs = [("x", batch_spec["x"]), ("y", batch_spec["y"])]
    elif isinstance(batch_spec, (tuple, list)) and len(batch_spec) == 2:
        pairs = [("x", batch_spec[0]), ("y", batch_spec[1])]
    else:
        raise FacadeValueError(
            f"input_spec must be a mapping with 'x' and 'y' or an (x, y) pair, got {batch_spec!r}"
        )

    def unbatched(s: Any, key: str) -> tf.TensorSpec:
        if not isinstance(s, tf.TensorSpec) or s.shape.rank is None or s.shape.rank < 1:
            raise FacadeValueError(
                f"input_spec[{key!r}] must be a TensorSpec of a batch (leading batch dimension), got {s!r}"
            )
        return tf.TensorSpec(s.shape[1:], s.dtype)

    return collections.OrderedDict((key, unbatched(s, key)) for key, s in pairs)


def _metric(spec: MetricSpec) -> keras.metrics.Metric:
    metric = spec if isinstance(spec, keras.metrics.Metric) else spec()
    if not isinstance(metric, keras.metrics.Metric):
        raise FacadeTypeError(
            f"metrics must be Keras metrics or functions returning one, got {type(metric).__name__}"
        )
    return metric


def from_keras_model(
    keras_model: keras.Model,
    loss: Any,
    input_spec: Any,
    loss_weights: Optional[Sequence[float]] = None,
    metrics: Optional[Sequence[MetricSpec]] = None,
) -> FunctionalModel:
    """A Keras model, its loss and metrics as fedrun's `FunctionalModel`.

    Args:
        keras_model: An uncompiled Keras 3 model with a single output.
        loss: A Keras loss (instance or name); applied per example.
        input_spec: The spec of one batch (`dataset.element_spec`): `{'x', 'y'}` or `(x, y)`.
        loss_weights: Not supported (models with several outputs are not).
        metrics: Keras metrics (or functions returning one); their names are the
            metric names reported.
    """
    if not isinstance(keras_model, keras.Model):
        raise FacadeTypeError(
            f"keras_model must be a keras.Model, got {type(keras_model).__name__}"
        )
    if loss_weights is not None or isinstance(loss, (list, tuple, dict)):
        raise UnsupportedError(
            "from_keras_model: fedrun trains single-output models with one loss (no loss_weights)"
        )
    for name in stateful_layers(keras_model):
        raise UnsupportedError(
            f"from_keras_model: layer {name!r} is a stateful RNN (stateful=True), which fedrun does not "
            "train: its batches are independent. Build the layer with stateful=False; the state then "
            "starts from zeros at every batch instead of at every client"
        )
    return FunctionalModel(
        keras_model,
        keras.losses.get(loss),
        [_metric(m) for m in metrics or ()],
        example_spec(input_spec),
    )


def _named_metric(name: str, spec: MetricSpec) -> keras.metrics.Metric:
    """The metric of `metrics_constructor[name]`, named `name` where its constructor takes a name."""
    if isinstance(spec, keras.metrics.Metric) or not callable(spec):
        return _metric(spec)
    constructor: Callable[..., Any] = spec
    try:
        parameters = list(inspect.signature(constructor).parameters.values())
    except (TypeError, ValueError):
        parameters = []
    takes_name = any(
        p.name == "name" or p.kind == inspect.Parameter.VAR_KEYWORD for p in parameters
    )
    return _metric(constructor(name=name) if takes_name else constructor())


class KerasFunctionalModel:
    """TFF 0.87's `FunctionalModel` calls over fedrun's `FunctionalModel`.

    fedrun's own model names its Keras loss `loss` and describes one example in
    `input_spec`; TFF's calls `loss(output=, label=)` and describes a batch. This
    view gives TFF's; the learning builders train `native`.

    Attributes:
        native: fedrun's `FunctionalModel` (what the builders train).
        input_spec: The batch spec as given (`dataset.element_spec`).
        initial_weights: `(trainable, non_trainable)` initial weights.
    """

    def __init__(self, native: FunctionalModel, input_spec: Any) -> None:
        if not isinstance(native, FunctionalModel):
            raise FacadeTypeError(
                f"KerasFunctionalModel wraps a FunctionalModel, got {type(native).__name__}"
            )
        self.native = native
        self.input_spec = input_spec
        self.initial_weights = native.initial_weights

    def predict_on_batch(self, model_weights: Any, x: Any, training: bool = True) -> Any:
        """The model's output for batch `x` with `model_weights = (trainable, non_trainable)`."""
        if not isinstance(model_weights, (tuple, list)) or len(model_weights) != 2:
            raise FacadeTypeError(
                "predict_on_batch: model_weights must be a (trainable, non_trainable) pair, "
                f"got {type(model_weights).__name__}"
            )
        trainable, non_trainable = model_weights
        weights = ModelWeights(list(trainable), list(non_trainable))
        output, _ = self.native.predict(weights, self.native.initial_state, x, training)
        return output

    def loss(self, output: Any, label: Any, sample_weight: Any = None) -> Any:
        """The Keras loss of `output` against `label`, reduced as the loss object reduces."""
        return self.native.loss(label, output, sample_weight=sample_weight)


def functional_model_from_keras(
    keras_model: Union[keras.Model, Callable[[], keras.Model]],
    loss_fn: Any,
    input_spec: Any,
    metrics_constructor: Optional[Callable[[], Any]] = None,
) -> KerasFunctionalModel:
    """TFF 0.87's `functional_model_from_keras`: TFF's functional-model view of
    the `FunctionalModel` that `from_keras_model` builds, from a Keras model (or a
    function returning one) and `metrics_constructor`, a function returning the
    metrics (a mapping of name to metric, or a list)."""
    model = (
        keras_model
        if isinstance(keras_model, keras.Model) or not callable(keras_model)
        else keras_model()
    )
    metrics: list[Any] = []
    if metrics_constructor is not None:
        built = metrics_constructor() if callable(metrics_constructor) else metrics_constructor
        if isinstance(built, collections.abc.Mapping):
            # The keys name the metrics, as in TFF. fedrun reports the model's
            # mean loss as "loss" itself, so a metric under that key is left out.
            metrics = [_named_metric(name, m) for name, m in built.items() if name != "loss"]
        else:
            metrics = list(built)
    native = from_keras_model(model, loss_fn, input_spec, metrics=metrics)
    return KerasFunctionalModel(native, input_spec)


def __getattr__(name: str) -> object:
    raise error("tff.learning.models", name, LEARNING_MODELS)


__all__ = [
    "BatchOutput",
    "FunctionalModel",
    "KerasFunctionalModel",
    "ModelWeights",
    "VariableModel",
    "example_spec",
    "from_keras_model",
    "functional_model_from_keras",
]
