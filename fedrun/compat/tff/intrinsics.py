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

from fedrun.core import intrinsics as fed
from fedrun.core.placements import AtClients, AtServer, CLIENTS, SERVER, Placement
from fedrun.core.types import FederatedType, StructType, Type, to_type
from fedrun.compat.tff.computations import TensorFlowComputation, tf_computation
from fedrun.compat.tff.types import convert
from fedrun.compat.tff.values import Value, cohort_size, is_tracing


def _federated(v: Any, what: str, placement: Optional[Placement] = None) -> Value:
    if isinstance(v, (AtServer, AtClients)):
        v = Value(v)
    if not isinstance(v, Value) or not isinstance(v.type_signature, FederatedType):
        raise TypeError(f"{what}: expected a federated value, got {v!r}")
    if placement is not None and v.type_signature.placement != placement:
        raise TypeError(f"{what}: expected a value placed at {placement}, got {v.type_signature}")
    return v


def federated_value(value: Any, placement: Placement) -> Value:
    """The same (unplaced) value at the server, or at every client."""
    member = to_type(value)
    t = FederatedType(member, placement, all_equal=True)
    if is_tracing():
        return Value(type_signature=t)
    tensors = convert(value, member)
    if placement == SERVER:
        return Value(AtServer(tensors))
    return Value(AtClients(tensors, cohort_size(), all_equal=True))


def _zip_arguments(arg: Any) -> tuple[list[Value], bool]:
    if isinstance(arg, (list, tuple)) and not isinstance(arg, Value):
        members = [_federated(a, "federated_map") for a in arg]
        if not members:
            raise TypeError("federated_map: nothing to map over")
        return members, True
    return [_federated(arg, "federated_map")], False


def federated_map(fn: Union[TensorFlowComputation, Callable[..., Any]], arg: Any) -> Value:
    """Applies `fn` to the value at its placement (per client at CLIENTS).

    `arg` may be a tuple of values placed alike; they are zipped, as TFF does.
    """
    comp = fn if isinstance(fn, TensorFlowComputation) else tf_computation(fn)
    members, zipped = _zip_arguments(arg)
    placements = {m.type_signature.placement for m in members}
    if len(placements) != 1:
        raise TypeError(
            f"federated_map: arguments must share one placement, got {[str(m.type_signature) for m in members]}"
        )
    placement = placements.pop()
    all_equal = all(m.type_signature.all_equal for m in members)
    if any(m.is_abstract for m in members):
        member_types = [m.type_signature.member for m in members]
        parameter = StructType(member_types) if zipped else member_types[0]
        result = comp.signature_for(parameter).result
        return Value(type_signature=FederatedType(result, placement, all_equal))
    placed = [m.placed for m in members]
    adapter = comp.adapted(len(members) if zipped else 0)
    return Value(fed.map(adapter, placed if zipped else placed[0]))


def federated_sum(value: Any) -> Value:
    """The sum over clients, at the server."""
    v = _federated(value, "federated_sum", CLIENTS)
    if v.is_abstract:
        return Value(type_signature=FederatedType(v.type_signature.member, SERVER, True))
    return Value(fed.sum(v.placed))


def federated_mean(value: Any, weight: Any = None) -> Value:
    """The (weighted) mean over clients, at the server."""
    v = _federated(value, "federated_mean", CLIENTS)
    w = None if weight is None else _federated(weight, "federated_mean weight", CLIENTS)
    if v.is_abstract or (w is not None and w.is_abstract):
        return Value(type_signature=FederatedType(v.type_signature.member, SERVER, True))
    return Value(fed.mean(v.placed, None if w is None else w.placed))


def federated_broadcast(value: Any) -> Value:
    """The server's value at every client."""
    v = _federated(value, "federated_broadcast", SERVER)
    if v.is_abstract:
        return Value(type_signature=FederatedType(v.type_signature.member, CLIENTS, True))
    return Value(fed.broadcast(v.placed, cohort_size()))


def _member_types(nest: Any) -> Any:
    return tf.nest.map_structure(lambda v: v.type_signature.member, nest)


def federated_zip(value: Any) -> Value:
    """A structure of values placed alike as one placed structure.

    `federated_zip((a@SERVER, b@SERVER))` is `<a,b>@SERVER`; names of mappings and
    namedtuples are kept.
    """
    if isinstance(value, Value) and isinstance(value.type_signature, FederatedType):
        return value
    leaves = [_federated(v, "federated_zip") for v in tf.nest.flatten(value)]
    nest = tf.nest.pack_sequence_as(value, leaves)
    placements = {v.type_signature.placement for v in leaves}
    if len(placements) > 1:
        raise TypeError(
            f"federated_zip: members must share one placement, got {[str(v.type_signature) for v in leaves]}"
        )
    placement = placements.pop() if placements else SERVER
    all_equal = all(v.type_signature.all_equal for v in leaves)
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
        raise TypeError(
            "federated_secure_sum_bitwidth: fedrun takes one integer bitwidth for the whole structure"
        )
    if v.is_abstract:
        return Value(type_signature=FederatedType(v.type_signature.member, SERVER, True))
    total = fed.secure_sum(v.placed, bitwidth)
    dtypes = tf.nest.map_structure(lambda x: tf.convert_to_tensor(x).dtype, v.placed.value)
    return Value(AtServer(tf.nest.map_structure(lambda x, d: tf.cast(x, d), total.value, dtypes)))


__all__ = [
    "federated_broadcast",
    "federated_map",
    "federated_mean",
    "federated_secure_sum_bitwidth",
    "federated_sum",
    "federated_value",
    "federated_zip",
]
