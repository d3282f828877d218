"""Hydra ConfigStore schemas, generated from fedrun's own parameter dataclasses.

There is one source of truth for what a config may hold: `RunConfig` (the top
level) and each registry entry's frozen parameter dataclass (a model's, an
aggregator's ...). Those carry what OmegaConf cannot express (ranges from
`bounded`, `Literal` choices, tuples, unions, cross-field checks) and
`fedrun.config.schema.validate` checks every value against them, with fedrun's
`ConfigError`.

From the same dataclasses this module derives OmegaConf structured configs and
stores them in Hydra's ConfigStore, so Hydra knows the types too:

* `schema/run`: the top level, first in `conf/config.yaml`'s defaults list
  (`optional schema@_here_: run`). Hydra then types the top-level keys while
  composing (a mistyped top-level key fails before fedrun starts), and group
  nodes stay open (`Any`) since their keys depend on the `type` they name. It is
  optional so that composing without registering it (Hydra's compose API in a
  script that skips `register_schemas`) still works, untyped; `fedrun`,
  `fedrun.cli.compose_config` and the tests register it.
* `schema/<group>/<type>`: one schema per registered option, with `type` fixed
  to its name. An option YAML may extend one (`defaults: [/schema/model/mlp_2nn@_here_,
  _self_]`) to have Hydra type it while composing; the tests check every shipped
  option YAML against its schema.

Adding a top-level key is adding a `RunConfig` field; adding an option is
registering it: the schemas follow.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Dict, List, Optional

from fedrun.config.schema import RunConfig, group_registries

SCHEMA_GROUP = "schema"
ROOT_SCHEMA = "run"


def omegaconf_type(tp: Any) -> Any:
    """The closest annotation OmegaConf supports for a fedrun parameter annotation."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Literal:
        kinds = {type(a) for a in args}
        return (
            kinds.pop() if len(kinds) == 1 and next(iter(kinds)) in (str, int, bool, float) else Any
        )
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        if len(options) == 1:
            inner = omegaconf_type(options[0])
            if inner in (int, float, bool, str):
                return Optional[inner] if len(args) > len(options) else inner
            # OmegaConf cannot merge an override into a null typed container
            # (`stragglers={fraction: 0.5}` onto `stragglers: null`), so those stay open.
            return Any if len(args) > len(options) else inner
        return Any
    if origin in (list, tuple, typing.Sequence) or tp in (list, tuple):
        items = [a for a in args if a is not Ellipsis]
        item = omegaconf_type(items[0]) if len(set(items)) == 1 else Any
        return List[item]  # type: ignore[valid-type]
    if origin in (dict, typing.Mapping) or tp is dict:
        return Dict[str, omegaconf_type(args[1]) if len(args) == 2 else Any]  # type: ignore[misc]
    if dataclasses.is_dataclass(tp):
        return schema_dataclass(tp)
    return tp if tp in (int, float, bool, str) else Any


def _schema_value(value: Any, tp: Any) -> Any:
    """A default value converted to what the generated annotation `tp` holds."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return schema_dataclass(type(value))(
            **{f.name: getattr(value, f.name) for f in dataclasses.fields(value) if f.init}
        )
    if isinstance(value, tuple):
        return list(value)
    return value


def _field(field: dataclasses.Field, tp: Any) -> Any:
    if field.default is not dataclasses.MISSING:
        default = _schema_value(field.default, tp)
        if isinstance(default, (list, dict)) or dataclasses.is_dataclass(default):
            return dataclasses.field(default_factory=lambda d=default: _copy(d))
        return dataclasses.field(default=default)
    if field.default_factory is not dataclasses.MISSING:
        factory = field.default_factory
        return dataclasses.field(default_factory=lambda: _schema_value(factory(), tp))
    return dataclasses.field(default="???")  # OmegaConf's "missing" marker: required


def _copy(value: Any) -> Any:
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value):
        return dataclasses.replace(value)
    return value


_GENERATED: dict[tuple[type, tuple[tuple[str, Any], ...]], type] = {}


def schema_dataclass(
    cls: type,
    name: Optional[str] = None,
    fixed: Optional[dict[str, Any]] = None,
    open_keys: tuple[str, ...] = (),
) -> type:
    """An OmegaConf structured-config dataclass with the fields of `cls`.

    Args:
        cls: A fedrun parameter dataclass.
        name: The generated class's name (default `<cls name>Schema`).
        fixed: Extra leading string fields with defaults (`{"type": "logreg"}`).
        open_keys: Extra untyped fields, default null (an aggregator's child slots).
    """
    key = (cls, tuple(sorted((fixed or {}).items())), open_keys)
    if key in _GENERATED:
        return _GENERATED[key]
    hints = typing.get_type_hints(cls)
    fields: list[tuple[str, Any, Any]] = [
        (k, str, dataclasses.field(default=v)) for k, v in (fixed or {}).items()
    ]
    for field in dataclasses.fields(cls):
        if field.init and field.name not in (fixed or {}):
            tp = omegaconf_type(hints[field.name])
            fields.append((field.name, tp, _field(field, tp)))
    fields += [(k, Any, dataclasses.field(default=None)) for k in open_keys]
    generated = dataclasses.make_dataclass(name or f"{cls.__name__}Schema", fields)
    generated.__doc__ = f"OmegaConf schema generated from `{cls.__module__}.{cls.__qualname__}`."
    _GENERATED[key] = generated
    return generated


def option_schemas() -> dict[str, dict[str, type]]:
    """`{group: {option name: schema}}` for every registered option of every group."""
    from fedrun.aggregators.build import child_slots

    schemas: dict[str, dict[str, type]] = {}
    for group, registry in group_registries().items():
        schemas[group] = {}
        for name in registry.names():
            params = registry.entry(name, group).params
            children = child_slots(name) if group == "aggregator" else ()
            schemas[group][name] = schema_dataclass(
                params or _NoParams,
                f"{_camel(group)}{_camel(name)}Schema",
                {"type": name},
                children,
            )
    return schemas


@dataclasses.dataclass
class _NoParams:
    """An option without parameters."""


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def register_schemas() -> None:
    """Stores the top-level schema and every option's schema in Hydra's ConfigStore."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    store.store(
        group=SCHEMA_GROUP, name=ROOT_SCHEMA, node=schema_dataclass(RunConfig, "FedrunConfigSchema")
    )
    for group, options in option_schemas().items():
        for name, schema in options.items():
            store.store(group=f"{SCHEMA_GROUP}/{group}", name=name, node=schema)
