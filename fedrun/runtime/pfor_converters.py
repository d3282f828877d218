"""Vectorization rules TensorFlow lacks, so `tf.vectorized_map` never falls back.

Without a rule for an op, `tf.vectorized_map` runs that op in a `while_loop` over
clients, which is correct but slow. Keras 3's `argmax` (used by its accuracy
metrics) goes through `Bitcast` to handle negative zeros, and TensorFlow has no
rule for it. A bitcast only reinterprets each element's bytes (or splits/joins the
last axis when sizes differ), so applying it to the client-stacked tensor is the
vectorized form. TensorFlow's registration hook is private; the pinned TensorFlow
version is what this was checked against.

Keras' dropout draws its mask with the stateless V2 random ops (a key and counter
derived from the seed). TensorFlow vectorizes the V1 stateless ops by a loop
over clients (each client's numbers must come from its own seed) but has no rule
for the V2 ones; they get the same per-client loop, so a client's dropout mask is
bit-identical to the one it draws alone.

A `Squeeze` without axes (Keras' `add` squeezes a `[1, 1, 1, C]` convolution bias
this way) squeezes every size-1 axis; TensorFlow's rule applies it to the stacked
tensor, so a cohort of one client also lost its client axis. Here the client axis
is kept whatever the cohort's size.
"""

from __future__ import annotations

import tensorflow as tf
from tensorflow.python.ops.parallel_for import pfor as _pfor

from fedrun.runtime import vectorized_layers  # noqa: F401  (per-client convolutions)


def _register() -> None:
    if "Bitcast" in _pfor._pfor_converter_registry:  # TensorFlow gained its own rule
        return

    @_pfor.RegisterPFor("Bitcast")
    def _convert_bitcast(pfor_input: _pfor._PforInput) -> _pfor.WrappedTensor:
        stacked = pfor_input.stacked_input(0)
        return _pfor.wrap(tf.bitcast(stacked, pfor_input.get_attr("type")), True)


_register()

_STATELESS_V2 = (
    "StatelessRandomGetKeyCounter",
    "StatelessRandomGetKeyCounterAlg",
    "StatelessRandomUniformV2",
    "StatelessRandomNormalV2",
    "StatelessTruncatedNormalV2",
    "StatelessRandomUniformIntV2",
    "StatelessRandomUniformFullIntV2",
)


def _per_client_loop(pfor_input: _pfor._PforInput) -> list:
    return _pfor._fallback_converter(pfor_input, warn=False)


def _register_stateless_v2() -> None:
    for op_type in _STATELESS_V2:
        if op_type not in _pfor._pfor_converter_registry:
            _pfor.RegisterPFor(op_type)(_per_client_loop)


_register_stateless_v2()


def _convert_squeeze_keeping_clients(pfor_input: _pfor._PforInput) -> _pfor.WrappedTensor:
    stacked = pfor_input.stacked_input(0)
    axes = [i + 1 if i >= 0 else i for i in pfor_input.get_attr("squeeze_dims")]
    if axes:
        return _pfor.wrap(tf.squeeze(stacked, axis=axes), True)
    per_client = stacked.shape[1:]
    if per_client.rank is not None and None not in per_client.as_list():
        ones = [i + 1 for i, size in enumerate(per_client.as_list()) if size == 1]
        return _pfor.wrap(tf.squeeze(stacked, axis=ones) if ones else stacked, True)
    shape = tf.shape(stacked)
    kept = tf.boolean_mask(shape[1:], tf.not_equal(shape[1:], 1))
    return _pfor.wrap(tf.reshape(stacked, tf.concat([shape[:1], kept], 0)), True)


_pfor._pfor_converter_registry["Squeeze"] = _convert_squeeze_keeping_clients
