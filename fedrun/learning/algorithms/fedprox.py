"""FedProx (Li et al. 2020, "Federated Optimization in Heterogeneous Networks").

FedAvg whose clients minimize `F_k(w) + mu/2 ||w - w_t||^2`, the proximal term
anchoring local training to the round's global model `w_t`: each local step follows
`grad F_k(w) + mu (w - w_t)` (the paper's Algorithm 2; the released code's
`PerturbedGradientDescent` takes exactly this step). `mu = 0` is FedAvg.

FedProx tolerates partial work (the paper's gamma-inexact solutions): under
simulated stragglers it aggregates what slow clients finished rather than dropping
them (`LearningProcess.accepts_partial_work`).
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from fedrun.config.params import bounded
from fedrun.learning.algorithms.fedavg import build_fed_avg, build_fed_avg_from_context
from fedrun.learning.algorithms.registry import ALGORITHMS, AlgorithmContext
from fedrun.learning.process import LearningProcess
from fedrun.models.functional import FunctionalModel
from fedrun.optimizers import Optimizer
from fedrun.runtime.trainer import LocalRule, RoundInputs


class ProximalRule(LocalRule):
    """Local steps along `gradient + mu * (w - w_initial)`.

    Args:
        mu: The proximal coefficient (>= 0).
    """

    def __init__(self, mu: float) -> None:
        if mu < 0:
            raise ValueError(f"the proximal coefficient mu must be >= 0, got {mu}")
        self.mu = float(mu)

    def adjust_gradients(
        self,
        gradients: list[tf.Tensor],
        weights: list[tf.Tensor],
        initial: list[tf.Tensor],
        inputs: RoundInputs,
    ) -> list[tf.Tensor]:
        return [g + self.mu * (w - w0) for g, w, w0 in zip(gradients, weights, initial)]


def build_fed_prox(
    model: FunctionalModel, client_optimizer: Optimizer, mu: float, **kwargs: object
) -> LearningProcess:
    """FedProx: `build_fed_avg` with the proximal local rule (same keyword arguments)."""
    process = build_fed_avg(model, client_optimizer, rule=ProximalRule(mu), **kwargs)  # type: ignore[arg-type]
    process.accepts_partial_work = True
    return process


@dataclasses.dataclass(frozen=True)
class FedProxParams:
    """FedProx's parameters.

    Attributes:
        mu: Proximal coefficient (the paper's mu; 0 is FedAvg).
        weighted: Weight client updates by examples processed (the released code's
            aggregation); false gives every client the same weight.
    """

    mu: float = bounded(0.01, ge=0)
    weighted: bool = True


@ALGORITHMS.register("fedprox", FedProxParams)
def _fedprox(p: FedProxParams, context: AlgorithmContext) -> LearningProcess:
    """FedProx: FedAvg with a proximal term mu/2 ||w - w_t||^2 in local training."""
    process = build_fed_avg_from_context(context, p.weighted, rule=ProximalRule(p.mu))
    process.accepts_partial_work = True
    return process
