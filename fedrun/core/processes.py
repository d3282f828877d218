"""Processes: stateful computations run round after round.

* `IterativeProcess`: `initialize() -> state`, `next(state, ...) -> ...`.
* `MeasuredProcess`: `next` returns `MeasuredProcessOutput(state, result, measurements)`.
* `AggregationProcess`: a measured process whose `next(state, value@CLIENTS[,
  weight@CLIENTS])` returns the aggregate `result` placed at the server.

State and measurements always live at the server; in fedrun they are plain nests of
tensors (immutable: every `next` returns new state). `result` is an `AtServer`.
Each of `initialize` and `next` is a `Computation` with a `type_signature` that
prints as TFF prints one.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Optional, Union

import tensorflow as tf

from fedrun.core.placements import CLIENTS, SERVER, AtClients, AtServer
from fedrun.core.types import FederatedType, FunctionType, StructType, Type, to_type


class MeasuredProcessOutput(NamedTuple):
    """What `MeasuredProcess.next` returns.

    Attributes:
        state: The new state (at the server).
        result: The output of this step (an `AtServer` for aggregation processes).
        measurements: A nest of values that describe this step (at the server).
    """

    state: Any
    result: Any
    measurements: Any


SignatureSource = Union[FunctionType, Callable[[], FunctionType]]


class Computation:
    """A callable with a TFF-style `type_signature`.

    The signature is computed on first access (some parts, such as measurement types,
    are found by running the computation once on zeros), so building a process never
    pays for it.
    """

    def __init__(self, fn: Callable[..., Any], signature: SignatureSource, name: str = "") -> None:
        self._fn = fn
        self._signature_source = signature
        self._signature: Optional[FunctionType] = (
            signature if isinstance(signature, FunctionType) else None
        )
        self.__name__ = name or getattr(fn, "__name__", "computation")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._fn(*args, **kwargs)

    @property
    def type_signature(self) -> FunctionType:
        if self._signature is None:
            self._signature = self._signature_source()  # type: ignore[operator]
        return self._signature


def server_type(value: Any) -> FederatedType:
    """The type of a server-side nest (state or measurements)."""
    if isinstance(value, AtServer):
        value = value.value
    return FederatedType(to_type(value), SERVER)


class IterativeProcess:
    """A pair of computations: `initialize() -> state` and `next(state, ...)`.

    Args:
        initialize_fn: No-argument function returning the initial state nest.
        next_fn: Function of the state and the round's inputs.
        next_signature: The signature of `next`, or a function computing it; if
            omitted, `next.type_signature` shows only the state parameter and result.
    """

    def __init__(
        self,
        initialize_fn: Callable[[], Any],
        next_fn: Callable[..., Any],
        next_signature: Optional[SignatureSource] = None,
    ) -> None:
        self.initialize = Computation(initialize_fn, self._initialize_signature, "initialize")
        self.next = Computation(next_fn, next_signature or self._default_next_signature, "next")

    def _initialize_signature(self) -> FunctionType:
        return FunctionType(None, server_type(self.initialize()))

    @property
    def state_type(self) -> FederatedType:
        """The state's type, placed at the server."""
        return self.initialize.type_signature.result  # type: ignore[return-value]

    def _default_next_signature(self) -> FunctionType:
        return FunctionType(StructType([("state", self.state_type)]), self.state_type)


class MeasuredProcess(IterativeProcess):
    """An iterative process whose `next` returns a `MeasuredProcessOutput`."""


def _zeros_for(spec: Any, num_clients: int) -> Any:
    return tf.nest.map_structure(
        lambda s: tf.zeros([num_clients] + s.shape.as_list(), s.dtype), spec
    )


class AggregationProcess(MeasuredProcess):
    """Aggregates a value (and optionally a weight) from clients to the server.

    Args:
        initialize_fn: Returns the initial state.
        next_fn: `next(state, value: AtClients[, weight: AtClients])` returning
            `MeasuredProcessOutput(state, result: AtServer, measurements)`.
        value_spec: Nest of `tf.TensorSpec` of one client's value.
        weight_spec: The weight's spec for weighted processes, else None.
        traceable: Whether `next` is pure TensorFlow of its tensor arguments (no
            Python-side values, randomness, I/O or protocol), so that a compiled
            round may run it inside a `tf.function`. A trace would freeze Python-side
            logic silently, so this is declared per factory, never guessed.
    """

    def __init__(
        self,
        initialize_fn: Callable[[], Any],
        next_fn: Callable[..., MeasuredProcessOutput],
        value_spec: Any,
        weight_spec: Optional[tf.TensorSpec] = None,
        traceable: bool = False,
    ) -> None:
        self.value_spec = value_spec
        self.weight_spec = weight_spec
        self.traceable = traceable
        super().__init__(initialize_fn, next_fn, self._aggregation_signature)

    @property
    def is_weighted(self) -> bool:
        return self.weight_spec is not None

    def _aggregation_signature(self) -> FunctionType:
        state_t = self.state_type
        params = [
            ("state", state_t),
            ("value", FederatedType(to_type(self.value_spec), CLIENTS, all_equal=False)),
        ]
        if self.is_weighted:
            params.append(
                ("weight", FederatedType(to_type(self.weight_spec), CLIENTS, all_equal=False))
            )
        # Measurement types depend on the process: run it once on zeros to read them.
        num_clients = 3
        args = [AtClients(_zeros_for(self.value_spec, num_clients), num_clients)]
        if self.weight_spec is not None:
            args.append(AtClients(tf.ones([num_clients], self.weight_spec.dtype), num_clients))
        output = self.next(self.initialize(), *args)
        result = StructType(
            [
                ("state", state_t),
                ("result", server_type(output.result)),
                ("measurements", server_type(output.measurements)),
            ]
        )
        return FunctionType(StructType(params), result)


def type_summary(process: IterativeProcess) -> str:
    """The readable multi-line signature of a process's `initialize` and `next`."""
    return (
        "initialize: " + process.initialize.type_signature.formatted_representation() + "\n"
        "next: " + process.next.type_signature.formatted_representation()
    )


__all__ = [
    "AggregationProcess",
    "Computation",
    "IterativeProcess",
    "MeasuredProcess",
    "MeasuredProcessOutput",
    "Type",
    "server_type",
    "type_summary",
]
