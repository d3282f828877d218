"""Values inside federated computations, the execution context, and Python results.

A TFF program manipulates values inside `federated_computation` bodies. In the
facade such a value is a `Value`: either *concrete*, wrapping a fedrun placed value
(`AtServer` / `AtClients`, client values stacked along a leading axis), or
*abstract*, carrying only a type. Abstract values exist while a computation's
`type_signature` is derived: its body is run once on abstract parameters, every
intrinsic maps argument types to a result type, so no data is touched.

`Value` supports what TFF's values support in a body: unpacking and indexing a
structure (`a, b = state`, `output.result`), also through a placement.

Calls from Python (outside any computation) take Python values and return Python
values, converted the way TFF converts them: tensors become numpy arrays, scalars
Python numbers (float32 scalars print with float32 precision, like numpy 1 did),
client-placed values a list with one entry per client.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import threading
from typing import Any, Iterator, Optional

import numpy as np
import tensorflow as tf

from fedrun.compat.tff.errors import FacadeTypeError, FacadeValueError
from fedrun.core import types as core_types
from fedrun.core.placements import AtClients, AtServer
from fedrun.core.types import StructType, Type


@dataclasses.dataclass(frozen=True)
class Frame:
    """One level of the facade's execution context.

    Attributes:
        tracing: Values are abstract (a signature is being derived).
        num_clients: Cohort size of the running computation (for broadcasts and
            client-placed constants), if known.
    """

    tracing: bool
    num_clients: Optional[int] = None


_LOCAL = threading.local()


def _stack() -> list[Frame]:
    if not hasattr(_LOCAL, "frames"):
        _LOCAL.frames = []
    return _LOCAL.frames


def current_frame() -> Optional[Frame]:
    """The innermost frame, or None when called from plain Python."""
    frames = _stack()
    return frames[-1] if frames else None


def is_tracing() -> bool:
    frame = current_frame()
    return frame is not None and frame.tracing


@contextlib.contextmanager
def frame(tracing: bool, num_clients: Optional[int] = None) -> Iterator[Frame]:
    """Runs the block inside a new frame."""
    new = Frame(tracing, num_clients)
    _stack().append(new)
    try:
        yield new
    finally:
        _stack().pop()


_DEFAULTS: dict[str, Optional[int]] = {"num_clients": None}


def set_default_num_clients(num_clients: Optional[int]) -> None:
    """The cohort size of computations without client-placed arguments (None: unset)."""
    _DEFAULTS["num_clients"] = num_clients


def default_num_clients() -> Optional[int]:
    return _DEFAULTS["num_clients"]


def cohort_size() -> int:
    """The running computation's cohort size; fails clearly if there is none."""
    frame_ = current_frame()
    if frame_ is None or frame_.num_clients is None:
        raise FacadeValueError(
            "the number of clients is unknown here: pass a client-placed argument (one entry per client) "
            "to the computation, or set tff.backends.native.set_sync_local_cpp_execution_context(default_num_clients=N)"
        )
    return frame_.num_clients


@dataclasses.dataclass(frozen=True)
class PerClient:
    """Client values kept one per client: values holding sequences (`tf.data.Dataset`s)
    cannot be stacked along a client axis, so per-client work on them runs client by
    client.

    Attributes:
        values: One value per client.
    """

    values: tuple

    @property
    def num_clients(self) -> int:
        return len(self.values)

    def client(self, index: int) -> Any:
        return self.values[index]


class Value:
    """A value in a federated computation: placed (concrete) or a type (abstract).

    Args:
        placed: The fedrun placed value (`AtServer` / `AtClients`), or None.
        type_signature: The type, for abstract values (derived from `placed` otherwise).
    """

    def __init__(self, placed: Any = None, type_signature: Optional[Type] = None) -> None:
        if placed is None and type_signature is None:
            raise FacadeValueError("a Value needs a placed value or a type")
        self._placed = placed
        self._type = type_signature

    @property
    def is_abstract(self) -> bool:
        return self._placed is None

    @property
    def placed(self) -> Any:
        """The fedrun placed value (concrete values only)."""
        if self._placed is None:
            raise FacadeTypeError(
                f"an abstract value of type {self._type} has no data (it exists only while tracing)"
            )
        return self._placed

    @property
    def type_signature(self) -> Type:
        if self._type is None:
            self._type = core_types.to_type(self._placed)
        return self._type

    # -------------------------------------------------------------- structure
    def _struct(self) -> StructType:
        t = self.type_signature
        member = t.member if isinstance(t, core_types.FederatedType) else t
        if not isinstance(member, StructType):
            raise FacadeTypeError(f"a value of type {t} is not a structure")
        return member

    def __len__(self) -> int:
        return len(self._struct())

    def __iter__(self) -> Iterator["Value"]:
        return (self[i] for i in range(len(self)))

    def __getitem__(self, key: Any) -> "Value":
        struct = self._struct()
        index = _position(struct, key)
        if self.is_abstract:
            return Value(type_signature=_project_type(self.type_signature, index))
        return Value(_project_placed(self.placed, index))

    def __getattr__(self, name: str) -> "Value":
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            struct = self._struct()
        except TypeError:
            raise AttributeError(name) from None
        if name not in struct.names():
            raise AttributeError(f"a value of type {self.type_signature} has no member {name!r}")
        return self[name]

    def __repr__(self) -> str:
        kind = "abstract" if self.is_abstract else "concrete"
        return f"Value({kind}, {self.type_signature})"


