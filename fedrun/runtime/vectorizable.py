"""What a model's ops allow: vectorizing over clients, and compiling with XLA.

`tf.vectorized_map` turns each op of the per-client computation into one op over
all clients, using a rule per op type. When an op has no rule for the way it is
used (a convolution whose *filter* differs per client, for instance), TensorFlow
runs that op in a `while_loop` over clients: correct, but slower than training the
clients one after another, and not compilable by XLA. `vectorization_problem`
traces the forward pass, loss and metrics of two stacked clients with that
fallback disabled, so a runtime can decide before training.

`xla_suits` decides the trainers' default compilation: XLA fuses the many small
ops of a dense model's step (about half the CPU time of a TensorFlow graph), but
XLA's CPU convolutions are far slower than TensorFlow's oneDNN kernels (about 60x
for `cnn_emnist` on a Xeon), so convolutional models run as TensorFlow graphs on
CPUs. Recurrent models too: an unrolled LSTM step (`char_rnn`) took about twice
as long under XLA on CPU as a graph, after minutes of compilation.
"""

from __future__ import annotations

import logging
import weakref
from typing import Optional

import keras
import tensorflow as tf

from fedrun.models.functional import FunctionalModel, ModelWeights
from fedrun.runtime import pfor_converters  # noqa: F401  (vectorization rules)

_PROBE_CLIENTS = 2
_VERDICTS: "weakref.WeakKeyDictionary[FunctionalModel, Optional[str]]" = weakref.WeakKeyDictionary()
_CONVOLUTIONS = ("Conv2D", "Conv3D", "DepthwiseConv2dNative", "Conv")


def _stacked_spec(value: tf.Tensor) -> tf.TensorSpec:
    return tf.TensorSpec([_PROBE_CLIENTS] + value.shape.as_list(), value.dtype)


def vectorization_problem(model: FunctionalModel) -> Optional[str]:
    """Why `model` cannot train vectorized over clients, or None if it can.

    Ops whose vectorization TensorFlow itself implements as a loop (stateless
    random numbers for dropout) are accepted: they are correct and cheap next to
    the layers around them. The verdict is cached per model.
    """
    if model not in _VERDICTS:
        _VERDICTS[model] = _probe(model)
    return _VERDICTS[model]


def _probe(model: FunctionalModel) -> Optional[str]:
    weight_specs = tf.nest.map_structure(_stacked_spec, model.initial_weights)
    state_specs = [_stacked_spec(s) for s in model.initial_state]
    batch_specs = {
        k: tf.TensorSpec([_PROBE_CLIENTS, 1] + s.shape.as_list(), s.dtype)
        for k, s in model.input_spec.items()
    }

    def one_client(weights: ModelWeights, state: list, batch: dict) -> tuple:
        predictions, new_state = model.predict(weights, state, batch["x"], training=True)
        losses = model.per_example_loss(batch["y"], predictions)
        metrics = model.update_metrics(
            model.initial_metrics(), batch["y"], predictions, losses, tf.ones_like(losses)
        )
        return losses, new_state, metrics

    def probe(weights: ModelWeights, state: list, batch: dict) -> tuple:
        return tf.vectorized_map(
            lambda a: one_client(*a), (weights, state, batch), fallback_to_while_loop=False
        )

    # A failed conversion is expected here; TensorFlow would log it at length.
    tf_logger = tf.get_logger()
    level = tf_logger.level
    tf_logger.setLevel(logging.CRITICAL)
    try:
        tf.function(probe).get_concrete_function(weight_specs, state_specs, batch_specs)
    except ValueError as err:
        return _cause(str(err))
    finally:
        tf_logger.setLevel(level)
    return None


def _cause(message: str) -> str:
    """The line that names the op, out of a traceback-laden error message."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    named = [
        line for line in lines if line.startswith("ValueError:") or "op '" in line or 'op "' in line
    ]
    line = named[-1] if named else (lines[-1] if lines else "unknown reason")
    return line.removeprefix("ValueError:").strip()


def _has_convolutions(model: FunctionalModel) -> bool:
    batch = {
        k: tf.TensorSpec([1] + s.shape.as_list(), s.dtype) for k, s in model.input_spec.items()
    }
    weight_specs = tf.nest.map_structure(
        lambda t: tf.TensorSpec(t.shape, t.dtype), model.initial_weights
    )
    state_specs = [tf.TensorSpec(s.shape, s.dtype) for s in model.initial_state]

    def forward(weights: ModelWeights, state: list, batch: dict) -> tf.Tensor:
        return model.predict(weights, state, batch["x"], training=True)[0]

    graph = tf.function(forward).get_concrete_function(weight_specs, state_specs, batch).graph
    return any(op.type in _CONVOLUTIONS for op in graph.get_operations())


def _sublayers(layer: keras.layers.Layer) -> list[keras.layers.Layer]:
    inner = list(getattr(layer, "layers", None) or [])
    inner += [
        getattr(layer, name)
        for name in ("layer", "forward_layer", "backward_layer")  # wrappers, Bidirectional
        if isinstance(getattr(layer, name, None), keras.layers.Layer)
    ]
    return [layer] + [deeper for child in inner for deeper in _sublayers(child)]


def has_recurrent_layers(model: FunctionalModel) -> bool:
    """Whether the model has a Keras recurrent layer (LSTM, GRU, any `keras.layers.RNN`)."""
    return any(isinstance(layer, keras.layers.RNN) for layer in _sublayers(model.keras_model))


def _cpu_bound(model: FunctionalModel) -> bool:
    """Convolutional or recurrent: steps whose cost is the layers' own kernels."""
    return _has_convolutions(model) or has_recurrent_layers(model)


def on_gpu() -> bool:
    """Whether TensorFlow sees a GPU (work then runs there by default)."""
    return bool(tf.config.list_physical_devices("GPU"))


def xla_suits(model: FunctionalModel) -> bool:
    """Whether XLA is the better default for training `model` on this machine."""
    if on_gpu():
        return True
    return not _cpu_bound(model)


def vectorizing_suits(model: FunctionalModel) -> bool:
    """Whether training a cohort per call is the faster default for `model` here.

    On CPU one client per call was measured faster than the vectorized step for
    convolutional models (W2, `cnn_emnist`, 10 clients: 0.4x the sequential speed
    vectorized) and for recurrent ones (W5, `char_rnn`: each client's LSTM weights
    are read at every position of the window, and ten clients' weights do not stay
    in the CPU's caches as one client's do; benchmarks/RESULTS.md), so it is not
    the default there; on a GPU the cohort's batched kernels fill the device.
    """
    return on_gpu() or not _cpu_bound(model)
