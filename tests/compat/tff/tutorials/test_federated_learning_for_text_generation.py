"""TFF's text-generation tutorial with `import fedrun.compat.tff as tff`, on tiny
Shakespeare files in TFF's HDF5 layout (`cache_dir=` points the loader at them).

The tutorial downloads a pre-trained Keras 2 model; here `load_model` builds the
same architecture, small, and with `stateful=False` (fedrun refuses stateful RNNs,
see `test_a_stateful_gru_is_refused_before_training`).
"""

import collections

import h5py
import numpy as np
import pytest
import tensorflow as tf

import fedrun.compat.tff as tff

vocab = list(
    "dhlptx@DHLPTX $(,048cgkoswCGKOSW[_#'/37;?bfjnrvzBFJNRVZ\"&*.26:\naeimquyAEIMQUY]!%)-159\r"
)
char2idx = {u: i for i, u in enumerate(vocab)}

SEQ_LENGTH = 100
BATCH_SIZE = 8
BUFFER_SIZE = 100
CLIENTS = [
    "THE_TRAGEDY_OF_KING_LEAR_KING",
    "ALL_S_WELL_THAT_ENDS_WELL_CELIA",
    "MUCH_ADO_ABOUT_NOTHING_OTHELLO",
]
SPEECH = "Nothing will come of nothing: speak again, dear Cordelia. " * 18


def write_shakespeare(directory):
    for split in ("train", "test"):
        with h5py.File(f"{directory}/shakespeare_{split}.h5", "w") as f:
            for i, cid in enumerate(CLIENTS):
                snippets = [SPEECH[i:] for _ in range(5)]
                f.create_group(f"examples/{cid}").create_dataset(
                    "snippets", data=np.array(snippets, dtype=object), dtype=h5py.string_dtype()
                )


def load_model(batch_size, stateful=False):
    return tf.keras.Sequential(
        [
            tf.keras.Input(batch_shape=(batch_size, None), dtype="int64"),
            tf.keras.layers.Embedding(len(vocab), 8),
            tf.keras.layers.GRU(16, return_sequences=True, stateful=stateful, name="gru"),
            tf.keras.layers.Dense(len(vocab)),
        ]
    )


table = tf.lookup.StaticHashTable(
    tf.lookup.KeyValueTensorInitializer(
        keys=vocab, values=tf.constant(list(range(len(vocab))), dtype=tf.int64)
    ),
    default_value=0,
)


def to_ids(x):
    s = tf.reshape(x["snippets"], shape=[1])
    chars = tf.strings.bytes_split(s).values
    return table.lookup(chars)


def split_input_target(chunk):
    input_text = tf.map_fn(lambda x: x[:-1], chunk)
    target_text = tf.map_fn(lambda x: x[1:], chunk)
    return (input_text, target_text)


def preprocess(dataset, drop_remainder=True):
    return (
        dataset.map(to_ids)
        .unbatch()
        .batch(SEQ_LENGTH + 1, drop_remainder=True)
        .shuffle(BUFFER_SIZE, seed=0)
        .batch(BATCH_SIZE, drop_remainder=drop_remainder)
        .map(split_input_target)
    )


# Keras 3 clones a compiled model's compile config, so a custom metric must be registered.
@tf.keras.utils.register_keras_serializable()
class FlattenedCategoricalAccuracy(tf.keras.metrics.SparseCategoricalAccuracy):
    def __init__(self, name="accuracy", dtype=tf.float32):
        super().__init__(name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = tf.reshape(y_true, [-1, 1])
        y_pred = tf.reshape(y_pred, [-1, len(vocab), 1])
        return super().update_state(y_true, y_pred, sample_weight)


def compiled(keras_model):
    keras_model.compile(
        optimizer=tf.keras.optimizers.Adam(0.05),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[FlattenedCategoricalAccuracy()],
    )
    return keras_model


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("shakespeare"))
    write_shakespeare(directory)
    tf.keras.utils.set_random_seed(0)
    train_data, test_data = tff.simulation.datasets.shakespeare.load_data(cache_dir=directory)
    raw_example_dataset = train_data.create_tf_dataset_for_client("THE_TRAGEDY_OF_KING_LEAR_KING")
    example_dataset = preprocess(raw_example_dataset)
    keras_model = compiled(load_model(batch_size=BATCH_SIZE))

    def create_tff_model():
        input_spec = example_dataset.element_spec
        keras_model_clone = tf.keras.models.clone_model(keras_model)
        return tff.learning.models.from_keras_model(
            keras_model_clone,
            input_spec=input_spec,
            loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[FlattenedCategoricalAccuracy()],
        )

    fed_avg = tff.learning.algorithms.build_weighted_fed_avg(
        model_fn=create_tff_model,
        client_optimizer_fn=tff.learning.optimizers.build_sgdm(learning_rate=0.5),
    )
    return collections.OrderedDict(
        train_data=train_data,
        test_data=test_data,
        raw_example_dataset=raw_example_dataset,
        example_dataset=example_dataset,
        keras_model=keras_model,
        create_tff_model=create_tff_model,
        fed_avg=fed_avg,
    )


