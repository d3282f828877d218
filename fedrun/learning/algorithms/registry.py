"""The registry of learning algorithms (`algorithm: {type: NAME}`).

A builder takes its parameters and the `AlgorithmContext` (everything built from
the other config groups) and returns a `LearningProcess`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional

from fedrun.aggregators.build import AggregatorContext
from fedrun.config.registry import Registry
from fedrun.data.preprocess import PreprocessConfig
from fedrun.learning.process import LearningProcess
from fedrun.models.functional import FunctionalModel
from fedrun.optimizers import Optimizer
from fedrun.runtime.base import Runtime

LearningRateSchedule = Callable[[int], float]


@dataclasses.dataclass(frozen=True)
class AlgorithmContext:
    """Objects built from the rest of the config, handed to an algorithm builder.

    Attributes:
        model: The model.
        client_optimizer: The client optimizer.
        server_optimizer: The server optimizer.
        aggregator_node: The `aggregator` config node (the algorithm builds the
            factory, since it decides whether aggregation is weighted).
        allowed_targets: Module prefixes `_target_` may name.
        aggregator_context: Run facts for aggregator factories (cohort, population).
        runtime: Where client work executes.
        client_lr_schedule: Round -> client learning rate, if scheduled.
        server_lr_schedule: Round -> server learning rate, if scheduled.
        preprocess: The client preprocessing (algorithms that constrain local
            epochs check it), if known.
    """

    model: FunctionalModel
    client_optimizer: Optimizer
    server_optimizer: Optimizer
    aggregator_node: Any
    allowed_targets: tuple[str, ...]
    aggregator_context: AggregatorContext
    runtime: Runtime
    client_lr_schedule: Optional[LearningRateSchedule] = None
    server_lr_schedule: Optional[LearningRateSchedule] = None
    preprocess: Optional[PreprocessConfig] = None


ALGORITHMS: Registry[LearningProcess] = Registry("algorithm")
