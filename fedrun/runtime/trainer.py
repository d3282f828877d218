"""Local training of a cohort of clients in one compiled TensorFlow function.

`LocalTrainer` is the hot loop of every algorithm. One `tf.function`, traced once per
run, takes the global weights and a `CohortData` (a pool of examples and, per client,
the batch schedule as indices plus a padding mask) and returns every client's update,
update weight and unfinalized metrics, stacked along a client axis.

It runs in two modes that share this code:

* `vectorize=True`: all clients step together; weights and optimizer state are
  stacked `[num_clients, ...]`, the forward pass is vectorized over clients
  (`tf.vectorized_map` of Keras' `stateless_call`), and a client whose schedule
  has ended is masked so its weights and optimizer state stop exactly where a
  sequential run would stop them.
* `vectorize=False`: one client per call (the cohort has one client), no padding.

Algorithm-specific behaviour (FedProx's proximal term, SCAFFOLD's correction,
FedSGD's single gradient) comes from a `LocalRule`; the trainer itself knows no
algorithm.
"""

from __future__ import annotations

import collections
from typing import Any, Callable, NamedTuple, Optional

import tensorflow as tf

from fedrun.data.cohort import CohortData
from fedrun.models.functional import FunctionalModel, ModelWeights
from fedrun.optimizers import Optimizer, expand_per_client
from fedrun.runtime import pfor_converters  # noqa: F401  (vectorization rules)

Nest = Any


class ClientOutputs(NamedTuple):
    """Per-client results, each leaf stacked along a leading client axis.

    Attributes:
        update: Trainable-weight update; by default `initial - final` (TFF's
            pseudo-gradient convention: the server optimizer descends along it).
        num_examples: Examples processed (float32 `[K]`), the FedAvg update weight.
        metrics: Unfinalized metrics (see `FunctionalModel`).
        num_steps: Optimizer steps each client took (int32 `[K]`).
        extra: Outputs of the algorithm's `LocalRule.client_outputs`.
    """

    update: list[tf.Tensor]
    num_examples: tf.Tensor
    metrics: collections.OrderedDict[str, list[tf.Tensor]]
    num_steps: tf.Tensor
    extra: Nest


class LocalRule:
    """The algorithm-specific part of local training (defaults: plain FedAvg).

    Every method runs inside the compiled function on stacked tensors: leaves of
    `weights` are `[K, ...]`; broadcast inputs are unstacked (they broadcast against
    the client axis); per-client inputs are stacked.

    Attributes:
        gradient_at_initial: Compute each client's full-data mean gradient at the
            initial weights before local steps (FedSGD, Mime).
        local_steps: Take optimizer steps (False for FedSGD).
    """

    gradient_at_initial: bool = False
    local_steps: bool = True

    def adjust_gradients(
        self, gradients: list[tf.Tensor], weights: list[tf.Tensor], initial: list[tf.Tensor], inputs: "RoundInputs"
    ) -> list[tf.Tensor]:
        """The direction the client optimizer follows, from the loss gradients."""
        return gradients

    def update(self, initial: list[tf.Tensor], final: list[tf.Tensor], initial_gradient: list[tf.Tensor]) -> list[tf.Tensor]:
        """The update a client sends."""
        return [i - f for i, f in zip(initial, final)]

    def client_outputs(
        self,
        initial: list[tf.Tensor],
        final: list[tf.Tensor],
        initial_gradient: list[tf.Tensor],
        num_steps: tf.Tensor,
        inputs: "RoundInputs",
    ) -> Nest:
        """Extra per-client outputs (new control variates ...)."""
        return ()


class RoundInputs(NamedTuple):
    """What the server sends to the clients besides the weights.

    Attributes:
        learning_rate: The client learning rate this round (scalar float32).
        broadcast: Nest sent alike to every client (server control variate ...).
        per_client: Nest stacked over the cohort (client control variates ...).
        seeds: int32 `[K, 2]` per-client random seeds (dropout).
    """

    learning_rate: tf.Tensor
    broadcast: Nest
    per_client: Nest
    seeds: tf.Tensor


