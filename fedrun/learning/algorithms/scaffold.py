"""SCAFFOLD (Karimireddy et al. 2020, "SCAFFOLD: Stochastic Controlled Averaging for
Federated Learning"), Algorithm 1 with option II.

The server keeps a control variate `c` and every client `i` its own `c_i` (zero
until the client first trains). Each local step corrects the client's gradient by
`c - c_i`:  `y <- y - eta_l (g_i(y) - c_i + c)`. After `K` steps the client's new
control variate is (option II) `c_i+ = c_i - c + (x - y) / (K eta_l)`, and it sends
`(x - y, c_i+ - c_i)`. The server averages the model updates (unweighted in the
paper) and applies them with the server optimizer (SGD with learning rate eta_g is
the paper's `x <- x + eta_g Delta x`), and moves `c <- c + |S|/N mean(c_i+ - c_i)`,
keeping `c` the mean of all `N` clients' control variates.

`K` is each client's own number of local steps (clients differ in data size), and
a client that took no step keeps its `c_i`. Option II's `(x - y) / (K eta_l)` is the
mean of the corrected gradients only for plain SGD steps, so the client optimizer
must be SGD without momentum.

Clients' `c_i` live in a `ClientStateStore` (`LearningProcess.client_states`), not
in the server state: a round reads and writes only its cohort's rows.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Any, Optional

import tensorflow as tf

from fedrun.aggregators.factory import AggregationFactory
from fedrun.config.errors import ConfigError
from fedrun.core import intrinsics
from fedrun.core.placements import AtClients
from fedrun.core.processes import MeasuredProcess, MeasuredProcessOutput
from fedrun.data.cohort import CohortData
from fedrun.learning.algorithms.fedavg import compose_model_delta_algorithm
from fedrun.learning.algorithms.registry import ALGORITHMS, AlgorithmContext, LearningRateSchedule
from fedrun.learning.client_states import ClientStateStore
from fedrun.learning.client_work import ModelDeltaClientWork
from fedrun.learning.process import LearningProcess
from fedrun.optimizers import SGD, Optimizer, expand_per_client
from fedrun.runtime.base import Runtime
from fedrun.runtime.local import VectorizedRuntime
from fedrun.runtime.probe import is_dry_run
from fedrun.runtime.trainer import LocalRule, RoundInputs
from fedrun.runtime.variable_trainer import AnyModel, LearningModel, learning_model


def client_norms(stacked: list[tf.Tensor]) -> tf.Tensor:
    """Each client's global L2 norm of a stacked list of tensors (`[K]`)."""
    squares = [
        tf.reduce_sum(tf.reshape(tf.square(t), [tf.shape(t)[0], -1]), axis=1) for t in stacked
    ]
    return tf.sqrt(tf.add_n(squares))


class ControlVariateRule(LocalRule):
    """SCAFFOLD's corrected local steps and option-II control-variate update.

    Round inputs: `broadcast` is the server's `c`, `per_client` the clients' `c_i`.
    Extra outputs: `(c_i+, c_i+ - c_i)`.
    """

    def adjust_gradients(
        self,
        gradients: list[tf.Tensor],
        weights: list[tf.Tensor],
        initial: list[tf.Tensor],
        inputs: RoundInputs,
    ) -> list[tf.Tensor]:
        return [g - c_i + c for g, c_i, c in zip(gradients, inputs.per_client, inputs.broadcast)]

    def client_outputs(
        self,
        initial: list[tf.Tensor],
        final: list[tf.Tensor],
        initial_gradient: list[tf.Tensor],
        num_steps: tf.Tensor,
        inputs: RoundInputs,
    ) -> Any:
        steps = tf.cast(tf.maximum(num_steps, 1), tf.float32)
        scale = 1.0 / (steps * inputs.learning_rate)
        trained = num_steps > 0
        new_controls = []
        for x, y, c_i, c in zip(initial, final, inputs.per_client, inputs.broadcast):
            option_two = c_i - c + expand_per_client(scale, x) * (x - y)
            new_controls.append(tf.where(expand_per_client(trained, x), option_two, c_i))
        deltas = [new - old for new, old in zip(new_controls, inputs.per_client)]
        return new_controls, deltas


