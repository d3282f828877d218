"""TFF's building_your_own_federated_learning_algorithm tutorial with
`import fedrun.compat.tff as tff`, on tiny EMNIST files in TFF's layout
(`cache_dir=` points the loader at them)."""

import collections

import numpy as np
import pytest
import tensorflow as tf

import fedrun.compat.tff as tff
from tests.compat.tff.emnist_files import write_emnist

NUM_CLIENTS = 10
BATCH_SIZE = 20
WEIGHTS = "<trainable=<float32[784,10],float32[10]>,non_trainable=<>>"


def preprocess(dataset):
    def batch_format_fn(element):
        return (
            tf.reshape(element["pixels"], [-1, 784]),
            tf.reshape(element["label"], [-1, 1]),
        )

    return dataset.batch(BATCH_SIZE).map(batch_format_fn)


def create_keras_model():
    initializer = tf.keras.initializers.GlorotNormal(seed=0)
    return tf.keras.models.Sequential(
        [
            tf.keras.layers.Input(shape=(784,)),
            tf.keras.layers.Dense(10, kernel_initializer=initializer),
            tf.keras.layers.Softmax(),
        ]
    )


@tf.function
def client_update(model, dataset, initial_weights, client_optimizer):
    client_weights = initial_weights.trainable
    optimizer_state = client_optimizer.initialize(
        tf.nest.map_structure(tf.TensorSpec.from_tensor, client_weights)
    )
    for batch in dataset:
        x, y = batch
        with tf.GradientTape() as tape:
            tape.watch(client_weights)
            outputs = model.predict_on_batch(model_weights=(client_weights, ()), x=x, training=True)
            loss = model.loss(output=outputs, label=y)
        grads = tape.gradient(loss, client_weights)
        optimizer_state, client_weights = client_optimizer.next(
            optimizer_state, weights=client_weights, gradients=grads
        )
    return tff.learning.models.ModelWeights(client_weights, non_trainable=())


@tf.function
def server_update(model, mean_client_weights):
    del model
    return mean_client_weights


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("emnist"))
    write_emnist(directory, num_clients=NUM_CLIENTS)
    emnist_train, emnist_test = tff.simulation.datasets.emnist.load_data(cache_dir=directory)
    client_ids = sorted(emnist_train.client_ids)[:NUM_CLIENTS]
    federated_train_data = [
        preprocess(emnist_train.create_tf_dataset_for_client(x)) for x in client_ids
    ]
    tff_model = tff.learning.models.functional_model_from_keras(
        create_keras_model(),
        loss_fn=tf.keras.losses.SparseCategoricalCrossentropy(),
        input_spec=federated_train_data[0].element_spec,
        metrics_constructor=collections.OrderedDict(
            accuracy=tf.keras.metrics.SparseCategoricalAccuracy
        ),
    )

    @tff.tensorflow.computation
    def server_init():
        return tff.learning.models.ModelWeights(*tff_model.initial_weights)

    @tff.federated_computation
    def initialize_fn():
        return tff.federated_eval(server_init, tff.SERVER)

    tf_dataset_type = tff.SequenceType(tff.types.tensorflow_to_type(tff_model.input_spec))
    model_weights_type = server_init.type_signature.result

    @tff.tensorflow.computation(tf_dataset_type, model_weights_type)
    def client_update_fn(tf_dataset, server_weights):
        client_optimizer = tff.learning.optimizers.build_sgdm(learning_rate=0.01)
        return client_update(tff_model, tf_dataset, server_weights, client_optimizer)

    @tff.tensorflow.computation(model_weights_type)
    def server_update_fn(mean_client_weights):
        return server_update(tff_model, mean_client_weights)

    federated_server_type = tff.FederatedType(model_weights_type, tff.SERVER)
    federated_dataset_type = tff.FederatedType(tf_dataset_type, tff.CLIENTS)

    @tff.federated_computation(federated_server_type, federated_dataset_type)
    def next_fn(server_weights, federated_dataset):
        server_weights_at_client = tff.federated_broadcast(server_weights)
        client_weights = tff.federated_map(
            client_update_fn, (federated_dataset, server_weights_at_client)
        )
        mean_client_weights = tff.federated_mean(client_weights)
        return tff.federated_map(server_update_fn, mean_client_weights)

    federated_algorithm = tff.templates.IterativeProcess(
        initialize_fn=initialize_fn, next_fn=next_fn
    )
    central_emnist_test = preprocess(emnist_test.create_tf_dataset_from_all_clients())

    def evaluate(model_weights):
        keras_model = create_keras_model()
        keras_model.compile(
            loss=tf.keras.losses.SparseCategoricalCrossentropy(),
            metrics=[tf.keras.metrics.SparseCategoricalAccuracy()],
        )
        model_weights.assign_weights_to(keras_model)
        return keras_model.evaluate(central_emnist_test, verbose=0)

    return collections.namedtuple(
        "Tutorial", "tf_dataset_type model_weights_type algorithm data evaluate"
    )(tf_dataset_type, model_weights_type, federated_algorithm, federated_train_data, evaluate)


def test_type_signatures(tutorial):
    assert str(tutorial.tf_dataset_type) == "<float32[?,784],int32[?,1]>*"
    assert str(tutorial.model_weights_type) == WEIGHTS
    assert str(tutorial.algorithm.initialize.type_signature) == f"( -> {WEIGHTS}@SERVER)"
    assert str(tutorial.algorithm.next.type_signature) == (
        f"(<server_weights={WEIGHTS}@SERVER,"
        "federated_dataset={<float32[?,784],int32[?,1]>*}@CLIENTS> -> "
        f"{WEIGHTS}@SERVER)"
    )


def test_training_lowers_the_central_loss(tutorial):
    server_state = tutorial.algorithm.initialize()
    initial_loss, _ = tutorial.evaluate(server_state)
    for _ in range(3):
        server_state = tutorial.algorithm.next(server_state, tutorial.data)
    loss, _ = tutorial.evaluate(server_state)
    assert np.isfinite(loss) and loss < initial_loss
