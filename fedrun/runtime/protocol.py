"""The one contract every local trainer meets: train a cohort, evaluate a cohort.

`LocalTrainer` (a Keras-based `FunctionalModel`, compiled, optionally vectorized
over the cohort) and `VariableTrainer` (a model that owns its variables, one
client at a time) both implement `Trainer`; runtimes, evaluation and
personalization use only this protocol.
"""

from __future__ import annotations

from typing import Any, Optional, Protocol

from fedrun.data.cohort import CohortData
from fedrun.models.functional import ModelWeights
from fedrun.optimizers import Optimizer
from fedrun.runtime.rule import ClientOutputs, LocalRule, RoundInputs
from fedrun.runtime.variable_trainer import LearningModel

Nest = Any


class Trainer(Protocol):
    """A compiled local trainer of one model, rule and client optimizer."""

    @property
    def model(self) -> LearningModel:
        """The model it trains."""

    @property
    def optimizer(self) -> Optional[Optimizer]:
        """The client optimizer; None for a trainer that only evaluates."""

    @property
    def rule(self) -> LocalRule:
        """The algorithm's local rule."""

    @property
    def vectorize(self) -> bool:
        """Whether one call steps the whole cohort (else one client per call)."""

    def train(
        self, weights: ModelWeights, cohort: CohortData, inputs: RoundInputs
    ) -> ClientOutputs:
        """Trains every client of `cohort` from `weights`; outputs stacked over clients."""

    def evaluate(self, weights: ModelWeights, cohort: CohortData) -> Nest:
        """Stacked unfinalized metrics of `weights` on every client's batches."""
