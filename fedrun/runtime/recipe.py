"""Recipes: what a worker process builds its trainers from, as plain picklable data.

A runtime whose client work runs in other processes (`ray`) never ships the run:
each worker gets one `WorkerRecipe` (the data source and the model builder with
their parsed parameters, the seed and the preprocessing that fixes batch shapes)
when it starts, and every request names its trainer by a `TrainerRecipe` (the
algorithm's local rule and the client optimizer). A worker builds each trainer
from its recipe once, around its own copy of the model.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional

from fedrun.config.registry import Choice
from fedrun.data.build import load_data
from fedrun.data.client_data import FederatedData
from fedrun.data.preprocess import PreprocessConfig
from fedrun.data.registry import DataContext
from fedrun.models.build import ModelSpec, make_model
from fedrun.optimizers import Optimizer
from fedrun.runtime.rule import LocalRule
from fedrun.runtime.variable_trainer import LearningModel, learning_model


@dataclasses.dataclass(frozen=True)
class WorkerRecipe:
    """The run's data and model, as a worker rebuilds them.

    Attributes:
        dataset: The data set option and its parameters (a worker reads the
            clients it is sent, by id).
        model: The model builder and its parameters.
        seed: The run's seed (partitions, model initialization).
        preprocess: Client preprocessing (batch size, epochs, flattening).
        transform_data: What the driver did to the data after loading it (a data
            attack poisons its Byzantine clients' examples), as a picklable
            callable; None: nothing.
    """

    dataset: Choice[FederatedData]
    model: ModelSpec
    seed: int
    preprocess: PreprocessConfig
    transform_data: Optional[Callable[[FederatedData], FederatedData]] = None

    def build_data(self) -> FederatedData:
        """The run's federated data, loaded (and transformed) as the driver's was."""
        data = load_data(self.dataset, DataContext(self.seed, self.preprocess))
        return data if self.transform_data is None else self.transform_data(data)

    def build_model(self, data: FederatedData) -> LearningModel:
        """The run's model for `data`, initialized as the driver's was."""
        return learning_model(make_model(self.model, data, self.seed))


@dataclasses.dataclass(frozen=True)
class TrainerRecipe:
    """One trainer of the run.

    Attributes:
        rule: The algorithm's local rule (rules hold no model, so they pickle).
        optimizer: The client optimizer; None for a trainer that only evaluates.
    """

    rule: LocalRule
    optimizer: Optional[Optimizer]
