"""TFF's working-with-client-data tutorial with `import fedrun.compat.tff as tff`,
on tiny EMNIST files in TFF's layout (`cache_dir=` points the loader at them)."""

import collections

import pytest
import tensorflow as tf

import fedrun.compat.tff as tff
from tests.compat.tff.emnist_files import write_emnist


def preprocess_dataset(dataset):
    """Create batches of 5 examples, and limit to 3 batches."""

    def map_fn(input):
        return collections.OrderedDict(
            x=tf.reshape(input["pixels"], shape=(-1, 784)),
            y=tf.cast(tf.reshape(input["label"], shape=(-1, 1)), tf.int64),
        )

    return dataset.batch(5).map(map_fn, num_parallel_calls=tf.data.experimental.AUTOTUNE).take(5)


def preprocess_and_shuffle(dataset):
    """Applies `preprocess_dataset` above and shuffles the result."""
    preprocessed = preprocess_dataset(dataset)
    return preprocessed.shuffle(buffer_size=5)


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("emnist"))
    write_emnist(directory)
    client_data, _ = tff.simulation.datasets.emnist.load_data(cache_dir=directory)
    preprocessed_and_shuffled = client_data.preprocess(preprocess_and_shuffle)
    keras_model = tf.keras.models.Sequential(
        [
            tf.keras.layers.InputLayer(input_shape=(784,)),
            tf.keras.layers.Dense(10, kernel_initializer="zeros"),
        ]
    )
    tff_model = tff.learning.models.functional_model_from_keras(
        keras_model,
        loss_fn=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        input_spec=collections.OrderedDict(
            x=tf.TensorSpec(shape=[None, 784], dtype=tf.float32),
            y=tf.TensorSpec(shape=[None, 1], dtype=tf.int64),
        ),
        metrics_constructor=collections.OrderedDict(
            loss=lambda: tf.keras.metrics.SparseCategoricalCrossentropy(from_logits=True),
            accuracy=tf.keras.metrics.SparseCategoricalAccuracy,
        ),
    )
    trainer = tff.learning.algorithms.build_weighted_fed_avg(
        tff_model,
        client_optimizer_fn=tff.learning.optimizers.build_sgdm(learning_rate=0.01),
    )
    return client_data, preprocessed_and_shuffled, trainer


def test_element_specs(tutorial):
    client_data, preprocessed_and_shuffled, _ = tutorial
    first_client_id = client_data.client_ids[0]
    first_client_dataset = client_data.create_tf_dataset_for_client(first_client_id)
    assert str(first_client_dataset.element_spec) == (
        "OrderedDict([('label', TensorSpec(shape=(), dtype=tf.int32, name=None)), "
        "('pixels', TensorSpec(shape=(28, 28), dtype=tf.float32, name=None))])"
    )
    assert client_data.element_type_structure == first_client_dataset.element_spec
    for preprocess in (preprocess_dataset, preprocess_and_shuffle):
        spec = client_data.preprocess(preprocess).create_tf_dataset_for_client(first_client_id)
        assert str(spec.element_spec) == (
            "OrderedDict([('x', TensorSpec(shape=(None, 784), dtype=tf.float32, name=None)), "
            "('y', TensorSpec(shape=(None, 1), dtype=tf.int64, name=None))])"
        )


def test_dataset_computation_type_signatures(tutorial):
    client_data, preprocessed_and_shuffled, _ = tutorial
    assert (
        str(client_data.dataset_computation.type_signature)
        == "(string -> <label=int32,pixels=float32[28,28]>*)"
    )
    assert (
        str(preprocessed_and_shuffled.dataset_computation.type_signature)
        == "(string -> <x=float32[?,784],y=int64[?,1]>*)"
    )
    first = client_data.client_ids[0]
    dataset = preprocessed_and_shuffled.dataset_computation(first)
    assert sum(int(b["y"].shape[0]) for b in dataset) == sum(
        1 for _ in client_data.create_tf_dataset_for_client(first).take(25)
    )


def test_training_on_datasets_and_on_client_ids_is_the_same(tutorial):
    _, preprocessed_and_shuffled, trainer = tutorial
    selected_client_ids = preprocessed_and_shuffled.client_ids[:10]
    preprocessed_data_for_clients = [
        preprocessed_and_shuffled.create_tf_dataset_for_client(selected_client_ids[i])
        for i in range(10)
    ]
    trainer_accepting_ids = tff.simulation.compose_dataset_computation_with_iterative_process(
        preprocessed_and_shuffled.dataset_computation, trainer
    )
    losses = {}
    for name, process, data in (
        ("datasets", trainer, preprocessed_data_for_clients),
        ("ids", trainer_accepting_ids, selected_client_ids),
    ):
        state = process.initialize()
        for _ in range(3):
            result = process.next(state, data)
            state = result.state
            train_metrics = result.metrics["client_work"]["train"]
        losses[name] = (train_metrics["loss"], train_metrics["num_examples"])
        assert f"loss {train_metrics['loss']:.2f}".startswith("loss ")
    # Each client's batches are shuffled anew (unseeded), so the runs differ in order only.
    assert losses["ids"][1] == losses["datasets"][1] == 10 * 25
    assert losses["ids"][0] == pytest.approx(losses["datasets"][0], rel=0.1)
    signature = str(trainer_accepting_ids.next.type_signature)
    assert signature.startswith(
        "(<state=<global_model_weights=<trainable=<float32[784,10],float32[10]>"
    )
    assert ",client_data={string}@CLIENTS> -> <state=" in signature