def _select(active: tf.Tensor, new: Nest, old: Nest) -> Nest:
    """Per client: `new` where `active` ([K] bool), else `old`."""
    return tf.nest.map_structure(lambda n, o: tf.where(expand_per_client(active, n), n, o), new, old)


def _stack(nest: Nest, count: tf.Tensor) -> Nest:
    return tf.nest.map_structure(lambda t: tf.repeat(tf.expand_dims(t, 0), count, axis=0), nest)


class LocalTrainer:
    """Compiled local training (and evaluation) of a `FunctionalModel`.

    Args:
        model: The model.
        optimizer: The client optimizer (None for a trainer that only evaluates).
        rule: The algorithm's local rule.
        vectorize: Train the cohort together (True) or one client per call.
    """

    def __init__(self, model: FunctionalModel, optimizer: Optional[Optimizer], rule: LocalRule, vectorize: bool) -> None:
        self.model = model
        self.optimizer = optimizer
        self.rule = rule
        self.vectorize = vectorize
        self.trace_count = 0
        self._train = tf.function(self._train_impl, reduce_retracing=True)
        self._evaluate = tf.function(self._evaluate_impl, reduce_retracing=True)

    # ----------------------------------------------------------------- helpers
    def _per_client(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Applies a one-client function to stacked arguments."""
        if self.vectorize:
            return tf.vectorized_map(lambda a: fn(*a), args)
        out = fn(*tf.nest.map_structure(lambda t: t[0], args))
        return tf.nest.map_structure(lambda t: tf.expand_dims(t, 0), out)

    def _client_step(self, weights: ModelWeights, state: Nest, x: Nest, y: tf.Tensor, mask: tf.Tensor, training: bool) -> Any:
        """One client's forward pass: predictions, per-example losses, new state."""
        predictions, new_state = self.model.predict(weights, state, x, training=training)
        losses = self.model.per_example_loss(y, predictions)
        return predictions, losses * mask, new_state

    def _batch(self, cohort_pool: Nest, index: tf.Tensor) -> Nest:
        return tf.nest.map_structure(lambda t: tf.gather(t, index), cohort_pool)

    def _forward(self, weights: ModelWeights, state: Nest, batch: Nest, mask: tf.Tensor, training: bool) -> Any:
        return self._per_client(
            lambda w, s, x, y, m: self._client_step(w, s, x, y, m, training), weights, state, batch["x"], batch["y"], mask
        )

    def _initial_state(self, count: tf.Tensor, seeds: tf.Tensor) -> Nest:
        # Each client's random-number state differs by its seed, so dropout masks are
        # independent across clients and identical in every runtime.
        return [
            tf.cast(seeds, s.dtype) + tf.expand_dims(s, 0) if s.shape.rank == 1 else _stack(s, count)
            for s in self.model.initial_state
        ]

    # ----------------------------------------------------------------- training
    def _train_impl(self, weights: ModelWeights, pool: Nest, index: tf.Tensor, mask: tf.Tensor, inputs: RoundInputs) -> ClientOutputs:
        self.trace_count += 1
        count = tf.shape(index)[0]
        num_steps_max = tf.shape(index)[1]
        stacked = _stack(weights, count)
        initial = stacked.trainable
        model_state = self._initial_state(count, inputs.seeds)
        metrics = _stack(self.model.initial_metrics(), count)
        active_steps = tf.reduce_sum(mask, axis=2) > 0  # [K, S]

        initial_gradient: list[tf.Tensor] = []
        if self.rule.gradient_at_initial:
            grad_sum = [tf.zeros_like(w) for w in initial]
            for s in tf.range(num_steps_max):
                batch = self._batch(pool, index[:, s])
                with tf.GradientTape() as tape:
                    tape.watch(initial)
                    predictions, losses, model_state = self._forward(
                        ModelWeights(initial, stacked.non_trainable), model_state, batch, mask[:, s], training=True
                    )
                    total = tf.reduce_sum(losses)
                grads = tape.gradient(total, initial)
                grad_sum = [a + g for a, g in zip(grad_sum, grads)]
                if not self.rule.local_steps:
                    metrics = self._per_client(self.model.update_metrics, metrics, batch["y"], predictions, losses, mask[:, s])
            examples = tf.maximum(tf.reduce_sum(mask, axis=[1, 2]), 1.0)
            initial_gradient = [g / expand_per_client(examples, g) for g in grad_sum]

        trainable = initial
        steps_taken = tf.zeros([count], tf.int32)
        if self.rule.local_steps:
            opt_state = self.optimizer.initialize(initial, batch_shape=[count])
            opt_state["learning_rate"] = tf.fill([count], inputs.learning_rate)
            for s in tf.range(num_steps_max):
                batch = self._batch(pool, index[:, s])
                step_mask = mask[:, s]
                with tf.GradientTape() as tape:
                    tape.watch(trainable)
                    predictions, losses, new_model_state = self._forward(
                        ModelWeights(trainable, stacked.non_trainable), model_state, batch, step_mask, training=True
                    )
                    examples = tf.maximum(tf.reduce_sum(step_mask, axis=1), 1.0)
                    total = tf.reduce_sum(tf.reduce_sum(losses, axis=1) / examples)
                grads = tape.gradient(total, trainable)
                grads = self.rule.adjust_gradients(grads, trainable, initial, inputs)
                new_opt_state, new_trainable = self.optimizer.next(opt_state, trainable, grads)
                active = active_steps[:, s]
                trainable = _select(active, new_trainable, trainable)
                opt_state = _select(active, new_opt_state, opt_state)
                model_state = _select(active, new_model_state, model_state)
                metrics = self._per_client(self.model.update_metrics, metrics, batch["y"], predictions, losses, step_mask)
                steps_taken += tf.cast(active, tf.int32)

        examples_seen = tf.cast(metrics["num_examples"][0], tf.float32)
        return ClientOutputs(
            update=self.rule.update(initial, trainable, initial_gradient),
            num_examples=examples_seen,
            metrics=metrics,
            num_steps=steps_taken,
            extra=self.rule.client_outputs(initial, trainable, initial_gradient, steps_taken, inputs),
        )

    def train(self, weights: ModelWeights, cohort: CohortData, inputs: RoundInputs) -> ClientOutputs:
        """Trains the cohort's clients from `weights`; returns stacked outputs."""
        if self.optimizer is None:
            raise ValueError("this LocalTrainer was built for evaluation only (no optimizer)")
        if not self.vectorize and cohort.num_clients != 1:
            raise ValueError("a non-vectorized LocalTrainer trains one client per call")
        return self._train(weights, cohort.pool, cohort.index, cohort.mask, inputs)

    # --------------------------------------------------------------- evaluation
    def _evaluate_impl(self, weights: ModelWeights, pool: Nest, index: tf.Tensor, mask: tf.Tensor) -> Nest:
        count = tf.shape(index)[0]
        stacked = _stack(weights, count)
        model_state = _stack(self.model.initial_state, count)
        metrics = _stack(self.model.initial_metrics(), count)
        for s in tf.range(tf.shape(index)[1]):
            batch = self._batch(pool, index[:, s])
            predictions, losses, _ = self._forward(stacked, model_state, batch, mask[:, s], training=False)
            metrics = self._per_client(self.model.update_metrics, metrics, batch["y"], predictions, losses, mask[:, s])
        return metrics

    def evaluate(self, weights: ModelWeights, cohort: CohortData) -> collections.OrderedDict[str, list[tf.Tensor]]:
        """Stacked unfinalized metrics of `weights` on each client's batches."""
        if not self.vectorize and cohort.num_clients != 1:
            raise ValueError("a non-vectorized LocalTrainer evaluates one client per call")
        return self._evaluate(weights, cohort.pool, cohort.index, cohort.mask)


def no_inputs(learning_rate: float, num_clients: int, seeds: Optional[tf.Tensor] = None) -> RoundInputs:
    """Round inputs for algorithms that send nothing besides the weights."""
    if seeds is None:
        seeds = tf.zeros([num_clients, 2], tf.int32)
    return RoundInputs(tf.constant(learning_rate, tf.float32), (), (), seeds)
