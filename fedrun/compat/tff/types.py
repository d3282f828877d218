"""TFF's type constructors on top of fedrun's types (`fedrun.core.types`).

fedrun's type classes are TFF's, so signatures print alike; this module adds TFF's
spellings (`tff.to_type([(tf.float32, (2,))])`, `tff.FederatedType(tf.int32,
tff.CLIENTS)` with the placement's default `all_equal`) and the conversions the
facade needs at its boundary: types to `tf.TensorSpec` nests and back, Python values
to tensors of a type, and the assignability check of arguments.
"""

from __future__ import annotations

import collections
from typing import Any, Optional

import numpy as np
import tensorflow as tf

from fedrun.compat.tff.errors import FacadeTypeError
from fedrun.compat.tff.unsupported import TYPES, error
from fedrun.core import types as core_types
from fedrun.core.placements import CLIENTS, SERVER, Placement
from fedrun.core.types import FunctionType, SequenceType, StructType, TensorType, Type
from fedrun.models.functional import ModelWeights

# TFF keeps a struct's Python container in its type; fedrun's types do not, so the
# one container TFF's learning code relies on is recognised by its names.
_MODEL_WEIGHTS_NAMES = list(ModelWeights._fields)


def to_type(spec: Any) -> Type:
    """The type that `spec` describes (TFF's `tff.to_type`).

    Accepts fedrun/TFF types, dtypes, `(dtype, shape)` pairs, `tf.TensorSpec`,
    `tf.data.DatasetSpec`, and lists, tuples, mappings and namedtuples of those.
    """
    if spec is None:
        raise FacadeTypeError(
            "to_type: None is not a type (a computation without a parameter takes no type)"
        )
    if _is_named(spec):
        return StructType([(spec[0], to_type(spec[1]))])
    if isinstance(spec, list) or (
        isinstance(spec, tuple) and not hasattr(spec, "_fields") and not _is_tensor_pair(spec)
    ):
        if spec and all(_is_named(e) for e in spec):
            return StructType([(name, to_type(member)) for name, member in spec])
        return StructType([to_type(e) for e in spec])
    if isinstance(spec, collections.abc.Mapping):
        return StructType([(str(k), to_type(v)) for k, v in spec.items()])
    try:
        return core_types.to_type(spec)
    except TypeError as err:
        raise FacadeTypeError(f"to_type: {err}") from None


def tensorflow_to_type(obj: Any) -> Type:
    """The type of a TensorFlow spec, dtype or nest of them (TFF's `tff.types.tensorflow_to_type`).

    Accepts what `dataset.element_spec` and `tf.TensorSpec` give, TensorFlow and
    numpy dtypes, `tf.data.DatasetSpec`, and lists, tuples, mappings and
    namedtuples of those.
    """
    leaves = tf.nest.flatten(obj)
    for leaf in leaves:
        if not (
            core_types.is_dtype(leaf) or isinstance(leaf, (tf.TensorSpec, tf.data.DatasetSpec))
        ):
            raise FacadeTypeError(
                f"tensorflow_to_type: expected TensorFlow specs or dtypes, got a {type(leaf).__name__}: {leaf!r}"
            )
    return to_type(obj)


def has_sequence(t: Type) -> bool:
    """Whether `t` is or holds a sequence type."""
    if isinstance(t, SequenceType):
        return True
    if isinstance(t, StructType):
        return any(has_sequence(member) for member in t)
    return False


def _is_tensor_pair(spec: Any) -> bool:
    return len(spec) == 2 and core_types.is_dtype(spec[0])


def _is_named(spec: Any) -> bool:
    """TFF's `(name, type)` spelling of a named member."""
    return (
        isinstance(spec, tuple)
        and len(spec) == 2
        and isinstance(spec[0], str)
        and not isinstance(spec[1], str)
    )


class _FederatedTypeMeta(type):
    """Makes `isinstance(t, tff.FederatedType)` true for every fedrun federated type."""

    def __instancecheck__(cls, instance: Any) -> bool:
        return isinstance(instance, core_types.FederatedType)


