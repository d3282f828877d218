"""Compiling the local-training function once per run, optionally with XLA.

`CompiledFunction` wraps a Python function into a `tf.function` whose input
signature is fixed on the first call with the data's varying axes (steps,
examples, pool size) left unknown, so every later call reuses the same graph: one
trace per run.

With XLA (`jit_compile`), TensorFlow compiles one executable per concrete input
shape. `pad_axis` and `bucket` round the number of local steps up to a power of
two, so a run compiles a handful of executables instead of one per schedule
length; the compiled loop stops at the last real step, so padding costs no
computation.

`jit_compile=None` ("auto") tries XLA on the first call and falls back to graph
execution, with a warning, when the function contains an op XLA cannot compile.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Optional, Sequence

import tensorflow as tf

Nest = Any
log = logging.getLogger(__name__)

# Errors TensorFlow raises when XLA cannot compile a graph (unsupported op, a
# dynamically sized list ...). A genuine runtime error surfaces again on the retry.
_XLA_ERRORS = (
    tf.errors.InvalidArgumentError,
    tf.errors.UnimplementedError,
    tf.errors.InternalError,
)


def relaxed(nest: Nest, axes: Sequence[int] = ()) -> Nest:
    """Specs of `nest` with the sizes of `axes` (of every leaf) left unknown."""

    def spec(value: Any) -> tf.TensorSpec:
        tensor = tf.convert_to_tensor(value)
        dims = tensor.shape.as_list()
        return tf.TensorSpec(
            [None if axis in axes else size for axis, size in enumerate(dims)], tensor.dtype
        )

    return tf.nest.map_structure(spec, nest)


def bucket(n: int, smallest: int = 8) -> int:
    """`n` rounded up to a power of two, at least `smallest`."""
    return max(smallest, 1 << max(0, n - 1).bit_length())


def pad_axis(tensor: tf.Tensor, axis: int, size: int) -> tf.Tensor:
    """`tensor` padded with zeros along `axis` to `size`."""
    missing = size - int(tensor.shape[axis])
    if missing <= 0:
        return tensor
    paddings = [[0, 0]] * tensor.shape.rank
    paddings[axis] = [0, missing]
    return tf.pad(tensor, paddings)


class CompiledFunction:
    """`fn` compiled once, for the signature of its first call.

    Args:
        fn: The Python function (positional tensor-nest arguments).
        signature: Maps the first call's arguments to the input signature.
        jit_compile: True: XLA; False: graph execution; None: XLA if it compiles.
    """

    def __init__(
        self, fn: Callable[..., Any], signature: Callable[..., tuple], jit_compile: Optional[bool]
    ) -> None:
        self._fn = fn
        self._signature = signature
        self.jit_compile = jit_compile
        self._compiled: Optional[Callable[..., Any]] = None
        self._specs: Optional[tuple] = None

    def _build(self, jit: bool) -> Callable[..., Any]:
        return tf.function(self._fn, input_signature=self._specs, jit_compile=jit)

    def __call__(self, *args: Any) -> Any:
        if self._compiled is not None:
            return self._compiled(*args)
        self._specs = self._signature(*args)
        if self.jit_compile is not None:
            self._compiled = self._build(self.jit_compile)
            return self._compiled(*args)
        candidate = self._build(True)
        try:
            result = candidate(*args)
        except _XLA_ERRORS as err:
            first_line = (
                str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            )
            log.warning(
                "XLA cannot compile %s (%s); running it as a TensorFlow graph",
                getattr(self._fn, "__name__", "fn"),
                first_line,
            )
            self.jit_compile = False
            self._compiled = self._build(False)
            return self._compiled(*args)
        self.jit_compile = True
        self._compiled = candidate
        return result
