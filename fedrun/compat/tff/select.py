"""TFF's `tff.federated_select`: each client receives the server values its keys select.

`federated_select(client_keys, max_key, server_val, select_fn)` gives every
client the sequence `select_fn(server_val, key)` for each of its keys, in key
order. fedrun computes the selections at the server in this process (there is
no transport to save), so the result is the same as TFF's; keys are checked
against `max_key` (TFF requires `0 <= key < max_key`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from fedrun.compat.tff.computations import (
    FederatedComputation,
    TensorFlowComputation,
    tf_computation,
)
from fedrun.compat.tff.errors import FacadeTypeError, FacadeValueError
from fedrun.compat.tff.values import PerClient, Value
from fedrun.core.placements import CLIENTS, SERVER, AtClients, AtServer
from fedrun.core.types import FederatedType, SequenceType, StructType, TensorType


def _placed(value: Any, what: str, placement: Any) -> Value:
    if isinstance(value, (AtServer, AtClients)):
        value = Value(value)
    t = value.type_signature if isinstance(value, Value) else None
    if not isinstance(t, FederatedType) or t.placement != placement:
        raise FacadeTypeError(
            f"federated_select: {what} must be a value placed at {placement}, got {t or type(value).__name__}"
        )
    return value


def federated_select(client_keys: Any, max_key: Any, server_val: Any, select_fn: Any) -> Value:
    """The server values selected by each client's keys, as a sequence per client.

    Args:
        client_keys: `int32[n]@CLIENTS`, each client's keys.
        max_key: `int32@SERVER`, one more than the largest key allowed.
        server_val: The server value to select from (`T@SERVER`).
        select_fn: A computation (or function) `(T, int32) -> U`.

    Returns:
        `{U*}@CLIENTS`.
    """
    keys = _placed(client_keys, "client_keys", CLIENTS)
    bound = _placed(max_key, "max_key", SERVER)
    server = _placed(server_val, "server_val", SERVER)
    keys_t = keys.type_signature.member  # type: ignore[union-attr]
    if not isinstance(keys_t, TensorType) or keys_t.dtype != tf.int32 or len(keys_t.shape) != 1:
        raise FacadeTypeError(
            f"federated_select: client_keys must be int32[n]@CLIENTS, got {keys.type_signature}"
        )
    if not callable(select_fn):
        raise FacadeTypeError(
            f"federated_select: select_fn must be a computation of (server value, key), got {select_fn!r}"
        )
    comp = (
        select_fn
        if isinstance(select_fn, (TensorFlowComputation, FederatedComputation))
        else tf_computation(select_fn)
    )
    server_t = server.type_signature.member  # type: ignore[union-attr]
    element_t = comp.signature_for(StructType([server_t, TensorType(tf.int32)])).result
    result_t = FederatedType(SequenceType(element_t), CLIENTS, all_equal=False)
    if keys.is_abstract or bound.is_abstract or server.is_abstract:
        return Value(type_signature=result_t)
    select = comp.adapted(2)
    limit = int(np.asarray(bound.placed.value))
    value = server.placed.value
    sequences = []
    for client, client_keys_value in enumerate(keys.placed.to_list()):
        client_keys_list = np.asarray(client_keys_value).tolist()
        if any(not 0 <= k < limit for k in client_keys_list):
            raise FacadeValueError(
                f"federated_select: client {client}'s keys {client_keys_list} must lie in [0, {limit})"
            )
        selected = [select(value, tf.constant(k, tf.int32)) for k in client_keys_list]
        if not selected:
            raise FacadeValueError(f"federated_select: client {client} has no keys")
        stacked = tf.nest.map_structure(lambda *parts: tf.stack(parts), *selected)
        sequences.append(tf.data.Dataset.from_tensor_slices(stacked))
    return Value(PerClient(tuple(sequences)), type_signature=result_t)


__all__ = ["federated_select"]
