"""FedOpt (Reddi et al. 2021, "Adaptive Federated Optimization"): FedAvg whose server
applies the averaged client update with an adaptive optimizer.

Clients train as in FedAvg; the server treats the averaged update `Delta_t` as a
pseudo-gradient (fedrun's updates are `initial - final`, the negative of the
paper's `Delta_t`, so the server *descends* along them; every formula below is the
paper's with that sign folded in). Server optimizers, as in the paper's Algorithm 2:

* `adam` (FedAdam): `m = b1 m + (1 - b1) D`, `v = b2 v + (1 - b2) D^2`,
  `w = w - eta m / (sqrt(v) + tau)`.
* `yogi` (FedYogi): as Adam with `v = v - (1 - b2) D^2 sign(v - D^2)`.
* `adagrad` (FedAdagrad): as Adam with `v = v + D^2`.
* `sgdm` (FedAvgM, Hsu et al. 2019, the paper's baseline): `a = beta a + D`,
  `w = w - eta a`.

`tau` is the paper's adaptivity constant (the optimizers' epsilon) and the second
moment starts at `v_{-1} = tau^2`, the smallest value Algorithm 2 allows. Algorithm 2
has no bias correction, so it is off by default (`bias_correction: true` gives
Kingma & Ba's corrected Adam/Yogi). Defaults `b1 = 0.9`, `b2 = 0.99` are the
paper's fixed choices; `eta` and `tau` are tuned per task in the paper
(`tau = 1e-3` is within its grid).

FedOpt's server optimizer is configured here, under `algorithm.server_optimizer`;
the top-level `server_optimizer` group is not used by this algorithm. A
`server_lr_schedule` scales this optimizer's learning rate.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import tensorflow as tf

from fedrun.config.params import bounded
from fedrun.config.registry import Registry
from fedrun.learning.algorithms.fedavg import build_fed_avg_from_context
from fedrun.learning.algorithms.registry import ALGORITHMS, AlgorithmContext
from fedrun.learning.process import LearningProcess
from fedrun.learning.schedules import RoundSchedule
from fedrun.optimizers import SGD, Adam, Optimizer, Yogi, expand_per_client

Nest = Any


def _filled(specs: Nest, value: float) -> Nest:
    """Tensors shaped like `specs` (specs or tensors) holding `value`."""

    def fill(spec: Any) -> tf.Tensor:
        shape = tf.shape(spec) if isinstance(spec, tf.Tensor) else spec.shape
        return tf.fill(shape, tf.constant(value, spec.dtype))

    return tf.nest.map_structure(fill, specs)


class FedAdagrad(Optimizer):
    """Algorithm 2's FedAdagrad: first moment `m` with decay `beta_1`, `v += D^2`.

    With `beta_1 = 0` it is plain Adagrad with initial accumulator `tau^2`.
    """

    def __init__(self, learning_rate: float, beta_1: float, tau: float) -> None:
        super().__init__(learning_rate)
        self.beta_1, self.tau = float(beta_1), float(tau)

    def _slots(self, specs: Nest, batch_shape: Sequence[int]) -> dict[str, Any]:
        return {"m": _filled(specs, 0.0), "v": _filled(specs, self.tau**2)}

    def next(
        self, state: dict[str, Any], weights: Nest, gradients: Nest
    ) -> tuple[dict[str, Any], Nest]:
        m = tf.nest.map_structure(
            lambda m_, g: self.beta_1 * m_ + (1.0 - self.beta_1) * g, state["m"], gradients
        )
        v = tf.nest.map_structure(lambda v_, g: v_ + tf.square(g), state["v"], gradients)
        lr = state["learning_rate"]
        new_weights = tf.nest.map_structure(
            lambda w, m_, v_: w - expand_per_client(lr, w) * m_ / (tf.sqrt(v_) + self.tau),
            weights,
            m,
            v,
        )
        return {**state, "m": m, "v": v}, new_weights


SERVER_OPTIMIZERS: Registry[Optimizer] = Registry("fedopt server optimizer")


@dataclasses.dataclass(frozen=True)
class AdaptiveParams:
    """FedAdam / FedYogi settings.

    Attributes:
        learning_rate: The server learning rate eta.
        tau: Adaptivity (epsilon); the second moment starts at tau^2.
        beta_1: First-moment decay.
        beta_2: Second-moment decay.
        bias_correction: Kingma & Ba's correction (not in Algorithm 2).
    """

    learning_rate: float = bounded(0.01, gt=0)
    tau: float = bounded(1e-3, gt=0)
    beta_1: float = bounded(0.9, ge=0, lt=1)
    beta_2: float = bounded(0.99, ge=0, lt=1)
    bias_correction: bool = False


@dataclasses.dataclass(frozen=True)
class AdagradParams:
    """FedAdagrad settings.

    Attributes:
        learning_rate: The server learning rate eta.
        tau: Adaptivity (epsilon); the accumulator starts at tau^2.
        beta_1: First-moment decay (0 is plain Adagrad).
    """

    learning_rate: float = bounded(0.01, gt=0)
    tau: float = bounded(1e-3, gt=0)
    beta_1: float = bounded(0.9, ge=0, lt=1)


@dataclasses.dataclass(frozen=True)
class MomentumParams:
    """FedAvgM settings.

    Attributes:
        learning_rate: The server learning rate.
        momentum: Server momentum.
        nesterov: Nesterov momentum.
    """

    learning_rate: float = bounded(1.0, gt=0)
    momentum: float = bounded(0.9, ge=0, lt=1)
    nesterov: bool = False


@SERVER_OPTIMIZERS.register("adam", AdaptiveParams)
def _adam(p: AdaptiveParams) -> Optimizer:
    """FedAdam's server optimizer."""
    return Adam(p.learning_rate, p.beta_1, p.beta_2, p.tau, p.tau**2, p.bias_correction)


