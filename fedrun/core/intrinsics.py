"""The federated intrinsics: the only ways values move between placements.

* `broadcast`: server -> clients (every client gets the same value).
* `map`: per-placement computation (per client, vectorized over the cohort).
* `sum`, `mean`: clients -> server aggregates.
* `secure_sum`: clients -> server modular sum of integers; callers mask values first,
  so the server learns only the sum.
* `collect`: clients -> server, every client's value. Only for aggregators whose
  definition needs individual values (coordinate median, Krum); it reveals them, and
  fedrun refuses to put it under `secure_sum`.
"""

from __future__ import annotations

import builtins
import weakref
from typing import Any, Callable, Optional, Sequence, Union

import tensorflow as tf

from fedrun.core.placements import AtClients, AtServer, CLIENTS, Placement, SERVER

Placed = Union[AtServer, AtClients]


def value(v: Any, placement: Placement, num_clients: Optional[int] = None) -> Placed:
    """Places a constant at the server, or (the same value) at every client."""
    if placement == SERVER:
        return AtServer(v)
    if num_clients is None:
        raise ValueError("placing a value at CLIENTS needs num_clients")
    return AtClients(v, num_clients, all_equal=True)


def broadcast(v: AtServer, num_clients: int) -> AtClients:
    """Sends a server value to every client of a cohort of `num_clients`."""
    _expect(v, AtServer, "broadcast")
    return AtClients(v.value, num_clients, all_equal=True)


def zip_at_server(values: Any) -> AtServer:
    """Turns a nest of `AtServer` values into one `AtServer` nest."""
    return AtServer(
        tf.nest.map_structure(lambda p: p.value, values, check_types=False)
        if not isinstance(values, AtServer)
        else values.value
    )


def zip_at_clients(values: Any) -> AtClients:
    """Turns a nest of `AtClients` values of one cohort into one `AtClients` nest.

    The result is `all_equal` only if every member is; otherwise broadcast members
    are stacked so that every leaf has the client axis.
    """
    if isinstance(values, AtClients):
        return values
    members = tf.nest.flatten(values)
    _expect_all(members, AtClients, "zip_at_clients")
    counts = {m.num_clients for m in members}
    if len(counts) > 1:
        raise ValueError(
            f"zip_at_clients: client values of different cohorts (sizes {sorted(counts)})"
        )
    num_clients = counts.pop() if counts else 0
    all_equal = all(m.all_equal for m in members)
    pick = (lambda m: m.value) if all_equal else (lambda m: m.stacked())
    return AtClients(tf.nest.map_structure(pick, values), num_clients, all_equal=all_equal)


_VECTORIZED_CACHE: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()


def _vectorized(fn: Callable[..., Any], batched_positions: tuple[int, ...]) -> Callable[..., Any]:
    """A compiled function applying `fn` per client over the batched arguments.

    Cached per function so that a per-client computation is traced once per shape,
    not once per round.
    """
    try:
        per_fn = _VECTORIZED_CACHE.setdefault(fn, {})
    except TypeError:  # not weak-referenceable: compile without caching
        per_fn = {}
    compiled = per_fn.get(batched_positions)
    if compiled is None:

        def run(batched: list[Any], unbatched: list[Any]) -> Any:
            def per_client(elems: list[Any]) -> Any:
                call_args = list(unbatched)
                for position, elem in builtins.zip(batched_positions, elems):
                    call_args[position] = elem
                return fn(*call_args)

            return tf.vectorized_map(per_client, batched)

        compiled = tf.function(run, reduce_retracing=True)
        per_fn[batched_positions] = compiled
    return compiled


