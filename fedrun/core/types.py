"""Types of federated values and their printed form.

These mirror TensorFlow Federated's type system closely enough that a signature
prints the way TFF users know it: `float32[784,10]`, `<a=float32,b=int64>`,
`{float32}@CLIENTS`, `( -> <>@SERVER)`. fedrun uses them to describe processes
(`Computation.type_signature`); they play no part in execution.
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Any, Iterator, Optional, Union

import numpy as np
import tensorflow as tf

from fedrun.core.placements import CLIENTS, SERVER, AtClients, AtServer, Placement

Type = Union["TensorType", "StructType", "SequenceType", "FederatedType", "FunctionType"]


class TypeSpecError(TypeError):
    """A value that does not describe a fedrun type (a dtype, shape or member)."""


def _dtype_name(dtype: Any) -> str:
    try:
        return tf.as_dtype(dtype).name
    except TypeError:
        raise TypeSpecError(f"not a dtype: {dtype!r} (use e.g. np.float32 or tf.int32)") from None


def _shape(shape: Any) -> tf.TensorShape:
    try:
        return tf.TensorShape(shape)
    except (TypeError, ValueError):
        raise TypeSpecError(
            f"not a shape: {shape!r} (use a list of dimensions, None for unknown)"
        ) from None


@dataclasses.dataclass(frozen=True)
class TensorType:
    """A tensor of a dtype and a shape; `None` dimensions print as `?`."""

    dtype: str
    shape: tuple[Optional[int], ...] = ()

    def __init__(self, dtype: Any, shape: Any = ()) -> None:
        dims = _shape(shape)
        object.__setattr__(self, "dtype", _dtype_name(dtype))
        object.__setattr__(
            self, "shape", tuple(dims.as_list()) if dims.rank is not None else (None,)
        )

    def __str__(self) -> str:
        if not self.shape:
            return self.dtype
        return f"{self.dtype}[{','.join('?' if d is None else str(d) for d in self.shape)}]"

    def formatted_representation(self) -> str:
        return str(self)


@dataclasses.dataclass(frozen=True)
class StructType:
    """An ordered structure of (optionally named) member types."""

    elements: tuple[tuple[Optional[str], Type], ...]

    def __init__(self, elements: Any) -> None:
        items: tuple[tuple[Optional[str], Type], ...]
        if isinstance(elements, collections.abc.Mapping):
            items = tuple((str(k), to_type(v)) for k, v in elements.items())
        elif not isinstance(elements, collections.abc.Iterable):
            raise TypeSpecError(
                f"StructType takes a mapping or a sequence of member types, got {type(elements).__name__}"
            )
        else:
            items = tuple(
                (e[0], to_type(e[1])) if _is_named_pair(e) else (None, to_type(e)) for e in elements
            )
        object.__setattr__(self, "elements", items)

    def __len__(self) -> int:
        return len(self.elements)

    def __iter__(self) -> Iterator[Type]:
        return iter(t for _, t in self.elements)

    def __getitem__(self, key: Union[int, str]) -> Type:
        if isinstance(key, int):
            return self.elements[key][1]
        for name, member in self.elements:
            if name == key:
                return member
        raise KeyError(key)

    def __getattr__(self, name: str) -> Type:
        # Named members read as attributes too (`weights_type.trainable`), as in TFF.
        if not name.startswith("_"):
            for member_name, member in self.__dict__.get("elements", ()):
                if member_name == name:
                    return member
        raise AttributeError(f"{type(self).__name__} has no member or attribute {name!r}")

    def names(self) -> list[Optional[str]]:
        return [name for name, _ in self.elements]

    def __str__(self) -> str:
        return "<" + ",".join(f"{n}={t}" if n else str(t) for n, t in self.elements) + ">"

    def formatted_representation(self) -> str:
        return _format(self)


@dataclasses.dataclass(frozen=True)
class SequenceType:
    """A sequence (a `tf.data.Dataset`) of elements of one type."""

    element: Type

    def __post_init__(self) -> None:
        object.__setattr__(self, "element", to_type(self.element))

    def __str__(self) -> str:
        return f"{self.element}*"

    def formatted_representation(self) -> str:
        return _format(self)


@dataclasses.dataclass(frozen=True)
class FederatedType:
    """A value placed at the server or at the clients."""

    member: Type
    placement: Placement
    all_equal: bool = True

    def __str__(self) -> str:
        if self.all_equal:
            return f"{self.member}@{self.placement}"
        return f"{{{self.member}}}@{self.placement}"

    def formatted_representation(self) -> str:
        return _format(self)


@dataclasses.dataclass(frozen=True)
class FunctionType:
    """The type of a computation: parameter (or none) to result."""

    parameter: Optional[Type]
    result: Type

    def __str__(self) -> str:
        param = "" if self.parameter is None else str(self.parameter)
        return f"({param} -> {self.result})"

    def formatted_representation(self) -> str:
        return _format(self)


def _is_named_pair(element: Any) -> bool:
    return isinstance(element, tuple) and len(element) == 2 and isinstance(element[0], str)


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.split("\n"))


def _format(t: Type) -> str:
    """Multi-line form, two spaces per level, as TFF's `formatted_representation`."""
    if isinstance(t, TensorType):
        return str(t)
    if isinstance(t, StructType):
        if not t.elements:
            return "<>"
        lines = [(f"{n}=" if n else "") + _format(m) for n, m in t.elements]
        return "<\n" + ",\n".join(_indent(line) for line in lines) + "\n>"
    if isinstance(t, SequenceType):
        return _format(t.element) + "*"
    if isinstance(t, FederatedType):
        member = _format(t.member)
        return f"{member}@{t.placement}" if t.all_equal else f"{{{member}}}@{t.placement}"
    if isinstance(t, FunctionType):
        param = "" if t.parameter is None else _format(t.parameter)
        return f"({param} -> {_format(t.result)})"
    raise TypeSpecError(f"not a fedrun type: {t!r}")


