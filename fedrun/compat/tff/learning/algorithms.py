"""TFF's `tff.learning.algorithms` on fedrun's learning algorithms.

| TFF | fedrun |
| --- | --- |
| `build_weighted_fed_avg` | `fedrun.learning.algorithms.fedavg.build_weighted_fed_avg` |
| `build_unweighted_fed_avg` | `fedrun.learning.algorithms.fedavg.build_unweighted_fed_avg` |
| `build_fed_eval` | `fedrun.learning.evaluation.build_fed_eval` |

`model_fn` is called once, by the builder. Optimizers may be TFF optimizers
(`tff.learning.optimizers.build_*`) or Keras optimizer factories; aggregators may
be TFF-style or fedrun factories.
"""

from __future__ import annotations

import enum
from typing import Any, Callable, Optional

from fedrun.compat.tff.aggregators import as_native
from fedrun.compat.tff.errors import FacadeTypeError
from fedrun.compat.tff.learning.metrics import check_metrics_aggregator
from fedrun.compat.tff.learning.models import KerasFunctionalModel
from fedrun.compat.tff.learning.optimizers import OptimizerSpec, to_fedrun
from fedrun.compat.tff.learning.templates import LearningProcess
from fedrun.compat.tff.unsupported import LEARNING_ALGORITHMS, UnsupportedError, error
from fedrun.learning import evaluation
from fedrun.learning.algorithms import fedavg
from fedrun.models.functional import FunctionalModel
from fedrun.models.variable_model import VariableModel
from fedrun.optimizers import SGD
from fedrun.runtime.base import Runtime

ModelFn = Callable[[], Any]


class ClientWeighting(enum.Enum):
    """How client updates are weighted (TFF's `tff.learning.ClientWeighting`)."""

    UNIFORM = "uniform"
    NUM_EXAMPLES = "num_examples"


def _model(model_fn: ModelFn) -> Any:
    if isinstance(model_fn, KerasFunctionalModel):
        return model_fn.native
    if isinstance(model_fn, FunctionalModel):
        # TFF 0.87's builders also take a functional model itself.
        return model_fn
    if not callable(model_fn):
        raise FacadeTypeError(
            "model_fn must be a function (or class) that builds the model, as in TFF"
        )
    model = model_fn()
    if isinstance(model, KerasFunctionalModel):
        return model.native
    if not isinstance(model, (FunctionalModel, VariableModel)):
        raise FacadeTypeError(
            f"model_fn returned a {type(model).__name__}; return tff.learning.models.from_keras_model(...) "
            "or a tff.learning.models.VariableModel"
        )
    return model


def _check_common(model_distributor: Any, metrics_aggregator: Any) -> None:
    if model_distributor is not None:
        raise UnsupportedError(
            "model_distributor: fedrun broadcasts the global model; custom distributors are not supported"
        )
    check_metrics_aggregator(metrics_aggregator)


def _fed_avg(
    native_builder: Callable[..., Any],
    model_fn: ModelFn,
    client_optimizer_fn: OptimizerSpec,
    server_optimizer_fn: Optional[OptimizerSpec],
    model_aggregator: Any,
    runtime: Optional[Runtime],
) -> LearningProcess:
    """A native FedAvg builder called with the facade's arguments translated."""
    native = native_builder(
        _model(model_fn),
        to_fedrun(client_optimizer_fn, "client_optimizer_fn"),
        server_optimizer=to_fedrun(server_optimizer_fn, "server_optimizer_fn")
        if server_optimizer_fn
        else SGD(1.0),
        model_aggregator=as_native(model_aggregator),
        runtime=runtime,
    )
    return LearningProcess(native)


def build_weighted_fed_avg(
    model_fn: ModelFn,
    client_optimizer_fn: OptimizerSpec,
    server_optimizer_fn: Optional[OptimizerSpec] = None,
    client_weighting: Optional[ClientWeighting] = None,
    model_distributor: Any = None,
    model_aggregator: Any = None,
    metrics_aggregator: Any = None,
    loop_implementation: Any = None,
    runtime: Optional[Runtime] = None,
) -> LearningProcess:
    """FedAvg with client updates weighted by the examples each processed.

    `loop_implementation` is accepted and has no effect (fedrun's compiled local
    loop serves both of TFF's); `runtime` (fedrun's) chooses where clients train.
    """
    if client_weighting not in (None, ClientWeighting.NUM_EXAMPLES):
        raise UnsupportedError(
            "client_weighting: build_weighted_fed_avg weights by examples; use build_unweighted_fed_avg"
        )
    _check_common(model_distributor, metrics_aggregator)
    return _fed_avg(
        fedavg.build_weighted_fed_avg,
        model_fn,
        client_optimizer_fn,
        server_optimizer_fn,
        model_aggregator,
        runtime,
    )


def build_unweighted_fed_avg(
    model_fn: ModelFn,
    client_optimizer_fn: OptimizerSpec,
    server_optimizer_fn: Optional[OptimizerSpec] = None,
    model_distributor: Any = None,
    model_aggregator: Any = None,
    metrics_aggregator: Any = None,
    loop_implementation: Any = None,
    runtime: Optional[Runtime] = None,
) -> LearningProcess:
    """FedAvg giving every client's update the same weight."""
    _check_common(model_distributor, metrics_aggregator)
    return _fed_avg(
        fedavg.build_unweighted_fed_avg,
        model_fn,
        client_optimizer_fn,
        server_optimizer_fn,
        model_aggregator,
        runtime,
    )


def build_fed_eval(
    model_fn: ModelFn,
    model_distributor: Any = None,
    metrics_aggregator: Any = None,
    loop_implementation: Any = None,
    runtime: Optional[Runtime] = None,
) -> LearningProcess:
    """Federated evaluation of the model set with `set_model_weights`."""
    _check_common(model_distributor, metrics_aggregator)
    return LearningProcess(evaluation.build_fed_eval(_model(model_fn), runtime))


def __getattr__(name: str) -> object:
    raise error("tff.learning.algorithms", name, LEARNING_ALGORITHMS)


__all__ = [
    "ClientWeighting",
    "build_fed_eval",
    "build_unweighted_fed_avg",
    "build_weighted_fed_avg",
]