def map(fn: Callable[..., Any], arg: Union[Placed, Sequence[Placed]]) -> Placed:  # noqa: A001
    """Applies `fn` at the placement of `arg` (per client at CLIENTS).

    Args:
        fn: A function of one value, or of as many values as `arg` has members.
            At CLIENTS it is written for one client; fedrun vectorizes it.
        arg: A placed value, or a tuple/list of values placed alike.

    Returns:
        The result, placed where the argument was.
    """
    args = list(arg) if isinstance(arg, (tuple, list)) else [arg]
    placements = {a.placement for a in args}
    if len(placements) != 1:
        raise TypeError(
            f"map: arguments must share one placement, got {sorted(str(p) for p in placements)}"
        )
    if args[0].placement == SERVER:
        return AtServer(fn(*[a.value for a in args]))
    counts = {a.num_clients for a in args}
    if len(counts) != 1:
        raise ValueError(f"map: client values of different cohorts (sizes {sorted(counts)})")
    num_clients = counts.pop()
    if all(a.all_equal for a in args):
        return AtClients(fn(*[a.value for a in args]), num_clients, all_equal=True)
    positions = tuple(i for i, a in enumerate(args) if not a.all_equal)
    batched = [args[i].value for i in positions]
    unbatched = [a.value if a.all_equal else None for a in args]
    return AtClients(_vectorized(fn, positions)(batched, unbatched), num_clients)


def sum(v: AtClients) -> AtServer:  # noqa: A001
    """The sum over clients, at the server."""
    _expect(v, AtClients, "sum")
    if v.all_equal:
        return AtServer(tf.nest.map_structure(lambda x: _times(x, v.num_clients), v.value))
    return AtServer(tf.nest.map_structure(lambda x: tf.reduce_sum(x, axis=0), v.value))


def mean(v: AtClients, weight: Optional[AtClients] = None) -> AtServer:
    """The (weighted) mean over clients, at the server."""
    _expect(v, AtClients, "mean")
    if weight is None:
        total = sum(v).value
        return AtServer(tf.nest.map_structure(lambda x: x / tf.cast(v.num_clients, x.dtype), total))
    _expect(weight, AtClients, "mean weight")
    w = tf.convert_to_tensor(weight.stacked())
    total_weight = tf.reduce_sum(w)

    def weighted_mean(x: tf.Tensor) -> tf.Tensor:
        wx = tf.reshape(tf.cast(w, x.dtype), [-1] + [1] * (x.shape.rank - 1))
        return tf.reduce_sum(x * wx, axis=0) / tf.cast(total_weight, x.dtype)

    return AtServer(tf.nest.map_structure(weighted_mean, v.stacked()))


def secure_sum(v: AtClients, bitwidth: int) -> AtServer:
    """The sum of non-negative integers modulo `2**bitwidth`, at the server.

    This is the transport of secure aggregation: the caller masks each client's
    integers first (see `fedrun.aggregators.secure`), so the modular sum is all the
    server learns.
    """
    _expect(v, AtClients, "secure_sum")
    if not 1 <= bitwidth <= 62:
        raise ValueError(f"secure_sum: bitwidth must be in [1, 62], got {bitwidth}")
    modulus = tf.constant(2**bitwidth, tf.int64)

    def modular_sum(x: tf.Tensor) -> tf.Tensor:
        x = tf.cast(x, tf.int64)
        if v.all_equal:
            return tf.math.floormod(x * v.num_clients, modulus)
        if (2**bitwidth - 1) * v.num_clients < 2**63:
            return tf.math.floormod(tf.reduce_sum(x, axis=0), modulus)
        # Too many clients to sum at once in int64: reduce after every client.
        return tf.foldl(
            lambda acc, row: tf.math.floormod(acc + row, modulus),
            x,
            initializer=tf.zeros_like(x[0]),
        )

    return AtServer(tf.nest.map_structure(modular_sum, v.value))


def collect(v: AtClients) -> AtServer:
    """Every client's value, stacked, at the server (reveals individual values)."""
    _expect(v, AtClients, "collect")
    return AtServer(v.stacked())


def _times(x: Any, count: int) -> tf.Tensor:
    x = tf.convert_to_tensor(x)
    return x * tf.cast(count, x.dtype)


def _expect_all(values: Sequence[Any], kind: type, what: str) -> None:
    for v in values:
        _expect(v, kind, what)


def _expect(v: Any, kind: type, what: str) -> None:
    if not isinstance(v, kind):
        raise TypeError(f"{what}: expected a value placed {kind.placement}, got {type(v).__name__}")
