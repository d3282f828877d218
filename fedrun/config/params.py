"""Typed parameters: plain config mappings -> frozen dataclasses, checked.

Each registry entry (a model, an optimizer, an aggregator ...) declares its
parameters as a frozen dataclass. `parse(cls, mapping, path)` converts a plain
mapping into an instance, refusing unknown keys, missing required keys, values of
the wrong type, and values outside the ranges declared with `bounded(...)`, each
with the config path of the bad value.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Mapping, Optional, TypeVar

from fedrun.config.errors import ConfigError, join_path

P = TypeVar("P")
_NUMBER_TYPES = (int, float)


def bounded(
    default: Any = dataclasses.MISSING,
    *,
    ge: Optional[float] = None,
    gt: Optional[float] = None,
    le: Optional[float] = None,
    lt: Optional[float] = None,
) -> Any:
    """A dataclass field with a numeric range checked by `parse`."""
    metadata = {k: v for k, v in dict(ge=ge, gt=gt, le=le, lt=lt).items() if v is not None}
    return dataclasses.field(default=default, metadata=metadata)


def _range_text(meta: Mapping[str, float]) -> str:
    symbols = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
    return " and ".join(f"{symbols[k]} {v}" for k, v in meta.items())


def _check_range(value: Any, meta: Mapping[str, float], path: str) -> None:
    if value is None or not meta:
        return
    checks = {
        "ge": lambda b: value >= b,
        "gt": lambda b: value > b,
        "le": lambda b: value <= b,
        "lt": lambda b: value < b,
    }
    for key, bound in meta.items():
        if not checks[key](bound):
            raise ConfigError(path, "value out of range", value, _range_text(meta))


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


def convert(value: Any, tp: Any, path: str) -> Any:
    """Checks `value` against the annotation `tp` and returns the converted value."""
    if tp is Any:
        return value
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(path, "unknown value", value, [repr(a) for a in args])
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:  # an optional block left null stays off
            return None
        for option in args:
            try:
                return convert(value, option, path)
            except ConfigError:
                if isinstance(value, Mapping) and dataclasses.is_dataclass(option):
                    raise  # a mapping meant for this block: its own error names the bad key
                continue
        raise ConfigError(path, f"expected {_type_name(tp)}", value)
    if tp is type(None):
        if value is not None:
            raise ConfigError(path, "expected null", value)
        return None
    if origin in (list, tuple, typing.Sequence) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(
                path, f"expected a list of {_type_name(args[0]) if args else 'values'}", value
            )
        item_type = args[0] if args else Any
        items = [convert(v, item_type, join_path(path, i)) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple or tp is tuple else items
    if origin in (dict, typing.Mapping) or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(path, "expected a mapping", value)
        value_type = args[1] if len(args) == 2 else Any
        return {str(k): convert(v, value_type, join_path(path, k)) for k, v in value.items()}
    if dataclasses.is_dataclass(tp):
        return parse(tp, value, path)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(path, "expected true or false", value)
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(path, "expected an integer", value)
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, _NUMBER_TYPES):
            raise ConfigError(path, "expected a number", value)
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(path, "expected a string", value)
        return value
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(path, f"expected {_type_name(tp)}", value)
    return value


def parse(cls: type[P], mapping: Any, path: str, ignore: tuple[str, ...] = ()) -> P:
    """Builds the dataclass `cls` from a plain mapping, validating every field.

    Args:
        cls: A dataclass type whose fields carry type annotations.
        mapping: The plain (already OmegaConf-resolved) mapping.
        path: The mapping's path in the config, for error messages.
        ignore: Keys that belong to the caller (such as `type`), not to `cls`.

    Raises:
        ConfigError: naming the bad key's path.
    """
    if mapping is None:
        mapping = {}
    if not isinstance(mapping, Mapping):
        raise ConfigError(path, "expected a mapping", mapping)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    unknown = [k for k in mapping if k not in fields and k not in ignore]
    if unknown:
        raise ConfigError(join_path(path, unknown[0]), "unknown key", allowed=sorted(fields))
    kwargs = {}
    for name, field in fields.items():
        field_path = join_path(path, name)
        if name not in mapping:
            if (
                field.default is dataclasses.MISSING
                and field.default_factory is dataclasses.MISSING
            ):
                raise ConfigError(
                    field_path, f"missing required key (expected {_type_name(hints[name])})"
                )
            continue
        value = convert(mapping[name], hints[name], field_path)
        _check_range(value, field.metadata, field_path)
        kwargs[name] = value
    try:
        return cls(**kwargs)
    except ConfigError:  # a nested node checked by the dataclass, already naming its path
        raise
    except ValueError as err:  # a dataclass's own cross-field check
        raise ConfigError(path, str(err)) from None
