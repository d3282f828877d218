"""TFF's federated intrinsics, mapped one to one onto `fedrun.core.intrinsics`.

Each takes `Value`s and returns a `Value`. On concrete values it calls fedrun's
intrinsic on the placed value (client values stacked over a leading axis, per-client
functions vectorized); on abstract values (while a signature is derived) it only
computes the result type.

| TFF | fedrun |
| --- | --- |
| `federated_value(v, SERVER/CLIENTS)` | `AtServer(v)` / `intrinsics.value` |
| `federated_map(fn, arg)` | `intrinsics.map` |
| `federated_sum` / `federated_mean` | `intrinsics.sum` / `intrinsics.mean` |
| `federated_broadcast` | `intrinsics.broadcast` |
| `federated_zip` | `intrinsics.zip_at_server` / `intrinsics.zip_at_clients` |
| `federated_secure_sum_bitwidth` | `intrinsics.secure_sum` |
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Union

import tensorflow as tf

from fedrun.compat.tff.computations import (
    FederatedComputation,
    TensorFlowComputation,
    tf_computation,
)
from fedrun.compat.tff.errors import FacadeTypeError, FacadeValueError
from fedrun.compat.tff.types import convert, has_sequence
from fedrun.compat.tff.values import PerClient, Value, cohort_size, is_abstract, is_tracing, type_of
from fedrun.core import intrinsics as fed
from fedrun.core.placements import CLIENTS, SERVER, AtClients, AtServer, Placement
from fedrun.core.processes import Computation
from fedrun.core.types import FederatedType, SequenceType, StructType, Type, to_type


def _federated(v: Any, what: str, placement: Optional[Placement] = None) -> Value:
    if isinstance(v, (AtServer, AtClients)):
        v = Value(v)
    if not isinstance(v, Value) or not isinstance(v.type_signature, FederatedType):
        raise FacadeTypeError(f"{what}: expected a federated value, got {v!r}")
    if placement is not None and _ftype(v).placement != placement:
        raise FacadeTypeError(
            f"{what}: expected a value placed at {placement}, got {v.type_signature}"
        )
    return v


def _ftype(v: Value) -> FederatedType:
    """The federated type of a value `_federated` accepted."""
    t = v.type_signature
    assert isinstance(t, FederatedType), t
    return t


def federated_value(value: Any, placement: Placement) -> Value:
    """The same (unplaced) value at the server, or at every client.

    `value` may be a constant or the result of a TensorFlow computation called in
    the body."""
    _check_placement(placement, "federated_value")
    if isinstance(value, Value):
        if isinstance(value.type_signature, FederatedType):
            raise FacadeTypeError(
                f"federated_value: expected an unplaced value, got one of type {value.type_signature}"
            )
        # Only while tracing does a computation's result arrive as a Value.
        return Value(type_signature=FederatedType(value.type_signature, placement, all_equal=True))
    member = to_type(value)
    t = FederatedType(member, placement, all_equal=True)
    if is_tracing():
        return Value(type_signature=t)
    tensors = convert(value, member)
    if placement == SERVER:
        return Value(AtServer(tensors))
    return Value(AtClients(tensors, cohort_size(), all_equal=True))


def _check_placement(placement: Any, what: str) -> None:
    if placement not in (SERVER, CLIENTS):
        raise FacadeTypeError(
            f"{what}: placement must be tff.SERVER or tff.CLIENTS, got {placement!r}"
        )


def federated_eval(fn: Any, placement: Placement) -> Value:
    """Runs a computation without parameters at `placement`: once at the server, or
    once at every client (so random draws differ per client, as in TFF)."""
    _check_placement(placement, "federated_eval")
    comp = (
        fn
        if isinstance(fn, TensorFlowComputation)
        else tf_computation(fn)
        if callable(fn)
        else None
    )
    if comp is None or comp.arity:
        raise FacadeTypeError(
            f"federated_eval: expected a computation without parameters, got {fn!r}"
        )
    result = comp.signature_for(None).result
    if is_tracing():
        return Value(type_signature=FederatedType(result, placement, all_equal=placement == SERVER))
    if placement == SERVER:
        return Value(AtServer(convert(comp(), result)))
    return Value(AtClients.from_list([convert(comp(), result) for _ in range(cohort_size())]))


def _extremum(value: Any, what: str, reduce: Callable[..., tf.Tensor]) -> Value:
    v = _federated(value, what, CLIENTS)
    if v.is_abstract:
        return Value(type_signature=FederatedType(_ftype(v).member, SERVER, True))
    if v.placed.all_equal:
        return Value(AtServer(v.placed.value))
    return Value(AtServer(tf.nest.map_structure(lambda x: reduce(x, axis=0), v.placed.value)))


def federated_min(value: Any) -> Value:
    """The element-wise minimum over clients, at the server."""
    return _extremum(value, "federated_min", tf.reduce_min)


def federated_max(value: Any) -> Value:
    """The element-wise maximum over clients, at the server."""
    return _extremum(value, "federated_max", tf.reduce_max)


def _zip_arguments(arg: Any) -> tuple[list[Value], bool]:
    if isinstance(arg, (list, tuple)) and not isinstance(arg, Value):
        members = [_federated(a, "federated_map") for a in arg]
        if not members:
            raise FacadeTypeError("federated_map: nothing to map over")
        return members, True
    return [_federated(arg, "federated_map")], False


def federated_map(fn: Union[TensorFlowComputation, Callable[..., Any]], arg: Any) -> Value:
    """Applies `fn` to the value at its placement (per client at CLIENTS).

    `arg` may be a tuple of values placed alike; they are zipped, as TFF does.
    """
    if not isinstance(fn, (TensorFlowComputation, FederatedComputation)) and (
        isinstance(fn, Computation) or not callable(fn)
    ):
        raise FacadeTypeError(
            "federated_map: fn must be a tff.tensorflow.computation, a tff.federated_computation or a "
            f"Python function, got {fn!r}"
        )
    comp = (
        fn if isinstance(fn, (TensorFlowComputation, FederatedComputation)) else tf_computation(fn)
    )
    members, zipped = _zip_arguments(arg)
    placements = {_ftype(m).placement for m in members}
    if len(placements) != 1:
        raise FacadeTypeError(
            f"federated_map: arguments must share one placement, got {[str(m.type_signature) for m in members]}"
        )
    placement = placements.pop()
    all_equal = all(_ftype(m).all_equal for m in members)
    if any(m.is_abstract for m in members):
        member_types = [_ftype(m).member for m in members]
        parameter = StructType(member_types) if zipped else member_types[0]
        result = comp.signature_for(parameter).result
        return Value(type_signature=FederatedType(result, placement, all_equal))
    placed = [m.placed for m in members]
    adapter = comp.adapted(len(members) if zipped else 0)
    # A federated computation's body (sequence reductions, nested computations) runs
    # in Python, so it cannot be vectorized over clients.
    by_client = isinstance(comp, FederatedComputation) and placement == CLIENTS
    if by_client or any(isinstance(p, PerClient) for p in placed):
        return _map_client_by_client(adapter, placed)
    return Value(fed.map(adapter, placed if zipped else placed[0]))


def _map_client_by_client(fn: Callable[..., Any], placed: list[Any]) -> Value:
    """`fn` applied to each client's values in turn (values holding sequences)."""
    counts = {p.num_clients for p in placed}
    if len(counts) != 1:
        raise FacadeValueError(
            f"federated_map: client values of different cohorts (sizes {sorted(counts)})"
        )
    results = [fn(*[p.client(k) for p in placed]) for k in range(counts.pop())]
    result_type = to_type(results[0])
    if has_sequence(result_type):
        return Value(
            PerClient(tuple(results)), type_signature=FederatedType(result_type, CLIENTS, False)
        )
    return Value(AtClients.from_list(results))


