"""Mime Lite (Karimireddy et al., "Breaking the centralized barrier for cross-device
federated learning", NeurIPS 2021; arXiv 2020 as "Mime: Mimicking Centralized
Stochastic Algorithms in Federated Learning"), with SGD momentum as the base
optimizer.

The server keeps the base optimizer's momentum. Clients take local steps with that
momentum *frozen* (it is not updated during local training), and also compute
their full-batch gradient at the server model. The server averages the client
models (through the run's aggregator and server optimizer; SGD with learning rate
1 is the paper's plain average) and updates the momentum with the averaged
full-batch gradient only, so the momentum tracks the global objective rather than
any client's drift.

fedrun's SGD momentum is heavy-ball, `a <- beta a + g; w <- w - lr a`, so:

* client step: `y <- y - lr (g_i(y) + beta a)`;
* server momentum: `a <- beta a + mean_i grad f_i(x)`.

The paper writes momentum with dampening, `m <- beta m + (1 - beta) g` and
`y <- y - eta ((1 - beta) g + beta m)`; with `a = m / (1 - beta)` the two are the
same algorithm for `lr = eta (1 - beta)`.

The paper analyses Mime with SGD momentum (and runs Adam variants of full Mime);
fedrun supports Mime Lite with SGD momentum only: the client optimizer must be
`sgd`/`sgdm` without Nesterov, its `momentum` is beta and its learning rate is the
local step size. Momentum 0 degenerates to FedAvg.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Any, Optional, Union

import tensorflow as tf

from fedrun.aggregators.build import build_aggregator
from fedrun.aggregators.factory import AggregationFactory
from fedrun.config.errors import ConfigError
from fedrun.core import intrinsics
from fedrun.core.placements import AtClients
from fedrun.core.processes import MeasuredProcess, MeasuredProcessOutput
from fedrun.data.cohort import CohortData
from fedrun.learning.algorithms.fedavg import compose_model_delta_algorithm
from fedrun.learning.algorithms.registry import ALGORITHMS, AlgorithmContext, LearningRateSchedule
from fedrun.learning.client_work import ModelDeltaClientWork
from fedrun.learning.process import LearningProcess
from fedrun.models.functional import FunctionalModel
from fedrun.models.variable_model import VariableModel
from fedrun.optimizers import SGD, Optimizer
from fedrun.runtime.base import Runtime
from fedrun.runtime.local import VectorizedRuntime
from fedrun.runtime.trainer import LocalRule, RoundInputs
from fedrun.runtime.variable_trainer import LearningModel, learning_model


class FrozenMomentumRule(LocalRule):
    """Local steps along `g + beta * a` with the server's accumulator `a` frozen.

    Round inputs: `broadcast` is the server's accumulator. Extra outputs: the
    client's full-batch gradient at the broadcast model.
    """

    gradient_at_initial = True

    def __init__(self, momentum: float) -> None:
        self.momentum = float(momentum)

    def adjust_gradients(
        self,
        gradients: list[tf.Tensor],
        weights: list[tf.Tensor],
        initial: list[tf.Tensor],
        inputs: RoundInputs,
    ) -> list[tf.Tensor]:
        return [g + self.momentum * a for g, a in zip(gradients, inputs.broadcast)]

    def client_outputs(
        self,
        initial: list[tf.Tensor],
        final: list[tf.Tensor],
        initial_gradient: list[tf.Tensor],
        num_steps: tf.Tensor,
        inputs: RoundInputs,
    ) -> Any:
        return list(initial_gradient)


class MimeLiteClientWork(MeasuredProcess):
    """Client work of Mime Lite; holds the server's momentum.

    Args:
        model: The model.
        base_optimizer: SGD (with momentum beta): the optimizer Mime Lite mimics.
        runtime: Where client training executes.
        weighted: Weight updates and full gradients by examples processed.
        learning_rate_schedule: Round -> client learning rate.

    State: `{momentum}` (the accumulator `a`, a list shaped like the trainable
    weights). Measurements: `{train: {...}, full_gradient_norm, momentum_norm}`:
    the norm of the cohort's mean full-batch gradient and of the new momentum.
    """

    def __init__(
        self,
        model: LearningModel,
        base_optimizer: SGD,
        runtime: Runtime,
        weighted: bool = True,
        learning_rate_schedule: Optional[LearningRateSchedule] = None,
    ) -> None:
        check_sgd_momentum(base_optimizer)
        self.momentum = base_optimizer.momentum
        # Local steps are plain SGD steps along the rule's momentum-corrected direction.
        local_sgd = SGD(base_optimizer.learning_rate)
        rule = FrozenMomentumRule(self.momentum)
        self.inner = ModelDeltaClientWork(
            model, local_sgd, runtime, rule, weighted, learning_rate_schedule
        )
        self._specs = model.weight_specs.trainable
        super().__init__(self._initialize, self._next)

    def _initialize(self) -> collections.OrderedDict:
        return collections.OrderedDict(momentum=[tf.zeros(s.shape, s.dtype) for s in self._specs])

    def _next(self, state: Any, weights: AtClients, cohort: CohortData) -> MeasuredProcessOutput:
        momentum = list(state["momentum"])
        count = cohort.num_clients
        outputs = self.inner.run(weights, cohort, broadcast=momentum)
        result, train = self.inner.summarize(outputs, count)
        # The update weights are the examples processed, or ones when unweighted.
        weights_of_clients = AtClients(result.value.update_weight, count)
        mean_gradient = intrinsics.mean(
            AtClients(list(outputs.extra), count), weights_of_clients
        ).value
        new_momentum = [self.momentum * a + g for a, g in zip(momentum, mean_gradient)]
        measurements = collections.OrderedDict(
            train=train,
            full_gradient_norm=tf.linalg.global_norm(mean_gradient),
            momentum_norm=tf.linalg.global_norm(new_momentum),
        )
        return MeasuredProcessOutput(
            collections.OrderedDict(momentum=new_momentum), result, measurements
        )


def check_sgd_momentum(optimizer: Optimizer) -> None:
    """Raises ValueError unless `optimizer` is SGD (any momentum) without Nesterov."""
    if not isinstance(optimizer, SGD) or optimizer.nesterov:
        kind = type(optimizer).__name__ + (
            " with Nesterov momentum" if isinstance(optimizer, SGD) else ""
        )
        raise ValueError(
            f"Mime Lite is supported with an SGD-momentum base optimizer only, got {kind}"
        )


def build_mime_lite(
    model: Union[FunctionalModel, VariableModel],
    base_optimizer: SGD,
    server_optimizer: Optional[Optimizer] = None,
    model_aggregator: Optional[AggregationFactory] = None,
    runtime: Optional[Runtime] = None,
    weighted: bool = True,
    client_lr_schedule: Optional[LearningRateSchedule] = None,
    server_lr_schedule: Optional[LearningRateSchedule] = None,
) -> LearningProcess:
    """Builds Mime Lite.

    Args:
        model: The model to train (a `VariableModel` trains one client at a time).
        base_optimizer: SGD with momentum beta and the local learning rate.
        server_optimizer: Applies the averaged model update; default SGD(1.0).
        model_aggregator: Aggregation factory of the updates; default `MeanFactory()`.
        runtime: Executes client work; default vectorized.
        weighted: Weight by examples processed (the paper averages unweighted).
        client_lr_schedule: Round -> local learning rate.
        server_lr_schedule: Round -> server learning rate.
    """
    model = learning_model(model)
    client_work = MimeLiteClientWork(
        model, base_optimizer, runtime or VectorizedRuntime(), weighted, client_lr_schedule
    )
    return compose_model_delta_algorithm(
        model, client_work, server_optimizer, model_aggregator, weighted, server_lr_schedule
    )


@dataclasses.dataclass(frozen=True)
class MimeLiteParams:
    """Mime Lite's parameters (beta and the step size come from `client_optimizer`).

    Attributes:
        weighted: Weight updates and full gradients by examples processed.
    """

    weighted: bool = True


@ALGORITHMS.register("mime_lite", MimeLiteParams)
def _mime_lite(p: MimeLiteParams, context: AlgorithmContext) -> LearningProcess:
    """Mime Lite: clients apply the server's frozen SGD momentum; the server updates it with full gradients."""
    optimizer = context.client_optimizer
    if not isinstance(optimizer, SGD):
        raise ConfigError(
            "client_optimizer.type",
            "mime_lite mimics SGD with momentum (its published form); other base optimizers are not supported",
            type(optimizer).__name__.lower(),
            ["sgd", "sgdm"],
        )
    if optimizer.nesterov:
        raise ConfigError(
            "client_optimizer.nesterov",
            "mime_lite supports heavy-ball SGD momentum only",
            True,
            "false",
        )
    factory = build_aggregator(
        context.aggregator_node,
        "aggregator",
        p.weighted,
        context.allowed_targets,
        context.aggregator_context,
    )
    return build_mime_lite(
        context.model,
        optimizer,
        context.server_optimizer,
        factory,
        context.runtime,
        p.weighted,
        context.client_lr_schedule,
        context.server_lr_schedule,
    )