class FederatedType(core_types.FederatedType, metaclass=_FederatedTypeMeta):
    """TFF's `tff.FederatedType(member, placement, all_equal=None)`.

    The member is converted with `to_type`; `all_equal` defaults to True at the
    server and False at the clients, as in TFF. Instances are fedrun
    `FederatedType`s and compare equal to them.
    """

    def __init__(self, member: Any, placement: Placement, all_equal: Optional[bool] = None) -> None:
        if placement not in (SERVER, CLIENTS):
            raise FacadeTypeError(
                f"FederatedType: placement must be tff.SERVER or tff.CLIENTS, got {placement!r}"
            )
        object.__setattr__(self, "member", to_type(member))
        object.__setattr__(self, "placement", placement)
        object.__setattr__(
            self, "all_equal", placement == SERVER if all_equal is None else bool(all_equal)
        )

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, core_types.FederatedType) and (
            (self.member, self.placement, self.all_equal)
            == (other.member, other.placement, other.all_equal)
        )

    def __hash__(self) -> int:
        return hash((self.member, self.placement, self.all_equal))


def federated(
    member: Any, placement: Placement, all_equal: Optional[bool] = None
) -> core_types.FederatedType:
    """A fedrun `FederatedType` built with TFF's defaults."""
    t = FederatedType(member, placement, all_equal)
    return core_types.FederatedType(t.member, t.placement, t.all_equal)


def type_at_clients(member: Any, all_equal: bool = False) -> core_types.FederatedType:
    """`{member}@CLIENTS` (or `member@CLIENTS` when `all_equal`)."""
    return federated(member, CLIENTS, all_equal)


def type_at_server(member: Any) -> core_types.FederatedType:
    """`member@SERVER`."""
    return federated(member, SERVER, True)


def to_spec(t: Type) -> Any:
    """The `tf.TensorSpec` nest of an unplaced type (named structs become OrderedDicts,
    `<trainable,non_trainable>` a `ModelWeights`)."""
    if isinstance(t, TensorType):
        return tf.TensorSpec(t.shape, t.dtype)
    if isinstance(t, StructType):
        if t.names() == _MODEL_WEIGHTS_NAMES:
            return ModelWeights(*(to_spec(member) for member in t))
        if t.elements and all(name for name, _ in t.elements):
            return collections.OrderedDict((name, to_spec(member)) for name, member in t.elements)
        return tuple(to_spec(member) for member in t)
    if isinstance(t, SequenceType):
        return tf.data.DatasetSpec(to_spec(t.element))
    raise FacadeTypeError(f"expected an unplaced tensor or structure type, got {t}")


def convert(value: Any, t: Type, keep_containers: bool = False) -> Any:
    """`value` (Python numbers, lists, arrays, tensors) as tensors of type `t`.

    Structures come out canonical (`ModelWeights` for `<trainable,non_trainable>`,
    OrderedDict when every member is named, else a tuple), or, with `keep_containers`, in the containers `value` already has
    (namedtuples, dicts, lists), so that state handed out to Python comes back in the
    form its process built it.
    """
    if isinstance(t, TensorType):
        if isinstance(value, (tf.Tensor, tf.Variable)) and value.dtype == tf.as_dtype(t.dtype):
            tensor = tf.convert_to_tensor(value)
        else:
            tensor = tf.constant(np.asarray(value, dtype=tf.as_dtype(t.dtype).as_numpy_dtype))
        if not tf.TensorShape(t.shape).is_compatible_with(tensor.shape):
            raise FacadeTypeError(
                f"a value of shape {tensor.shape.as_list()} does not fit the type {t}"
            )
        return tensor
    if isinstance(t, StructType):
        members = _members(value, t)
        names = t.names()
        converted = [convert(v, m, keep_containers) for v, m in zip(members, t)]
        if keep_containers:
            return _rebuild(value, converted)
        if names == _MODEL_WEIGHTS_NAMES:
            return ModelWeights(*converted)
        if converted and all(names):
            return collections.OrderedDict(zip(names, converted))
        return tuple(converted)
    if isinstance(t, SequenceType):
        return to_dataset(value, t)
    raise FacadeTypeError(f"cannot convert a Python value to the type {t}")