def test_clients_yield_tffs_snippets(tutorial):
    printed = [x["snippets"] for x in tutorial["raw_example_dataset"].take(2)]
    assert [t.numpy().decode() for t in printed] == [SPEECH, SPEECH]
    assert printed[0].dtype == tf.string and printed[0].shape == ()
    assert tutorial["test_data"].client_ids == sorted(CLIENTS)


def test_preprocessed_element_spec(tutorial):
    assert str(tutorial["example_dataset"].element_spec) == (
        "(TensorSpec(shape=(8, 100), dtype=tf.int64, name=None), "
        "TensorSpec(shape=(8, 100), dtype=tf.int64, name=None))"
    )


def test_one_round_on_one_client(tutorial):
    fed_avg = tutorial["fed_avg"]
    result = fed_avg.next(fed_avg.initialize(), [tutorial["example_dataset"].take(5)])
    train_metrics = result.metrics["client_work"]["train"]
    assert list(train_metrics) == ["accuracy", "loss", "num_examples", "num_batches"]
    assert train_metrics["num_examples"] == 5 * BATCH_SIZE
    assert train_metrics["num_batches"] == 5
    assert np.isfinite(train_metrics["loss"])


def test_rounds_from_pretrained_weights_lower_the_keras_loss(tutorial):
    fed_avg, keras_model = tutorial["fed_avg"], tutorial["keras_model"]
    example_dataset, train_data = tutorial["example_dataset"], tutorial["train_data"]
    train_datasets = [
        preprocess(train_data.create_tf_dataset_for_client(c)).take(5) for c in CLIENTS[1:]
    ]
    state = fed_avg.initialize()
    pre_trained_weights = tff.learning.models.ModelWeights(
        trainable=[v.numpy() for v in keras_model.trainable_weights],
        non_trainable=[v.numpy() for v in keras_model.non_trainable_weights],
    )
    state = fed_avg.set_model_weights(state, pre_trained_weights)
    printed = []

    def keras_evaluate(state):
        keras_model = compiled(load_model(batch_size=BATCH_SIZE))
        fed_avg.get_model_weights(state).assign_weights_to(keras_model)
        loss, accuracy = keras_model.evaluate(example_dataset, steps=2, verbose=0)
        printed.append("\tEval: loss={l:.3f}, accuracy={a:.3f}".format(l=loss, a=accuracy))
        return loss

    losses = [keras_evaluate(state)]
    for _ in range(3):
        state = fed_avg.next(state, train_datasets).state
        losses.append(keras_evaluate(state))
    assert printed[0].startswith("\tEval: loss=")
    assert losses[-1] < losses[0]


def test_flattened_accuracy_is_masked_as_keras_evaluates_it(tutorial):
    """A last batch of 3 windows is padded to 8 in fedrun; the padding must count
    nowhere, so the federated metrics equal Keras' over the same real windows.

    The tutorial's metric reshapes predictions to `[-1, vocab, 1]`, so its argmax
    is always id 0: it measures the share of targets with id 0 ('d'); the plain
    token accuracy beside it depends on the predictions."""
    keras_model = load_model(batch_size=None)
    keras_model.compile(
        optimizer=tf.keras.optimizers.Adam(0.05),
        loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[
            FlattenedCategoricalAccuracy(),
            tf.keras.metrics.SparseCategoricalAccuracy("tokens"),
        ],
    )
    windows = preprocess(tutorial["raw_example_dataset"], drop_remainder=False)
    keras_model.fit(windows, epochs=5, verbose=0)
    _, keras_flattened, keras_tokens = keras_model.evaluate(windows, verbose=0)
    batches = list(windows.as_numpy_iterator())  # one pass: each pass shuffles anew
    x = np.concatenate([x for x, _ in batches])
    y = np.concatenate([y for _, y in batches])
    tokens = np.mean(np.argmax(keras_model.predict(x, verbose=0), axis=-1) == y)
    assert len(x) % BATCH_SIZE == 3 and 0.05 < tokens < 1.0

    def model_fn():
        return tff.learning.models.from_keras_model(
            load_model(batch_size=None),
            input_spec=windows.element_spec,
            loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[
                FlattenedCategoricalAccuracy(),
                tf.keras.metrics.SparseCategoricalAccuracy("tokens"),
            ],
        )

    evaluation = tff.learning.algorithms.build_fed_eval(model_fn)
    state = evaluation.set_model_weights(
        evaluation.initialize(), tff.learning.models.ModelWeights.from_model(keras_model)
    )
    current = evaluation.next(state, [windows]).metrics["client_work"]["eval"][
        "current_round_metrics"
    ]
    assert current["num_examples"] == len(x)
    np.testing.assert_allclose(current["accuracy"], keras_flattened, rtol=1e-6)
    np.testing.assert_allclose(current["accuracy"], np.mean(y == 0), rtol=1e-6)
    np.testing.assert_allclose(current["tokens"], keras_tokens, rtol=1e-6)
    np.testing.assert_allclose(current["tokens"], tokens, rtol=1e-6)


def test_a_stateful_gru_is_refused_before_training(tutorial):
    spec = tutorial["example_dataset"].element_spec
    with pytest.raises(tff.UnsupportedError, match="layer 'gru' is a stateful RNN.*stateful=False"):
        tff.learning.models.from_keras_model(
            load_model(BATCH_SIZE, stateful=True),
            input_spec=spec,
            loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
