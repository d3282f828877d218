"""TFF's `tff.templates`: processes built from computations.

`IterativeProcess`, `MeasuredProcess` and `AggregationProcess` hold an `initialize`
and a `next` computation and check that their types fit together, as TFF does.
`MeasuredProcessOutput` is fedrun's own (`fedrun.core.processes`).

`bridge_process` presents a fedrun process (built by a fedrun factory) with TFF's
calling conventions, and `NativeAggregationProcess` presents a TFF-style process to
fedrun code; together they let factories from both sides nest inside each other.
"""

from __future__ import annotations

from typing import Any, Optional

import tensorflow as tf

from fedrun.compat.tff import values as values_
from fedrun.compat.tff.computations import cohort_of, to_values
from fedrun.compat.tff.errors import FacadeTypeError
from fedrun.compat.tff.types import convert, is_assignable
from fedrun.compat.tff.values import Value
from fedrun.core import processes as core_processes
from fedrun.core.placements import CLIENTS, SERVER, AtClients, AtServer
from fedrun.core.processes import Computation, MeasuredProcessOutput
from fedrun.core.types import FederatedType, FunctionType, StructType, Type


def _signature(comp: Any, role: str) -> FunctionType:
    if not isinstance(comp, Computation):
        raise FacadeTypeError(
            f"{role} must be a computation (tff.federated_computation / tff.tf_computation), got {type(comp).__name__}"
        )
    return comp.type_signature


class IterativeProcess:
    """`initialize() -> state` and `next(state, ...) -> state or (state, ...)`.

    Args:
        initialize_fn: A computation without parameters returning the state.
        next_fn: A computation whose first parameter accepts the state.
    """

    def __init__(self, initialize_fn: Computation, next_fn: Computation) -> None:
        init_sig = _signature(initialize_fn, "initialize_fn")
        if init_sig.parameter is not None:
            raise FacadeTypeError(f"initialize_fn must take no parameters, its type is {init_sig}")
        next_sig = _signature(next_fn, "next_fn")
        state_t = init_sig.result
        takes_state_only = getattr(next_fn, "arity", 2) == 1
        first = (
            next_sig.parameter[0]
            if isinstance(next_sig.parameter, StructType) and not takes_state_only
            else next_sig.parameter
        )
        if first is None or not is_assignable(first, state_t):
            raise FacadeTypeError(
                f"next_fn's first parameter must accept the state {state_t}; next_fn's type is {next_sig}"
            )
        self.initialize = initialize_fn
        self.next = next_fn

    @property
    def state_type(self) -> Type:
        return self.initialize.type_signature.result


class MeasuredProcess(IterativeProcess):
    """An iterative process whose `next` returns `MeasuredProcessOutput(state, result,
    measurements)`; state and measurements are placed at the server."""

    def __init__(self, initialize_fn: Computation, next_fn: Computation) -> None:
        super().__init__(initialize_fn, next_fn)
        result = next_fn.type_signature.result
        if not isinstance(result, StructType) or result.names() != [
            "state",
            "result",
            "measurements",
        ]:
            raise FacadeTypeError(
                f"next_fn must return a MeasuredProcessOutput (state, result, measurements), returns {result}"
            )
        for name in ("state", "measurements"):
            member = result[name]
            if not (isinstance(member, FederatedType) and member.placement == SERVER):
                raise FacadeTypeError(f"next_fn's {name} must be placed at tff.SERVER, is {member}")


def _struct(t: Optional[Type]) -> StructType:
    """`t`, which the process's validation has checked to be a struct."""
    assert isinstance(t, StructType), t
    return t


def _member(t: Type) -> Type:
    """The member of `t`, which the process's validation has checked to be federated."""
    assert isinstance(t, FederatedType), t
    return t.member


class AggregationProcess(MeasuredProcess):
    """`next(state, value@CLIENTS[, weight@CLIENTS])` -> the aggregate at the server."""

    def __init__(self, initialize_fn: Computation, next_fn: Computation) -> None:
        super().__init__(initialize_fn, next_fn)
        params = next_fn.type_signature.parameter
        if not isinstance(params, StructType) or len(params) < 2:
            raise FacadeTypeError(
                f"next_fn must take the state and a client-placed value, its type is {next_fn.type_signature}"
            )
        value_t = params[1]
        if not (isinstance(value_t, FederatedType) and value_t.placement == CLIENTS):
            raise FacadeTypeError(
                f"next_fn's second parameter must be placed at tff.CLIENTS, is {value_t}"
            )
        result_t = _struct(next_fn.type_signature.result)["result"]
        if not (isinstance(result_t, FederatedType) and result_t.placement == SERVER):
            raise FacadeTypeError(f"next_fn's result must be placed at tff.SERVER, is {result_t}")

    @property
    def is_weighted(self) -> bool:
        return len(_struct(self.next.type_signature.parameter)) >= 3