def to_dataset(value: Any, t: SequenceType) -> tf.data.Dataset:
    """A `tf.data.Dataset` of elements of `t.element`: a dataset passes through
    (its elements must fit), a list becomes the dataset of its elements."""
    if isinstance(value, tf.data.Dataset):
        if not is_assignable(t.element, core_types.to_type(value.element_spec)):
            raise FacadeTypeError(
                f"a dataset of {core_types.to_type(value.element_spec)} does not fit the type {t}"
            )
        return value
    if not isinstance(value, (list, tuple)):
        raise FacadeTypeError(
            f"a {type(value).__name__} does not fit the sequence type {t}; pass a list or a tf.data.Dataset"
        )
    spec = to_spec(t.element)
    if not value:
        empty = tf.nest.map_structure(lambda s: tf.zeros([0] + s.shape.as_list(), s.dtype), spec)
        return tf.data.Dataset.from_tensor_slices(empty)
    elements = [convert(v, t.element) for v in value]
    shapes = {tuple(tuple(x.shape) for x in tf.nest.flatten(e)) for e in elements}
    if len(shapes) == 1:
        return tf.data.Dataset.from_tensor_slices(
            tf.nest.map_structure(lambda *xs: tf.stack(xs), *elements)
        )
    # Elements of different shapes (batches of different sizes) cannot be stacked.
    dataset = tf.data.Dataset.from_tensors(elements[0])
    for element in elements[1:]:
        dataset = dataset.concatenate(tf.data.Dataset.from_tensors(element))
    return dataset


def _rebuild(original: Any, members: list[Any]) -> Any:
    container: Any = type(original)  # the caller's own container class, built as it was
    if isinstance(original, tuple) and hasattr(original, "_fields"):
        return container(*members)
    if isinstance(original, collections.abc.Mapping):
        return container(zip(original.keys(), members))
    return container(members)


def _members(value: Any, t: StructType) -> list[Any]:
    if isinstance(value, collections.abc.Mapping):
        names = t.names()
        if names and all(names):
            missing = [n for n in names if n not in value]
            if missing:
                raise FacadeTypeError(
                    f"a value with keys {list(value)} does not fit the type {t} (missing {missing})"
                )
            return [value[n] for n in names]
        items = list(value.values())
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise FacadeTypeError(f"a {type(value).__name__} does not fit the structure type {t}")
    if len(items) != len(t):
        raise FacadeTypeError(
            f"a value with {len(items)} members does not fit the type {t} ({len(t)} members)"
        )
    return items


def is_assignable(target: Type, source: Type) -> bool:
    """Whether a value of type `source` may be passed where `target` is expected.

    Unknown dimensions (`?`) in `target` accept any size; an all-equal value fits a
    parameter that does not require all-equal values.
    """
    if isinstance(target, TensorType) and isinstance(source, TensorType):
        return (
            target.dtype == source.dtype
            and len(target.shape) == len(source.shape)
            and all(t is None or t == s for t, s in zip(target.shape, source.shape))
        )
    if isinstance(target, StructType) and isinstance(source, StructType):
        if len(target) != len(source):
            return False
        for (t_name, t_member), (s_name, s_member) in zip(target.elements, source.elements):
            if t_name and s_name and t_name != s_name:
                return False
            if not is_assignable(t_member, s_member):
                return False
        return True
    if isinstance(target, core_types.FederatedType) and isinstance(
        source, core_types.FederatedType
    ):
        if target.placement != source.placement or (target.all_equal and not source.all_equal):
            return False
        return is_assignable(target.member, source.member)
    if isinstance(target, SequenceType) and isinstance(source, SequenceType):
        return is_assignable(target.element, source.element)
    if isinstance(target, FunctionType) and isinstance(source, FunctionType):
        return target == source
    return False


def __getattr__(name: str) -> object:
    raise error("tff.types", name, TYPES)


__all__ = [
    "FederatedType",
    "FunctionType",
    "SequenceType",
    "StructType",
    "TensorType",
    "convert",
    "federated",
    "has_sequence",
    "is_assignable",
    "tensorflow_to_type",
    "to_dataset",
    "to_spec",
    "to_type",
    "type_at_clients",
    "type_at_server",
]
