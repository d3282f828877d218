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
FedSGD's single gradient) comes from a `LocalRule` (`fedrun.runtime.rule`, whose
names this module re-exports); the trainer itself knows no algorithm.

Cost per local step is what matters (a round is thousands of tiny steps), so the
loop runs in two phases: while every client still has steps, no masking at all;
then, for the clients with longer schedules, steps masked per client. The loop
stops at the last real step, so padding steps are never computed. On CPUs unequal
clients are also packed one after another into fewer lanes (`fedrun.runtime.packing`),
so short clients do not idle while the longest one ends. The function is
traced once per run (`trace_count`) and, by default, compiled with XLA, which fuses
each step's many small operations.
"""

from __future__ import annotations

import collections
from typing import Any, Callable, Optional

import numpy as np
import tensorflow as tf

from fedrun.data.cohort import CohortData
from fedrun.models.functional import FunctionalModel, ModelWeights
from fedrun.optimizers import Optimizer, expand_per_client
from fedrun.runtime import pfor_converters  # noqa: F401  (vectorization rules)
from fedrun.runtime.compiled import CompiledFunction, bucket, pad_axis, relaxed
from fedrun.runtime.packing import choose_lanes, pack_schedule
from fedrun.runtime.probe import is_dry_run
from fedrun.runtime.rule import ClientOutputs, LocalRule, RoundInputs, no_inputs
from fedrun.runtime.vectorizable import on_gpu, xla_suits

Nest = Any


def _select(active: tf.Tensor, new: Nest, old: Nest) -> Nest:
    """Per client: `new` where `active` ([K] bool), else `old`."""
    return tf.nest.map_structure(
        lambda n, o: tf.where(expand_per_client(active, n), n, o), new, old
    )


# XLA fuses a step's many small ops, which wins while steps are small; for large
# steps (1,000 clients x 20 examples) TensorFlow's own gather and matmul kernels
# are faster (about 20% less CPU time measured on the benchmark machine).
XLA_MAX_EXAMPLES_PER_STEP = 4096


def _loop(
    start: tf.Tensor, stop: tf.Tensor, body: Callable[[tf.Tensor, Nest], Nest], carry: Nest
) -> Nest:
    """`carry = body(s, carry)` for `s` in `[start, stop)`.

    A plain while loop: `for s in tf.range(n)` sets `maximum_iterations`, which XLA
    needs as a compile-time constant, so every new schedule would recompile.
    """

    def keep_shapes(new: tf.Tensor, old: tf.Tensor) -> tf.Tensor:
        # Some ops (vectorized ones among them) lose a static size the carry had.
        return new if new.shape == old.shape else tf.ensure_shape(new, old.shape)

    def step(s: tf.Tensor, c: Nest) -> tuple:
        return s + 1, tf.nest.map_structure(keep_shapes, body(s, c), c)

    _, carry = tf.while_loop(lambda s, c: s < stop, step, (start, carry))
    return carry


def _stack(nest: Nest, count: tf.Tensor) -> Nest:
    return tf.nest.map_structure(lambda t: tf.repeat(tf.expand_dims(t, 0), count, axis=0), nest)


class LocalTrainer:
    """Compiled local training (and evaluation) of a `FunctionalModel`.

    Args:
        model: The model.
        optimizer: The client optimizer (None for a trainer that only evaluates).
        rule: The algorithm's local rule.
        vectorize: Train the cohort together (True) or one client per call.
        jit_compile: Compile with XLA (True), as a TensorFlow graph (False), or
            choose (None): XLA when it suits the model (`xla_suits`), steps are small
            (`XLA_MAX_EXAMPLES_PER_STEP`) and it compiles.
        pack_clients: Vectorized only: train unequal clients one after another in
            fewer lanes (`fedrun.runtime.packing`) when the rule allows it (local
            steps, no gradient at the initial weights, no per-client inputs). True,
            False, or None: on CPUs only.

    Attributes:
        trace_count: How often the training function was traced (1 per run; 2
            if XLA was tried and could not compile the model).
        lanes: Clients per compiled training call (set by the first call).
        batch_size: Examples per step the training function is compiled for (set
            by the first call; smaller batches are padded).
        packed_lanes: Lanes a packed call trains its clients in (set by the first
            packed call; None while the cohort is not packed).
    """

    def __init__(
        self,
        model: FunctionalModel,
        optimizer: Optional[Optimizer],
        rule: LocalRule,
        vectorize: bool,
        jit_compile: Optional[bool] = None,
        pack_clients: Optional[bool] = None,
    ) -> None:
        self.model = model
        self.optimizer = optimizer
        self.rule = rule
        self.vectorize = vectorize
        self.trace_count = 0
        self.lanes: Optional[int] = None
        self.batch_size: Optional[int] = None
        self.packed_lanes: Optional[int] = None
        if jit_compile is None and not xla_suits(model):
            jit_compile = False
        self._pack = (
            vectorize
            and rule.local_steps
            and not rule.gradient_at_initial
            and (not on_gpu() if pack_clients is None else pack_clients)
        )
        self._train = CompiledFunction(self._train_impl, _train_signature, jit_compile)
        self._train_packed = CompiledFunction(
            self._train_packed_impl, _packed_signature, jit_compile
        )
        self._evaluate = CompiledFunction(self._evaluate_impl, _evaluate_signature, jit_compile)

    @property
    def jit_compile(self) -> Optional[bool]:
        """Whether training runs under XLA (None until the first call decides)."""
        return (self._train if self.packed_lanes is None else self._train_packed).jit_compile

    # ----------------------------------------------------------------- helpers
    def _per_client(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Applies a one-client function to stacked arguments."""
        if self.vectorize:
            return tf.vectorized_map(lambda a: fn(*a), args)
        # A squeeze (not `t[0]`): its gradient is a free reshape, not a copy.
        out = fn(*tf.nest.map_structure(lambda t: tf.squeeze(t, 0), args))
        return tf.nest.map_structure(lambda t: tf.expand_dims(t, 0), out)

    def _client_step(
        self,
        weights: ModelWeights,
        state: Nest,
        x: Nest,
        y: tf.Tensor,
        mask: tf.Tensor,
        training: bool,
    ) -> Any:
        """One client's forward pass: predictions, per-example losses, new state."""
        predictions, new_state = self.model.predict(weights, state, x, training=training)
        losses = self.model.per_example_loss(y, predictions)
        return predictions, losses * mask, new_state

    def _batch(self, pool: Nest, index: tf.Tensor, s: tf.Tensor) -> Nest:
        """Step `s` of every client, gathered from the pool."""
        return tf.nest.map_structure(lambda t: tf.gather(t, index[:, s]), pool)

    def _forward(
        self, weights: ModelWeights, state: Nest, batch: Nest, mask: tf.Tensor, training: bool
    ) -> Any:
        return self._per_client(
            lambda w, s, x, y, m: self._client_step(w, s, x, y, m, training),
            weights,
            state,
            batch["x"],
            batch["y"],
            mask,
        )

    def _initial_state(self, count: tf.Tensor, seeds: tf.Tensor) -> Nest:
        # Each client's random-number state differs by its seed, so dropout masks are
        # independent across clients and identical in every runtime.
        return [
            tf.cast(seeds, s.dtype) + tf.expand_dims(s, 0)
            if s.shape.rank == 1
            else _stack(s, count)
            for s in self.model.initial_state
        ]

    # ----------------------------------------------------------------- training
    def _local_step(
        self,
        batch: Nest,
        step_mask: tf.Tensor,
        active: Optional[tf.Tensor],
        carry: tuple[list[tf.Tensor], Nest, Nest, Nest],
        non_trainable: list[tf.Tensor],
        initial: list[tf.Tensor],
        inputs: RoundInputs,
    ) -> tuple[list[tf.Tensor], Nest, Nest, Nest]:
        """One optimizer step of every client; `active` ([K] bool) masks finished clients."""
        trainable, opt_state, model_state, metrics = carry
        with tf.GradientTape() as tape:
            tape.watch(trainable)
            predictions, losses, new_model_state = self._forward(
                ModelWeights(trainable, non_trainable), model_state, batch, step_mask, training=True
            )
            examples = tf.maximum(tf.reduce_sum(step_mask, axis=1), 1.0)
            total = tf.reduce_sum(tf.reduce_sum(losses, axis=1) / examples)
        grads = tape.gradient(total, trainable)
        grads = self.rule.adjust_gradients(grads, trainable, initial, inputs)
        assert self.optimizer is not None  # train() refuses evaluation-only trainers
        new_opt_state, new_trainable = self.optimizer.next(opt_state, trainable, grads)
        if active is not None:
            new_trainable = _select(active, new_trainable, trainable)
            new_opt_state = _select(active, new_opt_state, opt_state)
            new_model_state = _select(active, new_model_state, model_state)
        metrics = self._per_client(
            self.model.update_metrics, metrics, batch["y"], predictions, losses, step_mask
        )
        return list(new_trainable), new_opt_state, new_model_state, metrics

    def _initial_gradient(
        self,
        initial: list[tf.Tensor],
        non_trainable: list[tf.Tensor],
        model_state: Nest,
        metrics: Nest,
        pool: Nest,
        index: tf.Tensor,
        mask: tf.Tensor,
        active_steps: tf.Tensor,
        last: tf.Tensor,
    ) -> tuple[list[tf.Tensor], Nest, Nest]:
        """Each client's mean gradient over all its examples at the initial weights."""

        def step(s: tf.Tensor, carry: tuple) -> tuple:
            grad_sum, model_state, metrics = carry
            batch = self._batch(pool, index, s)
            with tf.GradientTape() as tape:
                tape.watch(initial)
                predictions, losses, new_model_state = self._forward(
                    ModelWeights(initial, non_trainable),
                    model_state,
                    batch,
                    mask[:, s],
                    training=True,
                )
                total = tf.reduce_sum(losses)
            grads = tape.gradient(total, initial)
            grad_sum = [a + g for a, g in zip(grad_sum, grads)]
            model_state = (
                _select(active_steps[:, s], new_model_state, model_state)
                if self.vectorize
                else new_model_state
            )
            if not self.rule.local_steps:
                metrics = self._per_client(
                    self.model.update_metrics, metrics, batch["y"], predictions, losses, mask[:, s]
                )
            return grad_sum, model_state, metrics

        zeros = [tf.zeros_like(w) for w in initial]
        grad_sum, model_state, metrics = _loop(
            tf.constant(0), last, step, (zeros, model_state, metrics)
        )
        examples = tf.maximum(tf.reduce_sum(mask, axis=[1, 2]), 1.0)
        return [g / expand_per_client(examples, g) for g in grad_sum], model_state, metrics

    def _train_impl(
        self,
        weights: ModelWeights,
        pool: Nest,
        index: tf.Tensor,
        mask: tf.Tensor,
        inputs: RoundInputs,
    ) -> ClientOutputs:
        self.trace_count += 1
        count = tf.shape(index)[0]
        stacked = _stack(weights, count)
        initial = list(stacked.trainable)
        model_state = self._initial_state(count, inputs.seeds)
        metrics = _stack(self.model.initial_metrics(), count)
        # A client's schedule is a prefix of real steps followed by padding steps.
        active_steps = tf.reduce_sum(mask, axis=2) > 0  # [K, S]
        client_steps = tf.reduce_sum(tf.cast(active_steps, tf.int32), axis=1)
        shortest, last = tf.reduce_min(client_steps), tf.reduce_max(client_steps)

        initial_gradient: list[tf.Tensor] = []
        if self.rule.gradient_at_initial:
            initial_gradient, model_state, metrics = self._initial_gradient(
                initial,
                stacked.non_trainable,
                model_state,
                metrics,
                pool,
                index,
                mask,
                active_steps,
                last,
            )

        trainable = initial
        steps_taken = tf.zeros([count], tf.int32)
        if self.rule.local_steps:
            assert self.optimizer is not None  # train() refuses evaluation-only trainers
            opt_state = self.optimizer.initialize(initial, batch_shape=[count])
            opt_state["learning_rate"] = tf.fill([count], inputs.learning_rate)
            carry = (trainable, opt_state, model_state, metrics)

            def step(s: tf.Tensor, carry: tuple, masked: bool) -> tuple:
                active = active_steps[:, s] if masked else None
                batch = self._batch(pool, index, s)
                return self._local_step(
                    batch, mask[:, s], active, carry, stacked.non_trainable, initial, inputs
                )

            def trimmed_step(s: tf.Tensor, carry: tuple) -> tuple:
                real = tf.where(mask[0, s] > 0)[:, 0]
                step_index = tf.gather(index[:, s], real, axis=1)
                batch = tf.nest.map_structure(lambda t: tf.gather(t, step_index), pool)
                return self._local_step(
                    batch,
                    tf.gather(mask[:, s], real, axis=1),
                    None,
                    carry,
                    stacked.non_trainable,
                    initial,
                    inputs,
                )

            if self.vectorize:
                # While every client has steps left, nothing needs masking.
                carry = _loop(tf.constant(0), shortest, lambda s, c: step(s, c, False), carry)
                carry = _loop(shortest, last, lambda s, c: step(s, c, True), carry)
            elif self._train.jit_compile is False:
                # One client: full batches at the static batch size, then its last,
                # partial batch without padding (a smaller batch computes less).
                batch_size = tf.cast(tf.shape(mask)[2], mask.dtype)
                full = tf.reduce_sum(
                    tf.cast(tf.reduce_sum(mask[0], axis=1) >= batch_size, tf.int32)
                )
                carry = _loop(tf.constant(0), full, lambda s, c: step(s, c, False), carry)
                carry = _loop(full, last, trimmed_step, carry)
            else:
                carry = _loop(tf.constant(0), last, lambda s, c: step(s, c, False), carry)
            trainable, _, _, metrics = carry
            steps_taken = client_steps

        examples_seen = tf.cast(metrics["num_examples"][0], tf.float32)
        return ClientOutputs(
            update=self.rule.update(initial, trainable, initial_gradient),
            num_examples=examples_seen,
            metrics=metrics,
            num_steps=steps_taken,
            extra=self.rule.client_outputs(
                initial, trainable, initial_gradient, steps_taken, inputs
            ),
        )

    def _train_packed_impl(
        self,
        weights: ModelWeights,
        pool: Nest,
        index: tf.Tensor,
        mask: tf.Tensor,
        lanes_of: tuple[tf.Tensor, tf.Tensor, tf.Tensor],
        inputs: RoundInputs,
    ) -> ClientOutputs:
        """Training of clients packed into lanes (`fedrun.runtime.packing`).

        `lanes_of` is the packed schedule's `(client, starts, ends)`. At a client's
        first step its lane restarts from the global weights, a fresh optimizer
        state and that client's random state; after its last step the lane's
        weights and metrics are kept as that client's.
        """
        self.trace_count += 1
        client, starts, ends = lanes_of
        clients = int(inputs.seeds.shape[0])
        lanes = tf.shape(index)[0]
        lane_weights = _stack(weights, lanes)
        initial = list(lane_weights.trainable)
        assert self.optimizer is not None  # train() refuses evaluation-only trainers
        fresh_optimizer = self.optimizer.initialize(initial, batch_shape=[lanes])
        fresh_optimizer["learning_rate"] = tf.fill([lanes], inputs.learning_rate)
        fresh_metrics = _stack(self.model.initial_metrics(), lanes)
        client_states = self._initial_state(tf.constant(clients), inputs.seeds)
        positions = tf.range(clients, dtype=client.dtype)
        active = tf.reduce_sum(mask, axis=2) > 0  # [L, T]
        last = tf.reduce_max(tf.reduce_sum(tf.cast(active, tf.int32), axis=1))

        def step(s: tf.Tensor, carry: tuple) -> tuple:
            *lane, kept, kept_metrics = carry
            who, start, end = client[:, s], starts[:, s], ends[:, s]

            def restart() -> list:
                states = tf.nest.map_structure(lambda t: tf.gather(t, who), client_states)
                fresh = [initial, fresh_optimizer, states, fresh_metrics]
                return [_select(start, new, old) for new, old in zip(fresh, lane)]

            restarted = tf.cond(tf.reduce_any(start), restart, lambda: list(lane))
            trained = self._local_step(
                self._batch(pool, index, s),
                mask[:, s],
                None,
                tuple(restarted),
                lane_weights.non_trainable,
                initial,
                inputs,
            )

            def keep() -> tuple:
                hits = tf.logical_and(
                    tf.equal(who[:, None], positions[None, :]), end[:, None]
                )  # [L, K]
                done = tf.reduce_any(hits, axis=0)
                source = tf.argmax(tf.cast(hits, tf.int32), axis=0, output_type=tf.int32)

                def take(new: tf.Tensor, old: tf.Tensor) -> tf.Tensor:
                    return tf.where(expand_per_client(done, old), tf.gather(new, source), old)

                return (
                    tf.nest.map_structure(take, trained[0], kept),
                    tf.nest.map_structure(take, trained[3], kept_metrics),
                )

            kept, kept_metrics = tf.cond(tf.reduce_any(end), keep, lambda: (kept, kept_metrics))
            return (*trained, kept, kept_metrics)

        # Every lane's first step restarts it, so any client's state fits here.
        model_state = tf.nest.map_structure(
            lambda t: tf.gather(t, tf.zeros([lanes], tf.int32)), client_states
        )
        initial_clients = list(_stack(weights, clients).trainable)
        carry = (
            initial,
            fresh_optimizer,
            model_state,
            fresh_metrics,
            initial_clients,
            _stack(self.model.initial_metrics(), clients),
        )
        *_, trained, metrics = _loop(tf.constant(0), last, step, carry)
        steps_taken = tf.math.unsorted_segment_sum(tf.cast(active, tf.int32), client, clients)
        return ClientOutputs(
            update=self.rule.update(initial_clients, trained, []),
            num_examples=tf.cast(metrics["num_examples"][0], tf.float32),
            metrics=metrics,
            num_steps=steps_taken,
            extra=self.rule.client_outputs(initial_clients, trained, [], steps_taken, inputs),
        )

    def _train_packed_call(
        self, weights: ModelWeights, cohort: CohortData, inputs: RoundInputs
    ) -> ClientOutputs:
        """One packed call over at most `lanes` clients (see `_train_lanes`)."""
        assert self.lanes is not None and self.batch_size is not None  # set by train()
        count, missing = cohort.num_clients, self.lanes - cohort.num_clients
        index, mask = cohort.index.numpy(), cohort.mask.numpy()
        assert self.packed_lanes is not None  # set by train()
        packed = pack_schedule(index, mask, self.packed_lanes)
        steps = packed.lane_steps
        if self._train_packed.jit_compile is not False:
            steps = bucket(steps)
        # Padded in numpy: a dozen eager TensorFlow pads cost more than the arrays' copy.
        index_t, mask_t = (
            tf.constant(_pad_array(a, {1: steps, 2: self.batch_size}))
            for a in (packed.index, packed.mask)
        )
        lane_arrays = [
            tf.constant(_pad_array(a, {1: steps}))
            for a in (packed.client, packed.starts, packed.ends)
        ]
        if missing:  # padding clients have no steps: never trained, dropped below
            inputs = inputs._replace(seeds=_pad_clients(inputs.seeds, missing))
        outputs = self._train_packed(
            weights, cohort.pool, index_t, mask_t, tuple(lane_arrays), inputs
        )
        return tf.nest.map_structure(lambda t: t[:count], outputs) if missing else outputs

    def _packs(self, inputs: RoundInputs) -> bool:
        return self._pack and not tf.nest.flatten(inputs.per_client)

    def _schedule(self, cohort: CohortData) -> tuple[tf.Tensor, tf.Tensor]:
        """The cohort's index and mask, steps padded to a few sizes under XLA."""
        if self._train.jit_compile is False:
            return cohort.index, cohort.mask
        steps = bucket(int(cohort.index.shape[1]))
        return pad_axis(cohort.index, 1, steps), pad_axis(cohort.mask, 1, steps)

    def _train_lanes(
        self, weights: ModelWeights, cohort: CohortData, inputs: RoundInputs
    ) -> ClientOutputs:
        """Trains a cohort of at most `lanes` clients, padded to exactly `lanes`.

        Padding lanes repeat the first client's schedule (so they do not shorten
        the unmasked phase); their outputs are dropped.
        """
        assert self.lanes is not None and self.batch_size is not None  # set by train()
        count, missing = cohort.num_clients, self.lanes - cohort.num_clients
        index, mask = self._schedule(cohort)
        batch_size = int(index.shape[2])
        if batch_size > self.batch_size:
            raise ValueError(
                f"this trainer was compiled for batches of at most {self.batch_size} examples, got {batch_size}"
            )
        # Smaller batches (a dry run's) are padded with masked examples.
        index, mask = pad_axis(index, 2, self.batch_size), pad_axis(mask, 2, self.batch_size)
        if missing:
            index, mask = _pad_clients(index, missing), _pad_clients(mask, missing)
            inputs = inputs._replace(
                per_client=tf.nest.map_structure(
                    lambda t: _pad_clients(t, missing), inputs.per_client
                ),
                seeds=_pad_clients(inputs.seeds, missing),
            )
        outputs = self._train(weights, cohort.pool, index, mask, inputs)
        return tf.nest.map_structure(lambda t: t[:count], outputs) if missing else outputs

    def train(
        self, weights: ModelWeights, cohort: CohortData, inputs: RoundInputs
    ) -> ClientOutputs:
        """Trains the cohort's clients from `weights`; returns stacked outputs.

        The number of clients per compiled call (`lanes`) is fixed by the first
        call: it makes vectorization exact (TensorFlow then needs no gathers of
        stacked weights). Smaller cohorts are padded, larger ones trained in chunks.
        """
        if self.optimizer is None:
            raise ValueError("this LocalTrainer was built for evaluation only (no optimizer)")
        if not self.vectorize and cohort.num_clients != 1:
            raise ValueError("a non-vectorized LocalTrainer trains one client per call")
        if self.lanes is None and is_dry_run():
            # A dry run (a type probe) must not fix the shapes real rounds compile for.
            probe = CompiledFunction(self._train_impl, _train_signature, False)
            return probe(weights, cohort.pool, cohort.index, cohort.mask, inputs)
        if self.lanes is None:
            self.lanes, self.batch_size = cohort.num_clients, int(cohort.index.shape[2])
            if (
                self._train.jit_compile is None
                and self.lanes * int(cohort.index.shape[2]) > XLA_MAX_EXAMPLES_PER_STEP
            ):
                self._train.jit_compile = self._train_packed.jit_compile = False
        if self._packs(inputs) and self.packed_lanes is None:
            lanes = choose_lanes([int(n) for n in cohort.steps_per_client()])
            # As many lanes as clients gains nothing: the plain loop is cheaper per step.
            self._pack = lanes < cohort.num_clients
            self.packed_lanes = lanes if self._pack else None
        call = self._train_packed_call if self._packs(inputs) else self._train_lanes
        if cohort.num_clients <= self.lanes:
            return call(weights, cohort, inputs)
        parts = []
        for start in range(0, cohort.num_clients, self.lanes):
            positions = list(range(start, min(start + self.lanes, cohort.num_clients)))
            per_client = tf.nest.map_structure(
                lambda t, positions=positions: tf.gather(t, positions), inputs.per_client
            )
            part_inputs = inputs._replace(
                per_client=per_client, seeds=tf.gather(inputs.seeds, positions)
            )
            parts.append(call(weights, cohort.subset(positions), part_inputs))
        return tf.nest.map_structure(lambda *xs: tf.concat(xs, axis=0), *parts)

    # --------------------------------------------------------------- evaluation
    def _evaluate_impl(
        self, weights: ModelWeights, pool: Nest, index: tf.Tensor, mask: tf.Tensor
    ) -> Nest:
        count = tf.shape(index)[0]
        stacked = _stack(weights, count)
        model_state = _stack(self.model.initial_state, count)
        metrics = _stack(self.model.initial_metrics(), count)
        last = tf.reduce_max(
            tf.reduce_sum(tf.cast(tf.reduce_sum(mask, axis=2) > 0, tf.int32), axis=1)
        )

        def step(s: tf.Tensor, metrics: Nest) -> Nest:
            batch = self._batch(pool, index, s)
            predictions, losses, _ = self._forward(
                stacked, model_state, batch, mask[:, s], training=False
            )
            return self._per_client(
                self.model.update_metrics, metrics, batch["y"], predictions, losses, mask[:, s]
            )

        metrics = _loop(tf.constant(0), last, step, metrics)
        return metrics

    def evaluate(
        self, weights: ModelWeights, cohort: CohortData
    ) -> collections.OrderedDict[str, list[tf.Tensor]]:
        """Stacked unfinalized metrics of `weights` on each client's batches."""
        if not self.vectorize and cohort.num_clients != 1:
            raise ValueError("a non-vectorized LocalTrainer evaluates one client per call")
        return self._evaluate(weights, cohort.pool, cohort.index, cohort.mask)


