"""The learning process and its four building blocks' shared types.

A learning algorithm is composed of four processes (TFF's `tff.learning.templates`):
a distributor (server -> clients), client work (local training), an aggregator
(clients -> server) and a finalizer (applies the aggregate to the global model).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import tensorflow as tf

from fedrun.models.functional import ModelWeights


class LearningAlgorithmState(NamedTuple):
    """The server state of a learning process (field order as in TFF).

    Attributes:
        global_model_weights: The global `ModelWeights`.
        distributor: State of the distributor.
        client_work: State of the client work.
        aggregator: State of the model-update aggregator.
        finalizer: State of the finalizer (the server optimizer's).
    """

    global_model_weights: ModelWeights
    distributor: Any
    client_work: Any
    aggregator: Any
    finalizer: Any


class LearningProcessOutput(NamedTuple):
    """What `LearningProcess.next` returns.

    Attributes:
        state: The new `LearningAlgorithmState`.
        metrics: Nested metrics `{distributor, client_work, aggregator, finalizer}`.
    """

    state: LearningAlgorithmState
    metrics: Any


class ClientResult(NamedTuple):
    """What each client sends for aggregation.

    Attributes:
        update: The model update (list of tensors).
        update_weight: The client's weight in a weighted aggregate.
    """

    update: Any
    update_weight: tf.Tensor
