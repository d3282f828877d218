"""A memory budget for client work: estimates, chunk plans, peak RSS.

A vectorized call keeps every lane's weights, optimizer state and one step's
activations live together, so a cohort (or an evaluation over thousands of
clients) is cut into chunks whose estimated peak fits `runtime.memory_budget`.

The estimate per lane is

* fixed: the stacked weights and the copies a training step holds at once
  (initial weights, gradients, new weights, the update) plus optimizer slots;
* per example of a step: every layer's output, times a factor for what a step
  keeps beside it (pre-activations, the tape's saved tensors and their
  gradients; an LSTM's gates and states at every time step);
* training an unrolled recurrent layer: one gradient of its weights per time
  step, all live until TensorFlow sums them.

Activations do not grow with the number of steps: the step loop frees each
step's tensors before the next. Measured against the growth of peak RSS
(`VmHWM`) per added lane of one vectorized call on CPU
(`python -m benchmarks.memory_calibration`, benchmarks/RESULTS.md): `cnn_emnist`
0.84x the estimate training and 0.67x evaluating, `char_rnn` 0.66x and 0.80x; a
`logreg` lane is too small (under 1 MB) to measure against the process's noise.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import resource
from typing import Any, Callable, Optional, Sequence, Union

import keras
import numpy as np
import tensorflow as tf

from fedrun.config.errors import ConfigError
from fedrun.data.cohort import CohortData

Budget = Union[int, str, None]
BUDGET_KEY = "runtime.memory_budget"

# Share of the memory available at start-up that client work may use by default:
# the process, its data and TensorFlow's own pools need the rest, and other
# processes share the machine.
DEFAULT_FRACTION = 0.125
_UNITS = {
    "": 1,
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "TIB": 2**40,
}
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$")

# Bytes a step holds per element of a layer's output (float32 values): the output,
# its gradient and an intermediate (pre-activation, dropout mask) when training.
_TRAIN_FACTOR = 3.0
_EVAL_FACTOR = 1.5
# Per element of a recurrent layer's output: gates (4), cell state and its tanh,
# hidden state, kept for every time step for backpropagation through time.
_RECURRENT_FACTOR = 8.0
# Evaluating keeps no tape: with this factor `char_rnn`'s measured evaluation
# lane is 0.80x the estimate (benchmarks/RESULTS.md).
_RECURRENT_EVAL_FACTOR = 2.0
# Weight-sized tensors a training lane holds besides optimizer slots: stacked
# weights, initial weights, gradients, new weights, the update.
_TRAIN_WEIGHT_COPIES = 5
_EVAL_WEIGHT_COPIES = 1


def parse_budget(value: Budget, path: str = BUDGET_KEY) -> Optional[int]:
    """Bytes from a budget: an int of bytes, a size like `4GB` / `512MiB`, or None.

    Raises:
        ConfigError: naming `path`, for a malformed or non-positive size.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise ConfigError(
            path,
            "expected a size in bytes or a string like '4GB'",
            value,
            "e.g. 4GB, 512MiB, 1000000000",
        )
    if isinstance(value, (int, float)):
        size = int(value)
    else:
        match = _SIZE.match(str(value))
        unit = match.group(2).upper() if match else None
        if match is None or unit not in _UNITS:
            raise ConfigError(
                path,
                "not a size",
                value,
                "a number of bytes or NUMBER+UNIT with UNIT in B, KB, MB, GB, TB, KiB, MiB, GiB, TiB",
            )
        size = int(float(match.group(1)) * _UNITS[unit])
    if size <= 0:
        raise ConfigError(path, "a memory budget must be positive", value, "> 0")
    return size


def available_memory() -> int:
    """Bytes of memory available to new allocations (Linux `MemAvailable`)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def default_budget() -> int:
    """The budget when none is configured: a fraction of the available memory."""
    return int(available_memory() * DEFAULT_FRACTION)


def format_size(size: float) -> str:
    """`size` bytes as a short string that `parse_budget` reads back (rounded up)."""
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if size >= scale:
            return f"{math.ceil(size / scale * 10) / 10:g}{unit}"
    return f"{int(math.ceil(size))}B"


def peak_rss_bytes() -> int:
    """This process's peak resident set size so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def _layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Every leaf layer of `model`, nested models expanded."""
    leaves: list[keras.layers.Layer] = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            leaves.extend(_layers(layer))
        else:
            leaves.append(layer)
    return leaves


def _output_elements(layer: keras.layers.Layer) -> int:
    try:
        outputs = tf.nest.flatten(layer.output)
    except (AttributeError, ValueError):  # a layer never called symbolically
        return 0
    return sum(math.prod(int(d or 1) for d in o.shape[1:]) for o in outputs)


def activation_bytes(keras_model: keras.Model, training: bool) -> int:
    """Estimated bytes one example adds to a step's peak (see the module docstring)."""
    factor = _TRAIN_FACTOR if training else _EVAL_FACTOR
    total = 0.0
    for layer in _layers(keras_model):
        elements = _output_elements(layer)
        recurrent = _RECURRENT_FACTOR if training else _RECURRENT_EVAL_FACTOR
        scale = recurrent if isinstance(layer, keras.layers.RNN) else 1.0
        total += elements * factor * scale
    inputs = sum(
        math.prod(int(d or 1) for d in t.shape[1:]) for t in tf.nest.flatten(keras_model.inputs)
    )
    return int(4 * (total + inputs))