def _position(struct: StructType, key: Any) -> int:
    if isinstance(key, int):
        if not -len(struct) <= key < len(struct):
            raise IndexError(f"index {key} out of range for {struct}")
        return key % len(struct)
    names = struct.names()
    if key not in names:
        raise KeyError(f"{struct} has no member {key!r}")
    return names.index(key)


def _project_type(t: Type, index: int) -> Type:
    if isinstance(t, core_types.FederatedType):
        member = t.member
        assert isinstance(member, core_types.StructType), member  # callers index structs only
        return core_types.FederatedType(member[index], t.placement, t.all_equal)
    assert isinstance(t, core_types.StructType), t
    return t[index]


def _nth(nest: Any, index: int) -> Any:
    if isinstance(nest, collections.abc.Mapping):
        return list(nest.values())[index]
    return nest[index]


def _project_placed(placed: Any, index: int) -> Any:
    if isinstance(placed, PerClient):
        return PerClient(tuple(_nth(v, index) for v in placed.values))
    if isinstance(placed, AtServer):
        return AtServer(_nth(placed.value, index))
    return AtClients(_nth(placed.value, index), placed.num_clients, placed.all_equal)


def is_abstract(x: Any) -> bool:
    return isinstance(x, Value) and x.is_abstract


def contains_abstract(nest: Any) -> bool:
    return any(is_abstract(x) for x in tf.nest.flatten(nest, expand_composites=False))


def type_of(result: Any) -> Type:
    """The type of a body's result: a nest of Values, placed values and constants."""
    if isinstance(result, Value):
        return result.type_signature
    if isinstance(result, (AtServer, AtClients)):
        return core_types.to_type(result)
    if _is_namedtuple(result):
        return StructType([(name, type_of(getattr(result, name))) for name in result._fields])
    if isinstance(result, collections.abc.Mapping):
        return StructType([(str(k), type_of(v)) for k, v in result.items()])
    if isinstance(result, (list, tuple)):
        return StructType([type_of(v) for v in result])
    return core_types.to_type(result)


def _is_namedtuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(x, "_fields")


# ------------------------------------------------------------------ Python results
class Float32(float):
    """A float32 scalar as a Python float that prints with float32 precision."""

    def __repr__(self) -> str:
        return str(np.float32(self))

    __str__ = __repr__


def _scalar(array: np.ndarray) -> Any:
    item = array.item()
    if array.dtype == np.float32:
        return Float32(item)
    return item


def to_python(x: Any) -> Any:
    """A result as Python values, the way TFF returns results to Python."""
    if isinstance(x, Value):
        return to_python(x.placed)
    if isinstance(x, PerClient):
        return [to_python(v) for v in x.values]
    if isinstance(x, AtServer):
        return to_python(x.value)
    if isinstance(x, AtClients):
        if x.all_equal:
            return to_python(x.value)
        return [to_python(v) for v in x.to_list()]
    if isinstance(x, (tf.Tensor, tf.Variable, np.ndarray, np.generic)):
        array = np.asarray(x.numpy() if isinstance(x, (tf.Tensor, tf.Variable)) else x)
        return _scalar(array) if array.ndim == 0 else array
    if isinstance(x, (str, float)) and not isinstance(x, Float32):
        return to_python(tf.constant(x))
    if _is_namedtuple(x):
        return type(x)(*[to_python(v) for v in x])
    if isinstance(x, collections.OrderedDict):
        return collections.OrderedDict((k, to_python(v)) for k, v in x.items())
    if isinstance(x, dict):
        return {k: to_python(v) for k, v in x.items()}
    if isinstance(x, list):
        return [to_python(v) for v in x]
    if isinstance(x, tuple):
        return tuple(to_python(v) for v in x)
    return x


__all__ = [
    "Float32",
    "Frame",
    "PerClient",
    "Value",
    "cohort_size",
    "default_num_clients",
    "set_default_num_clients",
    "contains_abstract",
    "current_frame",
    "frame",
    "is_abstract",
    "is_tracing",
    "to_python",
    "type_of",
]
