"""Mistyped override keys, caught before Hydra composes the run.

Hydra refuses `aggregator.value_sum.nrom=1` with "Key 'nrom' is not in struct" and
a hint to append the key with `+`, which misleads when the key is a typo. Before
Hydra composes, `check_override_keys` composes the config the overrides select
(their group choices and additions) and walks each changed key's path in it. A
key missing there that fedrun's schemas (`RunConfig`, its blocks, each option's
parameter dataclass and an aggregator's child slots) do not declare either is a
`ConfigError` naming the path, the closest valid key and all of them; a key the
schemas declare but the YAML leaves out is Hydra's to report (it needs `+`),
unless it is a key that moved (`MOVED_KEYS`): then the error names its new place.
"""

from __future__ import annotations

import dataclasses
import itertools
import types
import typing
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, cast

from fedrun.config.errors import ConfigError, unknown_key_error

# Hydra flags that leave composition as fedrun's own: any other flag (`--cfg`,
# `--config-dir` ...) skips the check and leaves the command to Hydra.
COMPOSING_FLAGS = ("-m", "--multirun")
# Group sweeps compose once per combination; beyond this many the check is skipped.
MAX_COMBINATIONS = 8
# Old config paths -> where that setting lives now (FedOpt's presets configure the
# server_optimizer group, which every algorithm's server uses).
MOVED_KEYS = {"algorithm.server_optimizer": "server_optimizer"}


def check_override_keys(args: Sequence[str], conf_dir: Path) -> None:
    """Checks the keys that command-line overrides change against fedrun's schemas.

    Args:
        args: The command line after the program name.
        conf_dir: The composition root's directory.

    Raises:
        ConfigError: at the first changed key that no schema declares.
    """
    if any(a.startswith("-") and a not in COMPOSING_FLAGS for a in args):
        return
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    overrides = [a for a in args if a not in COMPOSING_FLAGS]
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException:
        return  # a malformed override: Hydra's own message says where
    from hydra.core.override_parser.types import OverrideType

    own = [o for o in parsed if not o.key_or_group.startswith("hydra")]
    changed = [
        o for o in own if o.type == OverrideType.CHANGE and not _is_group(o.key_or_group, conf_dir)
    ]
    if not changed:
        return
    for base in _bases([o for o in own if o not in changed], conf_dir):
        for override in changed:
            _check_moved(override.key_or_group, base)
            _check_path(override.key_or_group.split("."), base)


def _check_moved(key: str, base: Mapping[str, Any]) -> None:
    """Refuses a key under a moved path that the composed config does not hold, naming its new path."""
    for old, new in MOVED_KEYS.items():
        if key != old and not key.startswith(old + "."):
            continue
        node: Any = base
        for part in old.split("."):
            if not isinstance(node, Mapping) or part not in node:
                raise ConfigError(key, f"moved: write {new}{key[len(old) :]}")
            node = node[part]


def _is_group(key: str, conf_dir: Path) -> bool:
    from hydra.core.config_store import ConfigStore

    return (
        "/" in key
        or (conf_dir / key).is_dir()
        or isinstance(ConfigStore.instance().repo.get(key), dict)
    )


def _bases(selecting: Sequence[Any], conf_dir: Path) -> list[dict[str, Any]]:
    """The configs the selecting overrides compose (one per combination of swept groups)."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf import OmegaConf

    choices = []
    for override in selecting:
        if override.is_sweep_override():
            values = getattr(override.value(), "list", None)
            if values is None:
                return []  # a range or interval sweep of a group: nothing to compose
            choices.append([f"{override.get_key_element()}={v}" for v in values])
        else:
            choices.append([override.input_line])
    combinations = list(itertools.islice(itertools.product(*choices), MAX_COMBINATIONS + 1))
    if len(combinations) > MAX_COMBINATIONS:
        return []
    bases = []
    with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
        for combination in combinations:
            try:
                cfg = compose("config", overrides=list(combination))
            except HydraException:
                return []  # a bad group choice: Hydra's own message lists the options
            bases.append(cast(dict[str, Any], OmegaConf.to_container(cfg, resolve=False)))
    return bases


def _check_path(keys: list[str], base: Mapping[str, Any]) -> None:
    node: Any = base
    for depth, key in enumerate(keys):
        if not isinstance(node, Mapping):
            return  # under a null block or a value: the override sets what it holds
        if key not in node:
            valid, noun = schema_keys(keys[:depth], base)
            if valid is not None and key not in valid:
                raise unknown_key_error(".".join(keys[:depth]), key, valid, noun)
            return
        node = node[key]


def schema_keys(path: Sequence[str], base: Mapping[str, Any]) -> tuple[Optional[list[str]], str]:
    """The keys fedrun's schemas allow in the node at `path` of the composed `base`.

    Returns:
        (keys in declaration order, "parameter" for an option's node or "key" for
        other blocks); keys is None where no schema describes the node (a
        `_target_` node, a free mapping).
    """
    from fedrun.app.schema import RunConfig, group_registries

    registries = group_registries()
    kind: Any = RunConfig
    node: Any = base
    for key in path:
        kind, node = _child_kind(kind, node, key, registries), node[key]
        if kind is None:
            return None, "key"
    if dataclasses.is_dataclass(kind):
        return [f.name for f in dataclasses.fields(kind) if f.init], "key"
    entry = _entry(kind, node)
    if entry is None:
        return None, "key"
    params = [f.name for f in dataclasses.fields(entry.params) if f.init] if entry.params else []
    return [*params, *_children(kind, entry.name)], "parameter"


def _child_kind(kind: Any, node: Any, key: str, registries: Mapping[str, Any]) -> Any:
    """What describes `node[key]`: a dataclass, a registry (its node names an option) or None."""
    from fedrun.app.schema import RunConfig

    if kind is RunConfig and key in registries:
        return registries[key]
    if not dataclasses.is_dataclass(kind):
        entry = _entry(kind, node)
        if entry is None:
            return None
        if key in _children(kind, entry.name):
            return kind
        if entry.params is None:
            return None
        kind = entry.params
    hints = typing.get_type_hints(kind)
    if key not in hints:
        return None
    options = (
        [a for a in typing.get_args(hints[key]) if a is not type(None)]
        if _is_union(hints[key])
        else [hints[key]]
    )
    return options[0] if len(options) == 1 and dataclasses.is_dataclass(options[0]) else None


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _entry(registry: Any, node: Any) -> Any:
    if (
        not isinstance(node, Mapping)
        or not isinstance(node.get("type"), str)
        or node["type"] not in registry
    ):
        return None
    return registry.entry(node["type"], "")


def _children(registry: Any, name: str) -> tuple[str, ...]:
    from fedrun.aggregators.build import AGGREGATORS, child_slots

    return child_slots(name) if registry is AGGREGATORS else ()