# ---------------------------------------------------------------- fedrun -> TFF
class _BridgeComputation(Computation):
    """A fedrun process's `initialize` or `next` called with TFF's conventions."""

    def __init__(self, native: Computation, is_next: bool) -> None:
        self._native = native
        self._is_next = is_next
        super().__init__(self._call_inside, lambda: native.type_signature, native.__name__)

    def __call__(self, *args: Any) -> Any:
        if values_.is_tracing() or values_.contains_abstract(list(args)):
            return Value(type_signature=self.type_signature.result)
        if values_.current_frame() is not None:
            return self._call_inside(*args)
        if not self._is_next:
            if args:
                raise FacadeTypeError(f"{self.__name__} takes no arguments")
            with values_.frame(tracing=False):
                return values_.to_python(self._call_inside())
        types = list(_struct(self.type_signature.parameter))
        if len(args) != len(types):
            raise FacadeTypeError(
                f"{self.__name__} takes {len(types)} arguments (state, value[, weight]), got {len(args)}"
            )
        state = Value(AtServer(convert(args[0], _member(types[0]), keep_containers=True)))
        inputs = to_values(args[1:], types[1:])
        with values_.frame(tracing=False, num_clients=cohort_of(inputs)):
            return values_.to_python(self._call_inside(state, *inputs))

    def _call_inside(self, *args: Any) -> Any:
        if not self._is_next:
            return Value(AtServer(self._native()))
        state, *inputs = args
        output = self._native(server_nest(state), *[placed_at_clients(v) for v in inputs])
        return MeasuredProcessOutput(
            Value(AtServer(output.state)),
            Value(output.result),
            Value(AtServer(output.measurements)),
        )


def bridge_process(native: core_processes.AggregationProcess) -> AggregationProcess:
    """A fedrun aggregation process with TFF's calling conventions."""
    return AggregationProcess(
        _BridgeComputation(native.initialize, False), _BridgeComputation(native.next, True)
    )


def server_nest(x: Any) -> Any:
    """A server-placed `Value` (or a nest of them) as fedrun's plain server nest."""
    if isinstance(x, Value):
        placed = x.placed
        if not isinstance(placed, AtServer):
            raise FacadeTypeError(f"expected a value placed at tff.SERVER, got {x.type_signature}")
        return placed.value
    if isinstance(x, AtServer):
        return x.value
    return tf.nest.map_structure(
        lambda v: server_nest(v) if isinstance(v, (Value, AtServer)) else v, x
    )


def placed_at_clients(x: Any) -> AtClients:
    placed = x.placed if isinstance(x, Value) else x
    if not isinstance(placed, AtClients):
        raise FacadeTypeError(f"expected a value placed at tff.CLIENTS, got {placed!r}")
    return placed


def placed_at_server(x: Any) -> AtServer:
    placed = x.placed if isinstance(x, Value) else x
    if not isinstance(placed, AtServer):
        raise FacadeTypeError(f"expected a value placed at tff.SERVER, got {placed!r}")
    return placed


# ---------------------------------------------------------------- TFF -> fedrun
class NativeAggregationProcess(core_processes.AggregationProcess):
    """A TFF-style aggregation process presented to fedrun code.

    fedrun calls `next(state, value: AtClients[, weight: AtClients])` with a plain
    state nest and expects `MeasuredProcessOutput(state nest, AtServer, measurements
    nest)`; this runs the TFF process's computations on placed `Value`s in between.

    Args:
        process: The TFF-style process.
        value_spec: Spec of one client's value.
        weight_spec: Spec of the weight, for weighted processes.
    """

    def __init__(
        self,
        process: AggregationProcess,
        value_spec: Any,
        weight_spec: Optional[tf.TensorSpec] = None,
    ) -> None:
        self._process = process
        super().__init__(self._initialize_native, self._next_native, value_spec, weight_spec)

    def _initialize_native(self) -> Any:
        with values_.frame(tracing=False):
            return server_nest(self._process.initialize())

    def _next_native(
        self, state: Any, value: AtClients, weight: Optional[AtClients] = None
    ) -> MeasuredProcessOutput:
        args = [Value(AtServer(state)), Value(value)] + ([] if weight is None else [Value(weight)])
        with values_.frame(tracing=False, num_clients=value.num_clients):
            output = self._process.next(*args)
            return MeasuredProcessOutput(
                server_nest(output.state),
                placed_at_server(output.result),
                server_nest(output.measurements),
            )


__all__ = [
    "AggregationProcess",
    "IterativeProcess",
    "MeasuredProcess",
    "MeasuredProcessOutput",
    "NativeAggregationProcess",
    "bridge_process",
    "placed_at_clients",
    "placed_at_server",
    "server_nest",
]