@SERVER_OPTIMIZERS.register("yogi", AdaptiveParams)
def _yogi(p: AdaptiveParams) -> Optimizer:
    """FedYogi's server optimizer."""
    return Yogi(p.learning_rate, p.beta_1, p.beta_2, p.tau, p.tau**2, p.bias_correction)


@SERVER_OPTIMIZERS.register("adagrad", AdagradParams)
def _adagrad(p: AdagradParams) -> Optimizer:
    """FedAdagrad's server optimizer."""
    return FedAdagrad(p.learning_rate, p.beta_1, p.tau)


@SERVER_OPTIMIZERS.register("sgdm", MomentumParams)
def _sgdm(p: MomentumParams) -> Optimizer:
    """FedAvgM's server optimizer (SGD with momentum)."""
    return SGD(p.learning_rate, p.momentum, p.nesterov)


@dataclasses.dataclass(frozen=True)
class FedOptParams:
    """FedOpt's parameters.

    Attributes:
        server_optimizer: `{type: adam | yogi | adagrad | sgdm, ...}`.
        weighted: Weight client updates by examples processed.
    """

    server_optimizer: dict[str, Any] = dataclasses.field(default_factory=lambda: {"type": "adam"})
    weighted: bool = True

    def __post_init__(self) -> None:
        SERVER_OPTIMIZERS.parse(self.server_optimizer, "algorithm.server_optimizer")


@ALGORITHMS.register("fedopt", FedOptParams)
def _fedopt(p: FedOptParams, context: AlgorithmContext) -> LearningProcess:
    """FedOpt: FedAvg with an adaptive server optimizer (FedAdam, FedYogi, FedAdagrad, FedAvgM)."""
    server_optimizer = SERVER_OPTIMIZERS.build(p.server_optimizer, "algorithm.server_optimizer")
    schedule = context.server_lr_schedule
    if isinstance(schedule, RoundSchedule):
        schedule = schedule.rebased(server_optimizer.learning_rate)
    return build_fed_avg_from_context(
        context, p.weighted, server_optimizer=server_optimizer, server_lr_schedule=schedule
    )
