"""TFF's `tff.backends.native` context setters.

fedrun has no execution context to install; what these calls still mean is the
number of clients a computation without client-placed arguments runs with
(`default_num_clients`), which `tff.federated_broadcast`, `tff.federated_value(...,
tff.CLIENTS)` and `tff.federated_eval(..., tff.CLIENTS)` need.
"""

from __future__ import annotations

from typing import Any

from fedrun.compat.tff import values
from fedrun.compat.tff.errors import FacadeTypeError
from fedrun.compat.tff.unsupported import BACKENDS, UnsupportedError, error


def _set(name: str, default_num_clients: int, kwargs: dict[str, Any]) -> None:
    if kwargs:
        raise UnsupportedError(
            f"tff.backends.native.{name}({', '.join(kwargs)}=...) is not supported by fedrun: it runs computations in this "
            "Python process, so only default_num_clients has a meaning (see docs/migrating-from-tff.md)"
        )
    if (
        isinstance(default_num_clients, bool)
        or not isinstance(default_num_clients, int)
        or default_num_clients < 0
    ):
        raise FacadeTypeError(
            f"tff.backends.native.{name}: default_num_clients must be an int >= 0, got {default_num_clients!r}"
        )
    values.set_default_num_clients(default_num_clients or None)


def set_sync_local_cpp_execution_context(default_num_clients: int = 0, **kwargs: Any) -> None:
    """Sets the client count of computations that have no client-placed argument
    (0: none; they then need one)."""
    _set("set_sync_local_cpp_execution_context", default_num_clients, kwargs)


def set_async_local_cpp_execution_context(default_num_clients: int = 0, **kwargs: Any) -> None:
    """As `set_sync_local_cpp_execution_context` (fedrun's calls return their results)."""
    _set("set_async_local_cpp_execution_context", default_num_clients, kwargs)


def __getattr__(name: str) -> object:
    raise error("tff.backends.native", name, BACKENDS)


__all__ = ["set_async_local_cpp_execution_context", "set_sync_local_cpp_execution_context"]
