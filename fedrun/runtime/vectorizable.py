"""Whether a model's forward pass vectorizes over a client axis.

`tf.vectorized_map` turns each op of the per-client computation into one op over
all clients, using a rule per op type. When an op has no rule for the way it is
used (a convolution whose *filter* differs per client, for instance), TensorFlow
runs that op in a `while_loop` over clients: correct, but slower than training the
clients one after another, and not compilable by XLA. `vectorization_problem`
traces the forward pass, loss and metrics of two stacked clients with that
fallback disabled, so a runtime can decide before training.
"""

from __future__ import annotations

from typing import Optional

import tensorflow as tf

from fedrun.models.functional import FunctionalModel, ModelWeights
from fedrun.runtime import pfor_converters  # noqa: F401  (vectorization rules)

_PROBE_CLIENTS = 2


def _stacked_spec(value: tf.Tensor) -> tf.TensorSpec:
    return tf.TensorSpec([_PROBE_CLIENTS] + value.shape.as_list(), value.dtype)


def vectorization_problem(model: FunctionalModel) -> Optional[str]:
    """Why `model` cannot train vectorized over clients, or None if it can.

    Ops whose vectorization TensorFlow itself implements as a loop (stateless
    random numbers for dropout) are accepted: they are correct and cheap next to
    the layers around them.
    """
    weight_specs = tf.nest.map_structure(_stacked_spec, model.initial_weights)
    state_specs = [_stacked_spec(s) for s in model.initial_state]
    batch_specs = {k: tf.TensorSpec([_PROBE_CLIENTS, 1] + s.shape.as_list(), s.dtype) for k, s in model.input_spec.items()}

    def one_client(weights: ModelWeights, state: list, batch: dict) -> tuple:
        predictions, new_state = model.predict(weights, state, batch["x"], training=True)
        losses = model.per_example_loss(batch["y"], predictions)
        metrics = model.update_metrics(model.initial_metrics(), batch["y"], predictions, losses, tf.ones_like(losses))
        return losses, new_state, metrics

    def probe(weights: ModelWeights, state: list, batch: dict) -> tuple:
        return tf.vectorized_map(lambda a: one_client(*a), (weights, state, batch), fallback_to_while_loop=False)

    try:
        tf.function(probe).get_concrete_function(weight_specs, state_specs, batch_specs)
    except ValueError as err:
        text = str(err).strip()
        return text.splitlines()[0] if text else type(err).__name__
    return None
