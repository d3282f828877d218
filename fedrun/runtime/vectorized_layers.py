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

Which form runs where is decided per device in `grouped_conv2d` (on CPU, one
oneDNN convolution per client is faster than the grouped form). Graph or XLA:
XLA's CPU backend lowers convolutions, and worst of all the grouped filter
gradient, to slow generic loops (with TF 2.21 on CPU: 10 clients' grouped filter
gradients took 1.5 s under XLA against 17 ms as a graph), so `xla_suits` keeps
convolutional models as TensorFlow graphs on CPU; on GPU, XLA hands (grouped)
convolutions to cuDNN.

The rule is installed into TensorFlow's private pfor registry (the hook of the
pinned TensorFlow version); the shared-filter case still goes to TensorFlow's
own rule.
"""

from __future__ import annotations

import tensorflow as tf
from tensorflow.python.ops.parallel_for import pfor as _pfor

_CONV = "Conv2D"


def _grouped(
    x: tf.Tensor,
    filters: tf.Tensor,
    strides: list,
    padding: str,
    dilations: list,
    explicit_paddings: list,
) -> tf.Tensor:
    """`[K, B, H, W, C]` (x) `[K, kh, kw, C, O]` -> `[K, B, H', W', O]` as one grouped `Conv2D`."""
    clients = tf.shape(filters)[0]
    kh, kw, c, o = (tf.shape(filters)[i] for i in range(1, 5))
    kernel = tf.reshape(tf.transpose(filters, [1, 2, 3, 0, 4]), tf.stack([kh, kw, c, clients * o]))
    b, h, w = tf.shape(x)[1], tf.shape(x)[2], tf.shape(x)[3]
    grouped = tf.reshape(tf.transpose(x, [1, 2, 3, 0, 4]), tf.stack([b, h, w, clients * c]))
    y = tf.raw_ops.Conv2D(
        input=grouped,
        filter=kernel,
        strides=strides,
        padding=padding,
        dilations=dilations,
        explicit_paddings=explicit_paddings,
        data_format="NHWC",
    )
    shape = tf.shape(y)
    y = tf.reshape(y, tf.stack([shape[0], shape[1], shape[2], clients, o]))
    return tf.transpose(y, [3, 0, 1, 2, 4])


def _cpu_grouped(x: tf.Tensor, filters: tf.Tensor, padding: str) -> tf.Tensor:
    """The grouped convolution (stride and dilation 1) with gradients TensorFlow's
    CPU kernels lack ("gradients for grouped convolutions are not supported on CPU"):
    the input gradient is the grouped convolution of the padded output gradient with
    the spatially flipped, transposed filters; the filter gradient is one batched
    matrix product of each client's input patches with its output gradient."""
    kh, kw = int(filters.shape[1]), int(filters.shape[2])
    ones = [1, 1, 1, 1]

    @tf.custom_gradient
    def conv(x: tf.Tensor, filters: tf.Tensor) -> tuple:
        y = _grouped(x, filters, ones, padding, ones, [])

        def grad(dy: tf.Tensor) -> tuple:
            pads = []
            for k in (kh, kw):
                before = (k - 1) // 2 if padding == "SAME" else 0
                after = (k - 1 - before) if padding == "SAME" else 0
                pads.append([k - 1 - before, k - 1 - after])
            flipped = tf.transpose(tf.reverse(filters, [1, 2]), [0, 1, 2, 4, 3])
            dx = _grouped(
                tf.pad(dy, [[0, 0], [0, 0], *pads, [0, 0]]), flipped, ones, "VALID", ones, []
            )
            shape = tf.shape(x)
            clients, c = shape[0], shape[4]
            patches = tf.image.extract_patches(
                tf.reshape(x, tf.concat([[-1], shape[2:]], 0)), [1, kh, kw, 1], ones, ones, padding
            )
            patches = tf.reshape(patches, tf.stack([clients, -1, kh * kw * c]))
            out = tf.reshape(dy, tf.stack([clients, -1, tf.shape(dy)[4]]))
            dw = tf.reshape(tf.matmul(patches, out, transpose_a=True), tf.shape(filters))
            return dx, dw

        return y, grad

    return conv(x, filters)


def _per_client(x: tf.Tensor, filters: tf.Tensor, clients: int, attrs: dict) -> tf.Tensor:
    """One oneDNN convolution per client, side by side in one graph.

    The clients are split with `unstack`, whose gradient is one `stack`: slicing
    `x[k]` instead made each slice's gradient a zero-filled tensor of the whole
    cohort (`StridedSliceGrad`, a fifth of a profiled `cnn_emnist` step).
    """
    inputs, kernels = tf.unstack(x, num=clients), tf.unstack(filters, num=clients)
    return tf.stack(
        [
            tf.raw_ops.Conv2D(input=i, filter=f, data_format="NHWC", **attrs)
            for i, f in zip(inputs, kernels)
        ]
    )


def grouped_conv2d(
    x: tf.Tensor,
    filters: tf.Tensor,
    strides: list,
    padding: str,
    dilations: list,
    explicit_paddings: list,
) -> tf.Tensor:
    """Per-client NHWC convolutions of stacked inputs with stacked filters.

    On a GPU: one grouped convolution (cuDNN computes it and both its gradients
    natively). On CPU, for a known number of clients: one convolution per client
    in the same graph, whose gradients are TensorFlow's own; measured on the
    benchmark machine, oneDNN's per-client kernels beat the grouped form in
    CPU time for `cnn_emnist`'s layers (10 clients, batch 20: forward 17 vs 21 ms
    and 74 vs 111 ms, forward and gradients 31 vs 90 ms and 361 vs 533 ms), and the
    rest of the step (pooling, dense layers, the optimizer) stays vectorized. For
    an unknown number of clients (evaluation cohorts of any size): the grouped form
    with its CPU gradients.

    Args:
        x: `[K, B, H, W, C]` inputs, or `[B, H, W, C]` shared by every client.
        filters: `[K, kh, kw, C, O]` per-client filters.
        strides, padding, dilations, explicit_paddings: as `tf.raw_ops.Conv2D`.

    Returns:
        `[K, B, H', W', O]`.

    Raises:
        ValueError: on CPU, for an unknown number of clients and strides or
            dilations other than 1 or explicit padding (no gradient here): the
            model then trains one client per call.
    """
    if x.shape.rank == 4:
        x = tf.repeat(tf.expand_dims(x, 0), tf.shape(filters)[0], axis=0)
    if tf.config.list_physical_devices("GPU"):
        return _grouped(x, filters, strides, padding, dilations, explicit_paddings)
    clients = filters.shape[0]
    if clients is not None:
        attrs = dict(
            strides=strides,
            padding=padding,
            dilations=dilations,
            explicit_paddings=explicit_paddings,
        )
        return _per_client(x, filters, clients, attrs)
    if (
        list(strides) != [1, 1, 1, 1]
        or list(dilations) != [1, 1, 1, 1]
        or padding not in ("VALID", "SAME")
    ):
        raise ValueError(
            f"a per-client Conv2D with strides {list(strides)}, dilations {list(dilations)}, padding {padding} "
            "has no vectorized CPU gradient for an unknown number of clients (only stride 1, dilation 1, VALID or SAME)"
        )
    return _cpu_grouped(x, filters, padding)


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