class ScaffoldClientWork(MeasuredProcess):
    """Client work with control variates.

    Args:
        model: The model.
        optimizer: The client optimizer (plain SGD).
        runtime: Where client training executes.
        store: The clients' control variates.
        num_clients: Population size N (the server's `c` is the mean over N clients).
        weighted: Weight model updates by examples processed.
        learning_rate_schedule: Round -> client learning rate.

    State: `{control_variate}` (the server's `c`, a list shaped like the trainable
    weights). Measurements: `{train: {...}, control_variates: {server_norm,
    client_norm, update_norm}}`: the norm of the new `c`, the cohort's mean norm of
    its new `c_i`, and the norm of the mean `c_i+ - c_i`.
    """

    def __init__(
        self,
        model: LearningModel,
        optimizer: Optimizer,
        runtime: Runtime,
        store: ClientStateStore,
        num_clients: int,
        weighted: bool = False,
        learning_rate_schedule: Optional[LearningRateSchedule] = None,
    ) -> None:
        check_plain_sgd(optimizer)
        self.inner = ModelDeltaClientWork(
            model, optimizer, runtime, ControlVariateRule(), weighted, learning_rate_schedule
        )
        self.store = store
        self.num_clients = int(num_clients)
        self._specs = model.weight_specs.trainable
        super().__init__(self._initialize, self._next)

    def _initialize(self) -> collections.OrderedDict:
        return collections.OrderedDict(
            control_variate=[tf.zeros(s.shape, s.dtype) for s in self._specs]
        )

    def _next(self, state: Any, weights: AtClients, cohort: CohortData) -> MeasuredProcessOutput:
        control = list(state["control_variate"])
        count = cohort.num_clients
        outputs = self.inner.run(
            weights, cohort, broadcast=control, per_client=self.store.get(cohort.client_ids)
        )
        new_client_controls, deltas = outputs.extra
        if not is_dry_run():  # the type-signature round's made-up client is not kept
            self.store.put(cohort.client_ids, new_client_controls)
        mean_delta = intrinsics.mean(AtClients(list(deltas), count)).value
        fraction = count / self.num_clients
        new_control = [c + fraction * d for c, d in zip(control, mean_delta)]
        result, train = self.inner.summarize(outputs, count)
        norms = collections.OrderedDict(
            server_norm=tf.linalg.global_norm(new_control),
            client_norm=intrinsics.mean(
                AtClients(client_norms(list(new_client_controls)), count)
            ).value,
            update_norm=tf.linalg.global_norm(mean_delta),
        )
        measurements = collections.OrderedDict(train=train, control_variates=norms)
        return MeasuredProcessOutput(
            collections.OrderedDict(control_variate=new_control), result, measurements
        )


def check_plain_sgd(optimizer: Optimizer) -> None:
    """Raises ValueError unless `optimizer` is SGD without momentum."""
    if not isinstance(optimizer, SGD) or optimizer.momentum != 0:
        kind = type(optimizer).__name__ + (
            f" with momentum {optimizer.momentum}" if isinstance(optimizer, SGD) else ""
        )
        raise ValueError(
            f"SCAFFOLD's option-II control update needs plain SGD local steps, got {kind}"
        )


def require_plain_sgd(optimizer: Optimizer, needed_by: str) -> None:
    """Raises a ConfigError naming `client_optimizer` unless it is plain SGD."""
    if not isinstance(optimizer, SGD):
        raise ConfigError(
            "client_optimizer.type",
            f"{needed_by} assumes plain SGD local steps",
            type(optimizer).__name__.lower(),
            ["sgd"],
        )
    if optimizer.momentum != 0:
        raise ConfigError(
            "client_optimizer.momentum",
            f"{needed_by} assumes plain SGD local steps (no momentum)",
            optimizer.momentum,
            "0",
        )


def build_scaffold(
    model: AnyModel,
    client_optimizer: Optimizer,
    num_clients: int,
    server_optimizer: Optional[Optimizer] = None,
    model_aggregator: Optional[AggregationFactory] = None,
    runtime: Optional[Runtime] = None,
    weighted: bool = False,
    client_lr_schedule: Optional[LearningRateSchedule] = None,
    server_lr_schedule: Optional[LearningRateSchedule] = None,
) -> LearningProcess:
    """Builds SCAFFOLD; `process.client_states` holds the clients' control variates.

    Args:
        model: The model to train (a `VariableModel` trains one client at a time).
        client_optimizer: Plain SGD (eta_l).
        num_clients: Population size N.
        server_optimizer: Applies the averaged update; default SGD(1.0) (eta_g = 1).
        model_aggregator: Aggregation factory of the updates; default `MeanFactory()`.
        runtime: Executes client work; default vectorized.
        weighted: Weight updates by examples processed (the paper averages unweighted).
        client_lr_schedule: Round -> client learning rate.
        server_lr_schedule: Round -> server learning rate.
    """
    learning = learning_model(model)
    store = ClientStateStore(learning.weight_specs.trainable)
    client_work = ScaffoldClientWork(
        learning,
        client_optimizer,
        runtime or VectorizedRuntime(),
        store,
        num_clients,
        weighted,
        client_lr_schedule,
    )
    return compose_model_delta_algorithm(
        learning,
        client_work,
        server_optimizer,
        model_aggregator,
        weighted,
        server_lr_schedule,
        client_states=store,
    )


@dataclasses.dataclass(frozen=True)
class ScaffoldParams:
    """SCAFFOLD's parameters.

    Attributes:
        weighted: Weight model updates by examples processed (the paper: unweighted).
    """

    weighted: bool = False


@ALGORITHMS.register("scaffold", ScaffoldParams)
def _scaffold(p: ScaffoldParams, context: AlgorithmContext) -> LearningProcess:
    """SCAFFOLD: control variates correct client drift; clients keep state between rounds."""
    require_plain_sgd(context.client_optimizer, "scaffold's option-II control-variate update")
    factory = context.model_aggregator(p.weighted)
    return build_scaffold(
        context.model,
        context.client_optimizer,
        context.num_clients,
        context.server_optimizer,
        factory,
        context.runtime,
        p.weighted,
        context.client_lr_schedule,
        context.server_lr_schedule,
    )