def _pad_array(array: np.ndarray, sizes: dict[int, int]) -> np.ndarray:
    """`array` padded with zeros at the end of each axis in `sizes` to that size."""
    widths = [(0, max(0, sizes.get(axis, n) - n)) for axis, n in enumerate(array.shape)]
    return np.pad(array, widths) if any(w for _, w in widths) else array


def _pad_clients(tensor: tf.Tensor, missing: int) -> tf.Tensor:
    """`tensor` with `missing` copies of its first client appended."""
    return tf.concat([tensor, tf.repeat(tensor[:1], missing, axis=0)], axis=0)


def _train_signature(
    weights: ModelWeights, pool: Nest, index: tf.Tensor, mask: tf.Tensor, inputs: RoundInputs
) -> tuple:
    """Steps and pool size of any number; clients, batch size, weights and broadcasts as
    given (static batch shapes let TensorFlow pick its fastest kernels)."""
    inputs = RoundInputs(
        relaxed(inputs.learning_rate),
        relaxed(inputs.broadcast),
        relaxed(inputs.per_client),
        relaxed(inputs.seeds),
    )
    return relaxed(weights), relaxed(pool, [0]), relaxed(index, [1]), relaxed(mask, [1]), inputs


def _packed_signature(
    weights: ModelWeights,
    pool: Nest,
    index: tf.Tensor,
    mask: tf.Tensor,
    lanes_of: tuple[tf.Tensor, tf.Tensor, tf.Tensor],
    inputs: RoundInputs,
) -> tuple:
    """As `_train_signature`, with the packed lanes' steps of any number."""
    weights_s, pool_s, index_s, mask_s, inputs_s = _train_signature(
        weights, pool, index, mask, inputs
    )
    return weights_s, pool_s, index_s, mask_s, relaxed(lanes_of, [1]), inputs_s


def _evaluate_signature(
    weights: ModelWeights, pool: Nest, index: tf.Tensor, mask: tf.Tensor
) -> tuple:
    """Evaluation cohorts of any size (evaluation is not the hot loop)."""
    return relaxed(weights), relaxed(pool, [0]), relaxed(index, [0, 1, 2]), relaxed(mask, [0, 1, 2])


__all__ = ["ClientOutputs", "LocalRule", "LocalTrainer", "RoundInputs", "no_inputs"]
