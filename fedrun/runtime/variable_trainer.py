"""Local training of `VariableModel`s: models that own TensorFlow variables.

A `VariableModel` (TFF's interface; the tutorial's `MnistModel`) keeps its weights
and metric accumulators in variables and updates the metrics as a side effect of
`forward_pass`, so its clients cannot be stacked and trained together the way
`LocalTrainer` trains a `FunctionalModel`. `VariableTrainer` has the same interface
and trains one client at a time: it assigns the global weights to the model's
variables, resets the metrics, and runs one compiled loop over the client's batches
(tape gradients of `forward_pass`'s loss, the algorithm's `LocalRule`, one step of
fedrun's functional optimizer on the variable values, assigned back). Each client
reports `report_local_unfinalized_metrics()`; learning processes sum them over
clients and apply `metric_finalizers()` (TFF's `sum_then_finalize`).

`LocalRule` hooks receive one client's tensors here (no client axis).

`VariableModelFunctions` gives learning processes the facts they read from a model
(initial weights, specs, metric initialization and finalization).
"""

from __future__ import annotations

import collections
from typing import Any, Optional, Union

import tensorflow as tf

from fedrun.data.cohort import CohortData
from fedrun.models.functional import FunctionalModel, ModelWeights
from fedrun.models.variable_model import VariableModel
from fedrun.optimizers import Optimizer
from fedrun.runtime.trainer import ClientOutputs, LocalRule, RoundInputs

Nest = Any
Metrics = collections.OrderedDict  # metric name -> list of tensors


def _example_spec(batch_spec: Any) -> tuple[dict[str, tf.TensorSpec], bool]:
    """The spec of one example from a model's batched `input_spec`.

    Returns the spec as a `{"x", "y"}`-style dict and whether the model takes
    `(x, y)` tuples instead of a mapping.
    """
    if isinstance(batch_spec, collections.abc.Mapping):
        items, is_tuple = list(batch_spec.items()), False
    elif isinstance(batch_spec, (tuple, list)) and len(batch_spec) == 2:
        items, is_tuple = [("x", batch_spec[0]), ("y", batch_spec[1])], True
    else:
        raise TypeError(
            f"a VariableModel's input_spec must be a mapping or an (x, y) pair, got {batch_spec!r}"
        )
    spec = {}
    for key, s in items:
        if not isinstance(s, tf.TensorSpec) or s.shape.rank is None or s.shape.rank < 1:
            raise TypeError(
                f"input_spec[{key!r}] must be a TensorSpec with a leading batch dimension, got {s!r}"
            )
        spec[key] = tf.TensorSpec(s.shape[1:], s.dtype)
    return spec, is_tuple


class VariableModelFunctions:
    """A `VariableModel` seen through the interface learning processes use.

    Args:
        model: The model; its current variable values are the initial weights.

    Attributes:
        variable_model: The wrapped model.
        initial_weights: `ModelWeights` read from the model's variables.
        input_spec: Spec of one example (the model's batched spec without the batch axis).
        metric_names: Names of the model's metrics.
    """

    def __init__(self, model: VariableModel) -> None:
        self.variable_model = model
        self.initial_weights = ModelWeights(
            [tf.convert_to_tensor(v) for v in model.trainable_variables],
            [tf.convert_to_tensor(v) for v in model.non_trainable_variables],
        )
        self.input_spec, self.takes_tuples = _example_spec(model.input_spec)
        model.reset_metrics()
        reported = model.report_local_unfinalized_metrics()
        self._zeros = collections.OrderedDict(
            (name, [tf.zeros_like(t) for t in values]) for name, values in reported.items()
        )
        self._finalizers = model.metric_finalizers()
        self.metric_names = list(self._zeros)

    @property
    def weight_specs(self) -> ModelWeights:
        return tf.nest.map_structure(
            lambda t: tf.TensorSpec(t.shape, t.dtype), self.initial_weights
        )

    def initial_metrics(self) -> Metrics:
        """Zero unfinalized metrics (the layout `report_local_unfinalized_metrics` has)."""
        return collections.OrderedDict((name, list(values)) for name, values in self._zeros.items())

    def finalize_metrics(self, metrics: Metrics) -> collections.OrderedDict[str, Any]:
        """The model's finalizers applied to (summed) unfinalized metrics."""
        return collections.OrderedDict(
            (name, self._finalizers[name](list(metrics[name]))) for name in self.metric_names
        )


LearningModel = Union[FunctionalModel, VariableModelFunctions]


def learning_model(
    model: Union[FunctionalModel, VariableModel, VariableModelFunctions],
) -> LearningModel:
    """The form learning processes take: a `FunctionalModel` as it is, a
    `VariableModel` wrapped in `VariableModelFunctions`."""
    if isinstance(model, VariableModel):
        return VariableModelFunctions(model)
    return model


def _zeros_for_none(
    gradients: list[Optional[tf.Tensor]], variables: list[tf.Variable]
) -> list[tf.Tensor]:
    return [tf.zeros_like(v) if g is None else g for g, v in zip(gradients, variables)]