def to_type(value: Any) -> Type:
    """The fedrun type of a value, a spec, or a nest of either.

    Accepts types (returned as they are), `tf.TensorSpec`, `tf.data.DatasetSpec`,
    tensors, numpy arrays and Python scalars, dtypes, `(dtype, shape)` pairs, placed
    values, and nests of those: mappings and namedtuples become named structures,
    lists and tuples unnamed ones.
    """
    if isinstance(value, (TensorType, StructType, SequenceType, FederatedType, FunctionType)):
        return value
    if isinstance(value, AtServer):
        return FederatedType(to_type(value.value), SERVER, all_equal=True)
    if isinstance(value, AtClients):
        member = to_type(value.value)
        if not value.all_equal:
            member = _unstack(member)
        return FederatedType(member, CLIENTS, all_equal=value.all_equal)
    if isinstance(value, tf.TensorSpec):
        return TensorType(value.dtype, value.shape)
    if isinstance(value, tf.data.DatasetSpec):
        return SequenceType(to_type(value.element_spec))
    if isinstance(value, tf.data.Dataset):
        return SequenceType(to_type(value.element_spec))
    if isinstance(value, (tf.Tensor, tf.Variable, np.ndarray, np.generic)):
        return TensorType(value.dtype, value.shape)
    if isinstance(value, bool):
        return TensorType(tf.bool)
    if isinstance(value, int):
        return TensorType(tf.int32)
    if isinstance(value, float):
        return TensorType(tf.float32)
    if isinstance(value, (str, bytes)):
        return TensorType(tf.string)
    if is_dtype(value):
        return TensorType(value)
    if _is_dtype_shape_pair(value):
        return TensorType(value[0], value[1])
    if _is_namedtuple(value):
        return StructType([(name, to_type(getattr(value, name))) for name in value._fields])
    if isinstance(value, collections.abc.Mapping):
        return StructType([(str(k), to_type(v)) for k, v in value.items()])
    if isinstance(value, (list, tuple)):
        return StructType([to_type(v) for v in value])
    raise TypeSpecError(f"cannot derive a fedrun type from {type(value).__name__}: {value!r}")


def is_dtype(value: Any) -> bool:
    """A TensorFlow dtype, a numpy dtype, or a numpy scalar type such as `np.float32`."""
    if isinstance(value, (tf.dtypes.DType, np.dtype)):
        return True
    return isinstance(value, type) and issubclass(value, np.generic)


def _is_dtype_shape_pair(value: Any) -> bool:
    """TFF's `(dtype, shape)` spelling of a tensor type, e.g. `(tf.float32, (2,))`."""
    return (
        isinstance(value, tuple)
        and len(value) == 2
        and is_dtype(value[0])
        and isinstance(value[1], (tuple, list, tf.TensorShape))
    )


def _unstack(t: Type) -> Type:
    """Drops the leading client axis from every tensor of a stacked type."""
    if isinstance(t, TensorType):
        return TensorType(t.dtype, t.shape[1:])
    if isinstance(t, StructType):
        return StructType([(n, _unstack(m)) if n else _unstack(m) for n, m in t.elements])
    return t


def _is_namedtuple(value: Any) -> bool:
    return isinstance(value, tuple) and hasattr(value, "_fields")
