"""Convolutions vectorized over clients: one grouped convolution per cohort.

TensorFlow's `tf.vectorized_map` folds the client axis into the batch axis for a
`Conv2D`, which is only right when every client shares the filter. In federated
training each client has its own filter, and TensorFlow gives up ("Input
'filter' of op 'Conv2D' expected to be loop invariant"). Clients are independent
groups of channels, so the cohort's convolution is one grouped convolution:

* inputs `[K, B, H, W, C]` -> `[B, H, W, K*C]` (clients side by side in channels),
* filters `[K, kh, kw, C, O]` -> `[kh, kw, C, K*O]` (`C` input channels per group),
* the output `[B, H', W', K*O]` -> `[K, B, H', W', O]`.

Group `k` of a grouped convolution sees only input channels `k*C .. (k+1)*C` and
writes output channels `k*O .. (k+1)*O`, so each client's output is exactly its
own convolution. The gradients TensorFlow derives for the grouped op are the
grouped backprop kernels, so training needs no rule of its own. Clients of
unequal batch sizes are already padded to one batch size by the trainer.

Graph or XLA: on CPU, TensorFlow's oneDNN grouped convolution and its filter
gradient are fast in graph mode, while XLA's CPU backend lowers the grouped
filter gradient to a slow generic loop (measured with TF 2.21 on CPU: 10 clients'
filter gradients in 17 ms as a graph, 1.5 s under XLA), so `xla_suits` keeps
convolutional models as graphs on CPU; on GPU, XLA hands grouped convolutions
to cuDNN, which supports groups natively.

The rule is installed into TensorFlow's private pfor registry (the hook of the
pinned TensorFlow version); the shared-filter case still goes to TensorFlow's
own rule.
"""

from __future__ import annotations

import tensorflow as tf
from tensorflow.python.ops.parallel_for import pfor as _pfor

_CONV = "Conv2D"


def grouped_conv2d(x: tf.Tensor, filters: tf.Tensor, strides: list, padding: str, dilations: list, explicit_paddings: list) -> tf.Tensor:
    """Per-client NHWC convolutions of stacked inputs with stacked filters.

    Args:
        x: `[K, B, H, W, C]` inputs, or `[B, H, W, C]` shared by every client.
        filters: `[K, kh, kw, C, O]` per-client filters.
        strides, padding, dilations, explicit_paddings: as `tf.raw_ops.Conv2D`.

    Returns:
        `[K, B, H', W', O]`.
    """
    clients = tf.shape(filters)[0]
    kh, kw, c, o = (tf.shape(filters)[i] for i in range(1, 5))
    kernel = tf.reshape(tf.transpose(filters, [1, 2, 3, 0, 4]), tf.stack([kh, kw, c, clients * o]))
    if x.shape.rank == 5:
        b, h, w = tf.shape(x)[1], tf.shape(x)[2], tf.shape(x)[3]
        x = tf.reshape(tf.transpose(x, [1, 2, 3, 0, 4]), tf.stack([b, h, w, clients * c]))
    # Shared inputs need no groups: the kernels of all clients are concatenated.
    y = tf.raw_ops.Conv2D(
        input=x, filter=kernel, strides=strides, padding=padding, dilations=dilations,
        explicit_paddings=explicit_paddings, data_format="NHWC",
    )
    shape = tf.shape(y)
    y = tf.reshape(y, tf.stack([shape[0], shape[1], shape[2], clients, o]))
    return tf.transpose(y, [3, 0, 1, 2, 4])


def _install() -> None:
    registry = _pfor._pfor_converter_registry
    shared_filter_rule = registry[_CONV]
    if getattr(shared_filter_rule, "fedrun_grouped", False):
        return

    def convert(pfor_input: _pfor._PforInput) -> list:
        filter_stacked = pfor_input.input(1)[1]
        if not filter_stacked or pfor_input.get_attr("data_format") != b"NHWC":
            return shared_filter_rule(pfor_input)
        y = grouped_conv2d(
            pfor_input.input(0)[0],
            pfor_input.stacked_input(1),
            strides=list(pfor_input.get_attr("strides")),
            padding=pfor_input.get_attr("padding").decode(),
            dilations=list(pfor_input.get_attr("dilations")),
            explicit_paddings=list(pfor_input.get_attr("explicit_paddings")),
        )
        return [_pfor.wrap(y, True)]

    convert.fedrun_grouped = True  # type: ignore[attr-defined]
    registry[_CONV] = convert


_install()

__all__ = ["grouped_conv2d"]
