"""The registry of learning algorithms (`algorithm: {type: NAME}`).

A builder takes its parameters and one `AlgorithmContext` (everything built from
the other config groups) and returns a `LearningProcess`.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional

from fedrun.aggregators.build import AggregatorSpec, check_weighting
from fedrun.aggregators.factory import AggregationFactory
from fedrun.config.registry import Registry
from fedrun.data.preprocess import PreprocessConfig
from fedrun.learning.process import LearningProcess
from fedrun.optimizers import Optimizer
from fedrun.runtime.base import Runtime
from fedrun.runtime.variable_trainer import LearningModel

LearningRateSchedule = Callable[[int], float]


@dataclasses.dataclass(frozen=True)
class AlgorithmContext:
    """Objects built from the rest of the run's spec, handed to an algorithm builder.

    Attributes:
        model: The model.
        client_optimizer: The client optimizer.
        server_optimizer: The server optimizer.
        aggregator: The run's aggregator tree, built once (the algorithm checks it
            fits its weighting through `model_aggregator`).
        runtime: Where client work executes.
        num_clients: The population size (SCAFFOLD's server control variate
            averages over it).
        aggregator_spec: The parsed tree `aggregator` was built from (its config
            path and name, for messages); None for a factory built in code.
        client_lr_schedule: Round -> client learning rate, if scheduled.
        server_lr_schedule: Round -> server learning rate, if scheduled.
        preprocess: The client preprocessing (algorithms that constrain local
            epochs check it), if known.
    """

    model: LearningModel
    client_optimizer: Optimizer
    server_optimizer: Optimizer
    aggregator: AggregationFactory
    runtime: Runtime
    num_clients: int
    aggregator_spec: Optional[AggregatorSpec] = None
    client_lr_schedule: Optional[LearningRateSchedule] = None
    server_lr_schedule: Optional[LearningRateSchedule] = None
    preprocess: Optional[PreprocessConfig] = None

    def model_aggregator(self, weighted: bool) -> AggregationFactory:
        """The run's aggregator, checked to fit an algorithm that does (not) weight updates."""
        spec = self.aggregator_spec
        return check_weighting(
            self.aggregator,
            weighted,
            spec.path if spec is not None else "aggregator",
            spec.name if spec is not None else type(self.aggregator).__name__,
        )


ALGORITHMS: Registry[LearningProcess] = Registry("algorithm")
