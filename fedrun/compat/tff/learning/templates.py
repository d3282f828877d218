"""TFF's `tff.learning.templates`: the learning process as TFF programs use it.

`LearningProcess` presents a fedrun learning process (`fedrun.learning.process`)
with TFF's conventions: `next(state, client_data)` takes one `tf.data.Dataset` per
client (converted by `client_datasets.DatasetCohorts`) or a fedrun `CohortData`,
and returns `LearningProcessOutput(state, metrics)` with the metrics as Python
values. The state is fedrun's `LearningAlgorithmState` (tensors), passed back as it
came. `LearningProcessOutput` is fedrun's own. The building blocks and their
composer (`ClientWorkProcess`, `build_broadcast_process`,
`build_apply_optimizer_finalizer`, `compose_learning_process`, ...) are in
`composition`.
"""

from __future__ import annotations

from typing import Any

from fedrun.compat.tff.errors import FacadeTypeError
from fedrun.compat.tff.learning.client_datasets import DatasetCohorts
from fedrun.compat.tff.learning.composition import (
    ClientResult,
    ClientWorkProcess,
    DistributionProcess,
    FinalizerProcess,
    build_apply_optimizer_finalizer,
    build_broadcast_process,
    compose_learning_process,
)
from fedrun.compat.tff.unsupported import LEARNING_TEMPLATES, error
from fedrun.compat.tff.values import to_python
from fedrun.core.processes import Computation
from fedrun.core.types import Type
from fedrun.learning import process as native_process
from fedrun.learning.templates import LearningAlgorithmState, LearningProcessOutput
from fedrun.models.functional import ModelWeights


class LearningProcess:
    """A fedrun learning process with TFF's calling conventions.

    Rounds are numbered in call order (1, 2, ...) for per-round client seeds
    (dropout); the state does not carry the round.

    Args:
        native: The fedrun learning process.
    """

    def __init__(self, native: native_process.LearningProcess) -> None:
        if not isinstance(native, native_process.LearningProcess):
            raise FacadeTypeError(
                f"LearningProcess wraps a fedrun learning process (fedrun.learning.process."
                f"LearningProcess); got {type(native).__name__}; build one with "
                "tff.learning.algorithms.* or tff.learning.templates.compose_learning_process"
            )
        self.native = native
        self._cohorts = DatasetCohorts(native.element_spec)
        self._rounds = 0
        self.initialize = native.initialize
        self.next = Computation(self._next, lambda: native.next.type_signature, "next")

    def _next(self, state: LearningAlgorithmState, client_data: Any) -> LearningProcessOutput:
        self._rounds += 1
        cohort = self._cohorts.cohort(client_data, self._rounds)
        output = self.native.next(state, cohort)
        return LearningProcessOutput(output.state, to_python(output.metrics))

    @property
    def state_type(self) -> Type:
        return self.native.state_type

    def get_model_weights(self, state: LearningAlgorithmState) -> ModelWeights:
        """The global model weights held in `state`."""
        return self.native.get_model_weights(state)

    def set_model_weights(
        self, state: LearningAlgorithmState, weights: ModelWeights
    ) -> LearningAlgorithmState:
        """A copy of `state` holding `weights` (a `ModelWeights` or `(trainable, non_trainable)`)."""
        return self.native.set_model_weights(state, ModelWeights(*weights))


def __getattr__(name: str) -> object:
    raise error("tff.learning.templates", name, LEARNING_TEMPLATES)


__all__ = [
    "ClientResult",
    "ClientWorkProcess",
    "DistributionProcess",
    "FinalizerProcess",
    "LearningProcess",
    "LearningProcessOutput",
    "build_apply_optimizer_finalizer",
    "build_broadcast_process",
    "compose_learning_process",
]
