"""`char_rnn`: TFF's architecture, padding ignored by loss and metrics, a cohort trained in one
call (graph or XLA) equal to one client per call."""

import logging

import keras
import numpy as np
import pytest
import tensorflow as tf

from fedrun.config.errors import ConfigError
from fedrun.data import chars
from fedrun.data.client_data import ArrayClientData, FederatedData
from fedrun.data.cohort import build_cohort
from fedrun.data.preprocess import PreprocessConfig
from fedrun.models.build import build_model
from fedrun.models.builders import parameter_count
from fedrun.models.char_rnn import CharRNNParams, char_rnn_keras
from fedrun.optimizers import OPTIMIZERS
from fedrun.runtime.local import SequentialRuntime, VectorizedRuntime
from fedrun.runtime.trainer import LocalRule, no_inputs

LENGTH = 12
SNIPPETS = [
    "To be or not to be",
    "that is the question",
    "whether 'tis nobler",
    "in the mind to suffer the slings",
    "and arrows",
]


def text_data():
    per_client = [chars.windows(SNIPPETS[k::2], LENGTH) for k in range(2)] + [
        chars.windows(SNIPPETS[4:], LENGTH)
    ]
    arrays = {key: np.concatenate([p[key] for p in per_client]) for key in ("x", "y")}
    sizes = np.cumsum([0] + [len(p["x"]) for p in per_client])
    indices = {f"c{k}": np.arange(sizes[k], sizes[k + 1]) for k in range(3)}
    return FederatedData("text", ArrayClientData(arrays, indices), None, None, chars.VOCAB_SIZE)


@pytest.fixture(scope="module")
def data():
    return text_data()


@pytest.fixture(scope="module")
def model(data):
    return build_model(
        {"type": "char_rnn", "embedding_dim": 4, "lstm_units": [8, 8]}, "model", data, seed=0
    )


def test_tff_sizes_by_default():
    keras_model = char_rnn_keras(CharRNNParams(), 80, 90)
    lstm = lambda inputs, units: 4 * units * (inputs + units + 1)  # noqa: E731
    assert parameter_count(keras_model) == 90 * 8 + lstm(8, 256) + lstm(256, 256) + 256 * 90 + 90
    assert [type(layer).__name__ for layer in keras_model.layers] == [
        "InputLayer",
        "Embedding",
        "LSTM",
        "LSTM",
        "Dense",
    ]


def test_predicts_logits_for_every_position(model, data):
    x = tf.constant(data.train.arrays_for("c0")["x"])
    logits, _ = model.predict(model.initial_weights, model.initial_state, x, training=False)
    assert logits.shape == (len(x), LENGTH, chars.VOCAB_SIZE)


def test_padding_targets_count_in_neither_loss_nor_accuracy(model):
    rng = np.random.default_rng(0)
    y = tf.constant([[5, 6, 7, 0], [8, 0, 0, 0]], tf.int32)
    logits = rng.normal(size=(2, 4, chars.VOCAB_SIZE)).astype(np.float32)
    changed = logits.copy()
    changed[0, 3] += 50.0  # only padding positions differ
    changed[1, 1:] -= 50.0
    losses = model.per_example_loss(y, tf.constant(logits))
    token = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction=None)(
        y, logits
    ).numpy()
    np.testing.assert_allclose(losses.numpy(), [token[0, :3].mean(), token[1, 0]], rtol=1e-5)
    np.testing.assert_allclose(
        model.per_example_loss(y, tf.constant(changed)).numpy(), losses.numpy(), rtol=1e-6
    )

    def accuracy(values, mask):
        metrics = model.update_metrics(
            model.initial_metrics(),
            y,
            tf.constant(values),
            model.per_example_loss(y, tf.constant(values)),
            mask,
        )
        return model.finalize_metrics(metrics)

    full = accuracy(logits, tf.ones([2]))
    expected = np.mean(np.argmax(logits, -1)[[0, 0, 0, 1], [0, 1, 2, 0]] == [5, 6, 7, 8])
    assert float(full["accuracy"]) == pytest.approx(expected)
    assert float(accuracy(changed, tf.ones([2]))["accuracy"]) == pytest.approx(expected)
    assert int(full["num_examples"]) == 2
    first_only = accuracy(logits, tf.constant([1.0, 0.0]))
    assert int(first_only["num_examples"]) == 1
    assert float(first_only["accuracy"]) == pytest.approx(
        np.mean(np.argmax(logits[0, :3], -1) == [5, 6, 7])
    )


class Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def test_the_traced_model_has_no_loops_or_tensor_lists(model):
    """Unrolled LSTMs: nothing XLA cannot compile, nothing `vectorized_map` loops over."""
    spec = {k: tf.TensorSpec([2] + s.shape.as_list(), s.dtype) for k, s in model.input_spec.items()}
    weight_specs = model.weight_specs

    def forward(weights, x):
        return model.predict(weights, model.initial_state, x, training=True)[0]

    graph = tf.function(forward).get_concrete_function(weight_specs, spec["x"]).graph
    op_types = {op.type for op in graph.get_operations()}
    assert not {t for t in op_types if t.startswith("TensorList") or "While" in t}


def _outputs(model, data, optimizer_node, jit_compile):
    """Updates and metrics of a cohort of unequal clients, trained by each runtime."""
    config = PreprocessConfig(epochs=2, batch_size=2, shuffle_buffer=0, flatten=False)
    cohort = build_cohort(data.train, list(data.train.client_ids), config, seed=0, round_num=1)
    assert len(set(cohort.steps_per_client())) > 1  # unequal clients
    optimizer = OPTIMIZERS.build(optimizer_node, "client_optimizer")
    outputs, trainers = {}, {}
    for runtime in (
        VectorizedRuntime(jit_compile=jit_compile, fallback="error"),
        SequentialRuntime(jit_compile=jit_compile),
    ):
        trainer = runtime.make_trainer(model, optimizer, LocalRule())
        outputs[runtime.vectorize] = runtime.train(
            trainer,
            model.initial_weights,
            cohort,
            no_inputs(optimizer_node["learning_rate"], cohort.num_clients),
        )
        trainers[runtime.vectorize] = trainer
    assert trainers[True].vectorize and trainers[True].lanes == cohort.num_clients
    assert all(t.jit_compile is jit_compile and t.trace_count == 1 for t in trainers.values())
    return outputs


@pytest.mark.parametrize(
    "optimizer_node, jit_compile",
    [
        pytest.param({"type": "sgd", "learning_rate": 0.5}, False, id="sgd-graph"),
        pytest.param(
            {"type": "sgd", "learning_rate": 0.5}, True, id="sgd-xla", marks=pytest.mark.slow
        ),
        pytest.param(
            {"type": "adam", "learning_rate": 0.01}, False, id="adam-graph", marks=pytest.mark.slow
        ),
    ],
)
def test_a_cohort_in_one_call_matches_sequential(model, data, optimizer_node, jit_compile):
    handler = Records()
    logging.getLogger("tensorflow").addHandler(handler)
    try:
        outputs = _outputs(model, data, optimizer_node, jit_compile)
    finally:
        logging.getLogger("tensorflow").removeHandler(handler)
    assert not [m for m in handler.messages if "while_loop" in m]
    assert float(tf.reduce_max(tf.abs(outputs[True].update[0]))) > 0
    for vectorized, sequential in zip(
        tf.nest.flatten(outputs[True]), tf.nest.flatten(outputs[False])
    ):
        np.testing.assert_allclose(
            np.asarray(vectorized), np.asarray(sequential), atol=1e-5, rtol=1e-5
        )


@pytest.mark.parametrize(
    "node, path",
    [
        ({"type": "char_rnn", "lstm_units": []}, "model"),
        ({"type": "char_rnn", "embedding_dim": 0}, "model.embedding_dim"),
        ({"type": "char_rnn", "pad_id": 90}, "model"),
    ],
    ids=["no-lstm-layers", "zero-embedding", "pad-outside-vocabulary"],
)
def test_bad_sizes_are_config_errors(data, node, path):
    with pytest.raises(ConfigError) as info:
        build_model(node, "model", data, seed=0)
    assert info.value.path == path


def test_needs_token_sequences():
    images = FederatedData(
        "img",
        ArrayClientData(
            {"x": np.zeros((2, 5), np.float32), "y": np.zeros(2, np.int32)}, {"a": [0, 1]}
        ),
        None,
        None,
        3,
    )
    with pytest.raises(ConfigError, match="integer token sequences"):
        build_model({"type": "char_rnn"}, "model", images, seed=0)
