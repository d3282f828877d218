"""Registries: config names -> builders, with typed parameters.

Every part a config can choose (`model: {type: cnn_emnist}`, `aggregator: {type:
clipping, ...}`) is looked up in a `Registry` by its `type` name. An entry has a
builder and a parameter dataclass; `parse` validates a node without building
anything (so a whole config is checked before TensorFlow starts work), and `build`
calls the builder with the parsed parameters plus the runtime objects the caller
passes (data specs, inner factories ...), which never go through YAML.

A user's own class may be named with `_target_: package.module.Name`, only under
module prefixes listed in the config's `allowed_targets`.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Callable, Generic, Mapping, Optional, Sequence, TypeVar

from fedrun.config.errors import ConfigError, join_path
from fedrun.config.params import parse as parse_params

T = TypeVar("T")
TYPE_KEY = "type"
TARGET_KEY = "_target_"


@dataclasses.dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered option.

    Attributes:
        name: The `type` name in configs.
        builder: `builder(params, **runtime) -> T`.
        params: Frozen dataclass of the option's parameters (None: takes none).
        summary: First line of the builder's docstring.
    """

    name: str
    builder: Callable[..., T]
    params: Optional[type]
    summary: str = ""


class Registry(Generic[T]):
    """Named builders of one kind of object (models, optimizers, aggregators ...).

    Args:
        kind: What the registry holds, for messages ("model", "aggregator").
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def register(
        self, name: str, params: Optional[type] = None
    ) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator registering `builder(params, **runtime)` under `name`."""

        def decorate(builder: Callable[..., T]) -> Callable[..., T]:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            summary = (builder.__doc__ or "").strip().split("\n")[0]
            self._entries[name] = Entry(name, builder, params, summary)
            return builder

        return decorate

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def entry(self, name: Any, path: str) -> Entry[T]:
        """The entry called `name`, or a ConfigError listing the valid names."""
        if not isinstance(name, str) or name not in self._entries:
            problem = (
                f"unknown {self.kind}"
                if name is not None
                else f"missing '{TYPE_KEY}' naming the {self.kind}"
            )
            raise ConfigError(join_path(path, TYPE_KEY), problem, name, self.names())
        return self._entries[name]

    def parse(self, node: Any, path: str, ignore: Sequence[str] = ()) -> tuple[Entry[T], Any]:
        """Validates a node: its `type` and its parameters. Builds nothing.

        Args:
            node: A plain mapping with a `type` key and the option's parameters.
            path: The node's path in the config.
            ignore: Extra keys the caller handles itself (such as child nodes).
        """
        if not isinstance(node, Mapping):
            raise ConfigError(
                path,
                f"expected a mapping with '{TYPE_KEY}' naming the {self.kind}",
                node,
                self.names(),
            )
        entry = self.entry(node.get(TYPE_KEY), path)
        skip = (TYPE_KEY, *ignore)
        if entry.params is None:
            extra = [k for k in node if k not in skip]
            if extra:
                raise ConfigError(
                    join_path(path, extra[0]), f"{self.kind} {entry.name!r} takes no parameters"
                )
            return entry, None
        return entry, parse_params(entry.params, node, path, ignore=skip)

    def build(self, node: Any, path: str, ignore: Sequence[str] = (), **runtime: Any) -> T:
        """Validates `node` and builds the object with the runtime objects given."""
        entry, params = self.parse(node, path, ignore)
        return (
            entry.builder(params, **runtime)
            if entry.params is not None
            else entry.builder(**runtime)
        )


def load_target(target: Any, path: str, allowed_prefixes: Sequence[str]) -> Any:
    """Imports the object a `_target_` names, if its module is allowed.

    Args:
        target: Dotted name `package.module.Attribute`.
        path: Where the `_target_` key is, for messages.
        allowed_prefixes: Module prefixes the config allows (`allowed_targets`).

    Raises:
        ConfigError: if the name is not allowed or cannot be imported.
    """
    target_path = join_path(path, TARGET_KEY)
    if not isinstance(target, str) or "." not in target:
        raise ConfigError(target_path, "expected a dotted name package.module.Name", target)
    if not any(
        target == p.rstrip(".") or target.startswith(p if p.endswith(".") else p + ".")
        for p in allowed_prefixes
    ):
        raise ConfigError(
            target_path,
            "module not allowed: add its prefix to 'allowed_targets' to run your own code",
            target,
            list(allowed_prefixes) or "none (allowed_targets is empty)",
        )
    module_name, _, attribute = target.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(
            target_path, f"cannot import module {module_name!r}: {err}", target
        ) from None
    if not hasattr(module, attribute):
        raise ConfigError(
            target_path, f"module {module_name!r} has no attribute {attribute!r}", target
        )
    return getattr(module, attribute)
