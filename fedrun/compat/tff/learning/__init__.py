"""TFF's `tff.learning` on fedrun's learning algorithms, models and optimizers."""

from fedrun.compat.tff.learning import algorithms, metrics, models, optimizers, templates
from fedrun.compat.tff.learning.algorithms import ClientWeighting
from fedrun.compat.tff.learning.model_update_aggregator import (
    compression_aggregator,
    dp_aggregator,
    robust_aggregator,
    secure_aggregator,
)
from fedrun.compat.tff.unsupported import LEARNING, error


def __getattr__(name: str) -> object:
    raise error("tff.learning", name, LEARNING)


__all__ = ["ClientWeighting", "algorithms", "metrics", "models", "optimizers", "templates"]
__all__ += [
    "compression_aggregator",
    "dp_aggregator",
    "model_update_aggregator",
    "robust_aggregator",
    "secure_aggregator",
]
