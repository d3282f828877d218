"""Runtimes: how client work executes (sequential, vectorized, ray)."""

from fedrun.runtime import (
    local,  # noqa: F401  (registers sequential and vectorized)
    ray,  # noqa: F401  (registers ray; imports Ray itself only when used)
)
from fedrun.runtime.base import RUNTIMES, Runtime

__all__ = ["RUNTIMES", "Runtime"]