def recurrent_gradient_bytes(keras_model: keras.Model) -> int:
    """Bytes of the per-time-step weight gradients of unrolled recurrent layers."""
    total = 0
    for layer in _layers(keras_model):
        if isinstance(layer, keras.layers.RNN) and getattr(layer, "unroll", False):
            steps = int(layer.input.shape[1] or 1)
            total += steps * sum(math.prod(w.shape) * 4 for w in layer.trainable_weights)
    return total


def _weight_bytes(model: Any) -> int:
    return sum(int(np.prod(w.shape)) * w.dtype.size for w in tf.nest.flatten(model.initial_weights))


def _slot_bytes(optimizer: Any, model: Any) -> int:
    if optimizer is None:
        return 0
    state = optimizer.initialize(model.weight_specs.trainable)
    state = {k: v for k, v in state.items() if k not in ("learning_rate", "step")}
    return sum(int(np.prod(t.shape)) * t.dtype.size for t in tf.nest.flatten(state))


@dataclasses.dataclass(frozen=True)
class LaneCost:
    """Estimated bytes of one client (lane) of a vectorized call.

    Attributes:
        fixed: Weights (and, training, their copies and optimizer slots).
        per_example: Activations per example of a step.
    """

    fixed: int
    per_example: int

    @classmethod
    def of(cls, model: Any, optimizer: Any, training: bool) -> "LaneCost":
        """The cost of `model` (a `FunctionalModel`; a model without a Keras network
        counts its weights only) trained with `optimizer`, or evaluated."""
        copies = _TRAIN_WEIGHT_COPIES if training else _EVAL_WEIGHT_COPIES
        fixed = _weight_bytes(model) * copies + (_slot_bytes(optimizer, model) if training else 0)
        keras_model = getattr(model, "keras_model", None)
        if training and keras_model is not None:
            fixed += recurrent_gradient_bytes(keras_model)
        return cls(fixed, activation_bytes(keras_model, training) if keras_model is not None else 0)

    def bytes(self, batch_size: int, steps: int) -> int:
        """Peak bytes of a lane with `steps` steps of `batch_size` (index and mask included)."""
        return self.fixed + self.per_example * batch_size + steps * batch_size * 12


def lanes_that_fit(budget: int, per_lane: int, count: int, path: str = BUDGET_KEY) -> int:
    """How many lanes of `per_lane` bytes fit `budget` (at most `count`).

    Raises:
        ConfigError: naming `path` and the smallest budget that works, if not one lane fits.
    """
    if per_lane > budget:
        raise ConfigError(
            path,
            "too small for one client of this model and batch size",
            format_size(budget),
            f">= {format_size(per_lane)}",
        )
    return max(1, min(count, budget // per_lane))


def chunks(count: int, size: int) -> list[list[int]]:
    """Positions `0..count-1` in consecutive chunks of `size` (the last may be smaller)."""
    return [list(range(start, min(start + size, count))) for start in range(0, count, size)]


def trim_batches(cohort: CohortData) -> CohortData:
    """`cohort` with its batch axis cut to the most real examples of any step
    (rounded up to a power of two, so a compiled call sees few shapes).

    Padding trails each batch, so the cut drops only masked positions: an
    evaluation of many small clients at a large batch size computes far less.
    """
    batch = int(cohort.index.shape[2])
    if batch == 0 or cohort.num_clients == 0:
        return cohort
    most = int(np.max(np.sum(cohort.mask.numpy(), axis=2), initial=0))
    size = min(batch, 1 << max(0, most - 1).bit_length())
    if size >= batch:
        return cohort
    return dataclasses.replace(
        cohort, index=cohort.index[:, :, :size], mask=cohort.mask[:, :, :size]
    )


def evaluation_chunks(
    cohort: CohortData, per_lane: Callable[[int, int], int], budget: int
) -> list[list[int]]:
    """Positions of `cohort` in chunks whose estimated peak fits `budget`.

    Clients go longest first; a chunk's first client fixes its steps and batch
    size (the rest are no longer), `per_lane(batch, steps)` its bytes per lane.
    The lane count is rounded down to a power of two (few compiled shapes).
    """
    mask = cohort.mask.numpy()
    examples = mask.sum(axis=(1, 2)).astype(np.int64)
    batch = int(mask.shape[2])
    order = sorted(range(cohort.num_clients), key=lambda k: (-int(examples[k]), k))
    plan: list[list[int]] = []
    start = 0
    while start < len(order):
        longest = max(1, int(examples[order[start]]))
        steps = -(-longest // batch)
        width = min(batch, 1 << max(0, longest - 1).bit_length())
        lanes = lanes_that_fit(budget, per_lane(width, steps), len(order) - start)
        lanes = 1 << (lanes.bit_length() - 1)
        plan.append(order[start : start + lanes])
        start += lanes
    return plan


def in_order(parts: Sequence[Any], plan: Sequence[Sequence[int]]) -> Any:
    """Chunk outputs (stacked in `plan`'s order) joined back into cohort order."""
    order = [p for chunk in plan for p in chunk]
    joined = (
        tf.nest.map_structure(lambda *xs: tf.concat(xs, axis=0), *parts)
        if len(parts) > 1
        else parts[0]
    )
    if order == sorted(order):
        return joined
    inverse = np.argsort(np.asarray(order))
    return tf.nest.map_structure(lambda t: tf.gather(t, inverse), joined)


__all__ = [
    "BUDGET_KEY",
    "activation_bytes",
    "recurrent_gradient_bytes",
    "available_memory",
    "chunks",
    "evaluation_chunks",
    "in_order",
    "trim_batches",
    "default_budget",
    "format_size",
    "LaneCost",
    "lanes_that_fit",
    "parse_budget",
    "peak_rss_bytes",
]