def sequence_reduce(value: Any, zero: Any, op: Any) -> Any:
    """Folds `op(accumulator, element)` over a sequence, starting from `zero`.

    `value` is an unplaced sequence or one placed at the clients (then each client
    folds its own); `op` is a computation (or function) of the accumulator and one
    element.
    """
    comp = (
        op
        if isinstance(op, (TensorFlowComputation, FederatedComputation))
        else tf_computation(op)
        if callable(op)
        else None
    )
    if comp is None:
        raise FacadeTypeError(
            f"sequence_reduce: op must be a computation of (accumulator, element), got {op!r}"
        )
    step = comp.adapted(2)
    if isinstance(value, Value) and isinstance(value.type_signature, FederatedType):
        t = value.type_signature
        if t.placement != CLIENTS or not isinstance(t.member, SequenceType):
            raise FacadeTypeError(
                f"sequence_reduce: expected a sequence (or sequences at tff.CLIENTS), got {t}"
            )
        if value.is_abstract or is_abstract(zero):
            result = comp.signature_for(StructType([_unplaced_type(zero), t.member.element])).result
            return Value(type_signature=FederatedType(result, CLIENTS, all_equal=False))
        return _map_client_by_client(lambda ds: _fold(ds, zero, step), [value.placed])
    if isinstance(value, Value):
        if not isinstance(value.type_signature, SequenceType):
            raise FacadeTypeError(
                f"sequence_reduce: expected a sequence, got a value of type {value.type_signature}"
            )
        result = comp.signature_for(
            StructType([_unplaced_type(zero), value.type_signature.element])
        ).result
        return Value(type_signature=result)
    if not isinstance(value, tf.data.Dataset):
        raise FacadeTypeError(f"sequence_reduce: expected a sequence, got a {type(value).__name__}")
    return _fold(value, zero, step)


