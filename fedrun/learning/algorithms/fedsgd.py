"""FedSGD (McMahan et al. 2017, "Communication-Efficient Learning of Deep Networks
from Decentralized Data", the FedSGD baseline).

Each client computes one gradient of its loss over all of its examples at the
broadcast model and sends it; the server averages the gradients (weighted by
examples, so the average is the full-data gradient of the cohort) and the server
optimizer takes one step along it: `w <- w - eta * sum_k n_k g_k / sum_k n_k`. No
local steps are taken, so the client optimizer is unused; the server learning
rate is the step size.

One pass over each client's data defines the gradient, so `preprocess.epochs` must
be 1 (more epochs would only repeat the same examples).
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from fedrun.config.errors import ConfigError
from fedrun.learning.algorithms.fedavg import build_fed_avg, build_fed_avg_from_context
from fedrun.learning.algorithms.registry import ALGORITHMS, AlgorithmContext
from fedrun.learning.process import LearningProcess
from fedrun.models.functional import FunctionalModel
from fedrun.optimizers import Optimizer
from fedrun.runtime.trainer import LocalRule


class FullGradientRule(LocalRule):
    """Sends the mean gradient over the client's examples at the broadcast model."""

    gradient_at_initial = True
    local_steps = False

    def update(
        self, initial: list[tf.Tensor], final: list[tf.Tensor], initial_gradient: list[tf.Tensor]
    ) -> list[tf.Tensor]:
        return list(initial_gradient)


def build_fed_sgd(
    model: FunctionalModel, client_optimizer: Optimizer, **kwargs: object
) -> LearningProcess:
    """FedSGD: `build_fed_avg` whose clients send one full-data gradient (same keywords)."""
    return build_fed_avg(model, client_optimizer, rule=FullGradientRule(), **kwargs)  # type: ignore[arg-type]


@dataclasses.dataclass(frozen=True)
class FedSGDParams:
    """FedSGD's parameters.

    Attributes:
        weighted: Weight gradients by client examples (the cohort's full-data gradient).
    """

    weighted: bool = True


@ALGORITHMS.register("fedsgd", FedSGDParams)
def _fedsgd(p: FedSGDParams, context: AlgorithmContext) -> LearningProcess:
    """FedSGD: one full-batch gradient per client, one server step per round."""
    if context.preprocess is not None and context.preprocess.epochs != 1:
        raise ConfigError(
            "preprocess.epochs",
            "fedsgd computes one gradient over each client's data, so it takes exactly one local epoch",
            context.preprocess.epochs,
            "1",
        )
    return build_fed_avg_from_context(context, p.weighted, rule=FullGradientRule())
