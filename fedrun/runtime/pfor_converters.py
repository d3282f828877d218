"""Vectorization rules TensorFlow lacks, so `tf.vectorized_map` never falls back.

Without a rule for an op, `tf.vectorized_map` runs that op in a `while_loop` over
clients, which is correct but slow. Keras 3's `argmax` (used by its accuracy
metrics) goes through `Bitcast` to handle negative zeros, and TensorFlow has no
rule for it. A bitcast only reinterprets each element's bytes (or splits/joins the
last axis when sizes differ), so applying it to the client-stacked tensor is the
vectorized form. TensorFlow's registration hook is private; the pinned TensorFlow
version is what this was checked against.
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
