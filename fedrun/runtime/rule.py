"""The interface between an algorithm and local training.

An algorithm shapes local training through a `LocalRule` (hooks run inside the
compiled training function), sends `RoundInputs` with the weights, and receives
`ClientOutputs`, every leaf stacked along a leading client axis.
"""

from __future__ import annotations

import collections
from typing import Any, NamedTuple, Optional

import tensorflow as tf

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
        self,
        gradients: list[tf.Tensor],
        weights: list[tf.Tensor],
        initial: list[tf.Tensor],
        inputs: "RoundInputs",
    ) -> list[tf.Tensor]:
        """The direction the client optimizer follows, from the loss gradients."""
        return gradients

    def update(
        self, initial: list[tf.Tensor], final: list[tf.Tensor], initial_gradient: list[tf.Tensor]
    ) -> list[tf.Tensor]:
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


def no_inputs(
    learning_rate: float, num_clients: int, seeds: Optional[tf.Tensor] = None
) -> RoundInputs:
    """Round inputs for algorithms that send nothing besides the weights."""
    if seeds is None:
        seeds = tf.zeros([num_clients, 2], tf.int32)
    return RoundInputs(tf.constant(learning_rate, tf.float32), (), (), seeds)
