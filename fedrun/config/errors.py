"""The one error type for configuration mistakes.

Every bad value in a config is reported as a `ConfigError` naming its path in the
YAML tree (`aggregator.value_sum.inner.bits`), the value found and what is allowed,
before any model is built or TensorFlow traces anything.
"""

from __future__ import annotations

import difflib
from typing import Any, Iterable, Optional, Sequence

_MISSING = object()


class ConfigError(ValueError):
    """A configuration value that fedrun cannot accept.

    Attributes:
        path: Dotted path of the offending node in the composed config.
        problem: What is wrong, in words.
        value: The offending value, if there is one.
        allowed: What would be accepted (names, a range, a type), if known.
    """

    def __init__(
        self,
        path: str,
        problem: str,
        value: Any = _MISSING,
        allowed: Optional[Iterable[Any] | str] = None,
    ) -> None:
        self.path = path or "<root>"
        self.problem = problem
        self.value = None if value is _MISSING else value
        if allowed is not None and not isinstance(allowed, str):
            allowed = ", ".join(str(a) for a in allowed)
        self.allowed = allowed
        message = f"{self.path}: {problem}"
        if value is not _MISSING:
            message += f" (got {value!r})"
        if allowed:
            message += f"; allowed: {allowed}"
        super().__init__(message)


def join_path(path: str, key: Any) -> str:
    """`join_path('a.b', 'c') == 'a.b.c'`; list indices render as `a.b[2]`."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def unknown_key_error(path: str, key: str, valid: Sequence[str], noun: str = "key") -> ConfigError:
    """The error for `key`, unknown under `path`, naming the closest valid key and all of them.

    `aggregator.value_sum.nrom: unknown parameter; did you mean 'norm'? valid: norm, adaptive, inner`

    Args:
        path: The path of the node holding the key.
        key: The unknown key.
        valid: The node's valid keys, in the order its schema declares them.
        noun: "parameter" for an option's parameters, "key" for other blocks.
    """
    problem = f"unknown {noun}"
    match = difflib.get_close_matches(key, list(valid), n=1)
    if match:
        problem += f"; did you mean {match[0]!r}?"
    problem += f"{';' if not match else ''} valid: {', '.join(valid) if valid else 'none'}"
    return ConfigError(join_path(path, key), problem)
