"""TFF 0.87's `tff.tensorflow`: the decorator for computations written in TensorFlow.

`tff.tensorflow.computation` is the facade's `tf_computation` (the name TFF used
before 0.87); both build a `TensorFlowComputation`.
"""

from __future__ import annotations

from typing import Any

from fedrun.compat.tff.computations import tf_computation
from fedrun.compat.tff.unsupported import TENSORFLOW, error


def computation(*args: Any) -> Any:
    """TFF's `tff.tensorflow.computation`: a decorator with or without parameter
    types, or called on a function: `computation(fn, *types)`."""
    return tf_computation(*args)


def __getattr__(name: str) -> object:
    raise error("tff.tensorflow", name, TENSORFLOW)


__all__ = ["computation"]
