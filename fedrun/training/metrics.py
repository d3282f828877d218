"""Converting metric nests (tensors in dicts) to plain Python for logs."""

from __future__ import annotations

from typing import Any, Iterator, Mapping

import numpy as np


def to_python(nest: Any) -> Any:
    """Tensors -> numbers (or lists), mappings -> dicts; empty structures dropped."""
    if isinstance(nest, Mapping):
        out = {}
        for key, value in nest.items():
            converted = to_python(value)
            if converted not in ({}, [], None):
                out[str(key)] = converted
        return out
    if isinstance(nest, (list, tuple)):
        if isinstance(nest, tuple) and hasattr(nest, "_asdict"):  # a NamedTuple
            return to_python(nest._asdict())
        items = [to_python(v) for v in nest]
        return [v for v in items if v not in ({}, [], None)]
    if hasattr(nest, "numpy"):
        nest = nest.numpy()
    if isinstance(nest, np.ndarray):
        return nest.item() if nest.ndim == 0 else nest.tolist()
    if isinstance(nest, np.generic):
        return nest.item()
    return nest


def flatten(nest: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, float]]:
    """(`a/b/c`, number) pairs of every scalar in a plain nested dict."""
    for key, value in nest.items():
        name = f"{prefix}/{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            yield from flatten(value, name)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            yield name, float(value)