def _unplaced_type(zero: Any) -> Type:
    t = type_of(zero)
    if isinstance(t, FederatedType):
        raise FacadeTypeError(f"sequence_reduce: zero must be unplaced, got a value of type {t}")
    return t


def _fold(dataset: tf.data.Dataset, zero: Any, step: Callable[..., Any]) -> Any:
    accumulator = zero
    for element in dataset:
        accumulator = step(accumulator, element)
    return accumulator


def federated_sum(value: Any) -> Value:
    """The sum over clients, at the server."""
    v = _federated(value, "federated_sum", CLIENTS)
    if v.is_abstract:
        return Value(type_signature=FederatedType(_ftype(v).member, SERVER, True))
    return Value(fed.sum(v.placed))


def federated_mean(value: Any, weight: Any = None) -> Value:
    """The (weighted) mean over clients, at the server."""
    v = _federated(value, "federated_mean", CLIENTS)
    w = None if weight is None else _federated(weight, "federated_mean weight", CLIENTS)
    if v.is_abstract or (w is not None and w.is_abstract):
        return Value(type_signature=FederatedType(_ftype(v).member, SERVER, True))
    return Value(fed.mean(v.placed, None if w is None else w.placed))


def federated_broadcast(value: Any) -> Value:
    """The server's value at every client."""
    v = _federated(value, "federated_broadcast", SERVER)
    if v.is_abstract:
        return Value(type_signature=FederatedType(_ftype(v).member, CLIENTS, True))
    return Value(fed.broadcast(v.placed, cohort_size()))


def _member_types(nest: Any) -> Any:
    return tf.nest.map_structure(lambda v: _ftype(v).member, nest)


def federated_zip(value: Any) -> Value:
    """A structure of values placed alike as one placed structure.

    `federated_zip((a@SERVER, b@SERVER))` is `<a,b>@SERVER`; names of mappings and
    namedtuples are kept.
    """
    if isinstance(value, Value) and isinstance(value.type_signature, FederatedType):
        return value
    leaves = [_federated(v, "federated_zip") for v in tf.nest.flatten(value)]
    nest = tf.nest.pack_sequence_as(value, leaves)
    placements = {_ftype(v).placement for v in leaves}
    if len(placements) > 1:
        raise FacadeTypeError(
            f"federated_zip: members must share one placement, got {[str(v.type_signature) for v in leaves]}"
        )
    placement = placements.pop() if placements else SERVER
    all_equal = all(_ftype(v).all_equal for v in leaves)
    if any(v.is_abstract for v in leaves):
        member: Type = to_type(_member_types(nest))
        return Value(type_signature=FederatedType(member, placement, all_equal))
    placed = tf.nest.map_structure(lambda v: v.placed, nest)
    if placement == SERVER:
        return Value(fed.zip_at_server(placed))
    return Value(fed.zip_at_clients(placed))


def federated_secure_sum_bitwidth(value: Any, bitwidth: int) -> Value:
    """The sum over clients of non-negative integers, computed modulo `2**bitwidth`
    (fedrun's `secure_sum`); the result keeps the value's dtypes."""
    v = _federated(value, "federated_secure_sum_bitwidth", CLIENTS)
    if not isinstance(bitwidth, int):
        raise FacadeTypeError(
            "federated_secure_sum_bitwidth: fedrun takes one integer bitwidth for the whole structure"
        )
    if v.is_abstract:
        return Value(type_signature=FederatedType(_ftype(v).member, SERVER, True))
    total = fed.secure_sum(v.placed, bitwidth)
    dtypes = tf.nest.map_structure(lambda x: tf.convert_to_tensor(x).dtype, v.placed.value)
    return Value(AtServer(tf.nest.map_structure(lambda x, d: tf.cast(x, d), total.value, dtypes)))


__all__ = [
    "federated_broadcast",
    "federated_eval",
    "federated_map",
    "federated_max",
    "federated_mean",
    "federated_min",
    "federated_secure_sum_bitwidth",
    "federated_sum",
    "federated_value",
    "federated_zip",
    "sequence_reduce",
]