class VariableTrainer:
    """Trains and evaluates a `VariableModel`, one client after another.

    Args:
        model: The model's `VariableModelFunctions`.
        optimizer: The client optimizer (None for a trainer that only evaluates).
        rule: The algorithm's local rule (its hooks see one client's tensors).
    """

    vectorize = False

    def __init__(
        self, model: VariableModelFunctions, optimizer: Optional[Optimizer], rule: LocalRule
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        self.rule = rule
        self.trace_count = 0
        self._train_client = tf.function(self._train_client_impl, reduce_retracing=True)
        self._evaluate_client = tf.function(self._evaluate_client_impl, reduce_retracing=True)

    # ----------------------------------------------------------------- helpers
    def _assign(self, weights: ModelWeights) -> None:
        vm = self.model.variable_model
        for variable, value in zip(vm.trainable_variables, weights.trainable):
            variable.assign(value)
        for variable, value in zip(vm.non_trainable_variables, weights.non_trainable):
            variable.assign(value)

    def _batch(self, pool: dict[str, tf.Tensor], index: tf.Tensor, mask: tf.Tensor) -> Any:
        rows = tf.boolean_mask(index, mask > 0)
        batch = collections.OrderedDict(
            (key, tf.gather(pool[key], rows)) for key in self.model.input_spec
        )
        return (batch["x"], batch["y"]) if self.model.takes_tuples else batch

    def _values(self) -> list[tf.Tensor]:
        return [tf.identity(v) for v in self.model.variable_model.trainable_variables]

    def _gradients(self, batch: Any) -> list[tf.Tensor]:
        variables = self.model.variable_model.trainable_variables
        with tf.GradientTape() as tape:
            loss = self.model.variable_model.forward_pass(batch, training=True).loss
        return _zeros_for_none(tape.gradient(loss, variables), variables)

    # ----------------------------------------------------------------- training
    def _train_client_impl(
        self, pool: dict[str, tf.Tensor], index: tf.Tensor, mask: tf.Tensor, inputs: RoundInputs
    ) -> ClientOutputs:
        self.trace_count += 1
        vm = self.model.variable_model
        variables = vm.trainable_variables
        initial = self._values()
        counts = tf.reduce_sum(mask, axis=1)
        num_steps_max = tf.shape(index)[0]
        vm.reset_metrics()
        initial_gradient: list[tf.Tensor] = []
        if self.rule.gradient_at_initial:
            grad_sum = [tf.zeros_like(w) for w in initial]
            for s in tf.range(num_steps_max):
                grads = self._gradients(self._batch(pool, index[s], mask[s]))
                grad_sum = [a + g * counts[s] for a, g in zip(grad_sum, grads)]
            total = tf.maximum(tf.reduce_sum(counts), 1.0)
            initial_gradient = [g / total for g in grad_sum]
            if self.rule.local_steps:
                vm.reset_metrics()
        steps = tf.constant(0, tf.int32)
        if self.rule.local_steps:
            opt_state = self.optimizer.initialize(initial)
            opt_state["learning_rate"] = inputs.learning_rate
            for s in tf.range(num_steps_max):
                if counts[s] > 0:
                    grads = self._gradients(self._batch(pool, index[s], mask[s]))
                    weights = self._values()
                    grads = self.rule.adjust_gradients(grads, weights, initial, inputs)
                    opt_state, new_weights = self.optimizer.next(opt_state, weights, grads)
                    for variable, value in zip(variables, new_weights):
                        variable.assign(value)
                    steps += 1
        final = self._values()
        return ClientOutputs(
            update=self.rule.update(initial, final, initial_gradient),
            num_examples=tf.reduce_sum(counts),
            metrics=vm.report_local_unfinalized_metrics(),
            num_steps=steps,
            extra=self.rule.client_outputs(initial, final, initial_gradient, steps, inputs),
        )

    def train(
        self, weights: ModelWeights, cohort: CohortData, inputs: RoundInputs
    ) -> ClientOutputs:
        """Trains each client of the cohort from `weights`; returns stacked outputs."""
        if self.optimizer is None:
            raise ValueError("this VariableTrainer was built for evaluation only (no optimizer)")
        outputs = []
        for k in range(cohort.num_clients):
            self._assign(weights)
            client_inputs = inputs._replace(
                per_client=tf.nest.map_structure(lambda t: t[k], inputs.per_client),
                seeds=inputs.seeds[k],
            )
            outputs.append(
                self._train_client(cohort.pool, cohort.index[k], cohort.mask[k], client_inputs)
            )
        return tf.nest.map_structure(lambda *xs: tf.stack(xs), *outputs)

    # --------------------------------------------------------------- evaluation
    def _evaluate_client_impl(
        self, pool: dict[str, tf.Tensor], index: tf.Tensor, mask: tf.Tensor
    ) -> Metrics:
        vm = self.model.variable_model
        vm.reset_metrics()
        counts = tf.reduce_sum(mask, axis=1)
        for s in tf.range(tf.shape(index)[0]):
            if counts[s] > 0:
                vm.forward_pass(self._batch(pool, index[s], mask[s]), training=False)
        return vm.report_local_unfinalized_metrics()

    def evaluate(self, weights: ModelWeights, cohort: CohortData) -> Metrics:
        """Stacked unfinalized metrics of `weights` on each client's batches."""
        self._assign(weights)
        outputs = [
            self._evaluate_client(cohort.pool, cohort.index[k], cohort.mask[k])
            for k in range(cohort.num_clients)
        ]
        return tf.nest.map_structure(lambda *xs: tf.stack(xs), *outputs)


__all__ = ["LearningModel", "VariableModelFunctions", "VariableTrainer", "learning_model"]
