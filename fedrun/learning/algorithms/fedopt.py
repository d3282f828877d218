"""FedOpt (Reddi et al. 2021, "Adaptive Federated Optimization"): FedAvg whose server
applies the averaged client update with an adaptive optimizer.

Clients train as in FedAvg; the server treats the averaged update `Delta_t` as a
pseudo-gradient (fedrun's updates are `initial - final`, the negative of the
paper's `Delta_t`, so the server *descends* along them; every formula below is the
paper's with that sign folded in). Server optimizers, as in the paper's Algorithm 2
(`fedrun.optimizers` with `tau` set):

* `adam` (FedAdam): `m = b1 m + (1 - b1) D`, `v = b2 v + (1 - b2) D^2`,
  `w = w - eta m / (sqrt(v) + tau)`.
* `yogi` (FedYogi): as Adam with `v = v - (1 - b2) D^2 sign(v - D^2)`.
* `adagrad` (FedAdagrad): as Adam with `v = v + D^2`.
* `sgdm` (FedAvgM, Hsu et al. 2019, the paper's baseline): `a = beta a + D`,
  `w = w - eta a`.

`tau` is the paper's adaptivity constant (the optimizers' epsilon) and the second
moment starts at `v_{-1} = tau^2`, the smallest value Algorithm 2 allows. Algorithm 2
has no bias correction, so it is off (`bias_correction: true` gives Kingma & Ba's
corrected Adam/Yogi). The presets' `b1 = 0.9`, `b2 = 0.99` are the paper's fixed
choices; `eta` and `tau` are tuned per task in the paper (`tau = 1e-3` is within
its grid).

The server optimizer is the run's `server_optimizer` group, as for every algorithm:
the presets `algorithm=fedadam|fedyogi|fedadagrad|fedavgm|fedopt` select
`server_optimizer=adam|yogi|adagrad|sgdm` (`conf/server_optimizer/`), whose settings
are `server_optimizer.<key>`. A complete `algorithm.server_optimizer` node (with its
`type`), where FedOpt's server optimizer used to be configured, is still accepted and
replaces the group's, with that place's defaults. A `server_lr_schedule` scales the
server optimizer's learning rate.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Mapping, Optional

from fedrun.config.errors import ConfigError
from fedrun.config.registry import TYPE_KEY, Choice
from fedrun.learning.algorithms.fedavg import build_fed_avg_from_context
from fedrun.learning.algorithms.registry import ALGORITHMS, AlgorithmContext
from fedrun.learning.process import LearningProcess
from fedrun.learning.schedules import RoundSchedule
from fedrun.optimizers import OPTIMIZERS, Optimizer

logger = logging.getLogger(__name__)

# FedOpt's server optimizers come from the one optimizer registry (the name it had
# when FedOpt kept its own).
SERVER_OPTIMIZERS = OPTIMIZERS

NODE_PATH = "algorithm.server_optimizer"

# The defaults an `algorithm.server_optimizer` node had, so a node written for that
# place keeps its numbers (`conf/server_optimizer/` spells out the same values).
NODE_DEFAULTS: Mapping[str, Mapping[str, Any]] = {
    "adam": {"learning_rate": 0.01, "tau": 1e-3, "beta_1": 0.9, "beta_2": 0.99},
    "yogi": {"learning_rate": 0.01, "tau": 1e-3, "beta_1": 0.9, "beta_2": 0.99},
    "adagrad": {"learning_rate": 0.01, "tau": 1e-3, "beta_1": 0.9},
    "sgdm": {"learning_rate": 1.0, "momentum": 0.9},
}


def server_optimizer_choice(node: Any) -> Choice[Optimizer]:
    """The optimizer an `algorithm.server_optimizer` node describes (with its defaults)."""
    if not isinstance(node, Mapping) or TYPE_KEY not in node:
        raise ConfigError(
            NODE_PATH,
            "FedOpt's server optimizer is the server_optimizer group: set "
            "server_optimizer.<key> (the presets select server_optimizer=adam|yogi|adagrad|sgdm), "
            "or give this node a complete optimizer with its 'type'",
            node,
        )
    return OPTIMIZERS.choose({**NODE_DEFAULTS.get(node[TYPE_KEY], {}), **node}, NODE_PATH)


@dataclasses.dataclass(frozen=True)
class FedOptParams:
    """FedOpt's parameters.

    Attributes:
        weighted: Weight client updates by examples processed.
        server_optimizer: A complete optimizer node (`{type: adam | yogi | adagrad |
            sgdm, ...}`) replacing the `server_optimizer` group's; null uses the group.
    """

    weighted: bool = True
    server_optimizer: Optional[dict[str, Any]] = None

    def __post_init__(self) -> None:
        if self.server_optimizer is not None:
            server_optimizer_choice(self.server_optimizer)


@ALGORITHMS.register("fedopt", FedOptParams)
def _fedopt(p: FedOptParams, context: AlgorithmContext) -> LearningProcess:
    """FedOpt: FedAvg with an adaptive server optimizer (FedAdam, FedYogi, FedAdagrad, FedAvgM)."""
    if p.server_optimizer is None:
        return build_fed_avg_from_context(context, p.weighted)
    logger.warning(
        "%s replaces the server_optimizer group for this run; prefer server_optimizer=%s "
        "and server_optimizer.<key>",
        NODE_PATH,
        p.server_optimizer[TYPE_KEY],
    )
    server_optimizer = server_optimizer_choice(p.server_optimizer).build()
    schedule = context.server_lr_schedule
    if isinstance(schedule, RoundSchedule):
        schedule = schedule.rebased(server_optimizer.learning_rate)
    return build_fed_avg_from_context(
        context, p.weighted, server_optimizer=server_optimizer, server_lr_schedule=schedule
    )
