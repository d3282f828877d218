"""TFF's composing_learning_algorithms tutorial with `import fedrun.compat.tff as tff`:
FedAvg with client-side gradient clipping composed from the five learning building
blocks, on tiny EMNIST files in TFF's layout (`cache_dir=` points the loader at them).
The printed states and metrics are the tutorial's; the round's result is checked
against the same clipped SGD written in numpy, applied as TFF 0.87 applies it."""

import collections

import numpy as np
import pytest
import tensorflow as tf

import fedrun.compat.tff as tff
from tests.compat.tff.emnist_files import write_emnist

NUM_CLIENTS = 10
BATCH_SIZE = 20


@tf.function
def client_update(model, dataset, initial_weights, client_optimizer):
    num_examples = 0.0
    trainable_weights, non_trainable_weights = (
        initial_weights.trainable,
        initial_weights.non_trainable,
    )
    optimizer_state = client_optimizer.initialize(
        tf.nest.map_structure(lambda x: tf.TensorSpec, trainable_weights)
    )
    for batch in dataset:
        x, y = batch
        with tf.GradientTape() as tape:
            tape.watch(trainable_weights)
            logits = model.predict_on_batch(
                model_weights=(trainable_weights, non_trainable_weights), x=x, training=True
            )
            num_examples += tf.cast(tf.shape(y)[0], tf.float32)
            loss = model.loss(output=logits, label=y)
        grads = tape.gradient(loss, trainable_weights)
        gradient_norm = tf.linalg.global_norm(grads)
        if gradient_norm > 1:
            grads = tf.nest.map_structure(lambda x, n=gradient_norm: x / n, grads)
        optimizer_state, trainable_weights = client_optimizer.next(
            optimizer_state, trainable_weights, grads
        )
    client_update = tf.nest.map_structure(tf.subtract, trainable_weights, initial_weights[0])
    return tff.learning.templates.ClientResult(update=client_update, update_weight=num_examples)


def build_gradient_clipping_client_work(model, optimizer):
    data_type = tff.SequenceType(tff.types.tensorflow_to_type(model.input_spec))
    model_weights_type = tff.types.to_type(
        tf.nest.map_structure(
            lambda arr: tff.types.TensorType(shape=arr.shape, dtype=arr.dtype),
            tff.learning.models.ModelWeights(*model.initial_weights),
        )
    )

    @tff.federated_computation
    def initialize_fn():
        return tff.federated_value((), tff.SERVER)

    @tff.tensorflow.computation(model_weights_type, data_type)
    def client_update_computation(model_weights, dataset):
        return client_update(model, dataset, model_weights, optimizer)

    @tff.federated_computation(
        initialize_fn.type_signature.result,
        tff.FederatedType(model_weights_type, tff.CLIENTS),
        tff.FederatedType(data_type, tff.CLIENTS),
    )
    def next_fn(state, model_weights, client_dataset):
        client_result = tff.federated_map(
            client_update_computation, (model_weights, client_dataset)
        )
        measurements = tff.federated_value((), tff.SERVER)
        return tff.templates.MeasuredProcessOutput(state, client_result, measurements)

    return tff.learning.templates.ClientWorkProcess(initialize_fn, next_fn)


def preprocess(dataset):
    def batch_format_fn(element):
        return (
            tf.reshape(element["pixels"], [-1, 784]),
            tf.reshape(element["label"], [-1, 1]),
        )

    return dataset.batch(BATCH_SIZE).map(batch_format_fn)


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("emnist"))
    write_emnist(directory, num_clients=NUM_CLIENTS)
    emnist_train, _ = tff.simulation.datasets.emnist.load_data(cache_dir=directory)
    client_ids = sorted(emnist_train.client_ids)[:NUM_CLIENTS]
    federated_train_data = [
        preprocess(emnist_train.create_tf_dataset_for_client(x)) for x in client_ids
    ]
    initializer = tf.keras.initializers.GlorotNormal(seed=0)
    keras_model = tf.keras.models.Sequential(
        [
            tf.keras.layers.Input(shape=(784,)),
            tf.keras.layers.Dense(10, kernel_initializer=initializer),
            tf.keras.layers.Softmax(),
        ]
    )
    tff_model = tff.learning.models.functional_model_from_keras(
        keras_model,
        loss_fn=tf.keras.losses.SparseCategoricalCrossentropy(),
        input_spec=federated_train_data[0].element_spec,
        metrics_constructor=collections.OrderedDict(
            accuracy=tf.keras.metrics.SparseCategoricalAccuracy
        ),
    )
    client_optimizer = tff.learning.optimizers.build_sgdm(learning_rate=0.01)
    server_optimizer = tff.learning.optimizers.build_sgdm(learning_rate=1.0)

    @tff.tensorflow.computation
    def initial_model_weights_fn():
        return tff.learning.models.ModelWeights(*tff_model.initial_weights)

    model_weights_type = initial_model_weights_fn.type_signature.result
    distributor = tff.learning.templates.build_broadcast_process(model_weights_type)
    client_work = build_gradient_clipping_client_work(tff_model, client_optimizer)
    aggregator_factory = tff.aggregators.MeanFactory()
    aggregator = aggregator_factory.create(model_weights_type.trainable, tff.TensorType(np.float32))
    finalizer = tff.learning.templates.build_apply_optimizer_finalizer(
        server_optimizer, model_weights_type
    )
    fed_avg_with_clipping = tff.learning.templates.compose_learning_process(
        initial_model_weights_fn, distributor, client_work, aggregator, finalizer
    )
    state = fed_avg_with_clipping.initialize()
    output = fed_avg_with_clipping.next(state, federated_train_data)
    return collections.namedtuple("Tutorial", "data model weights_type state output")(
        federated_train_data, tff_model, model_weights_type, state, output
    )


def test_model_weights_type(tutorial):
    assert str(tutorial.weights_type) == (
        "<trainable=<float32[784,10],float32[10]>,non_trainable=<>>"
    )


def test_initial_state_prints_as_in_the_tutorial(tutorial):
    assert repr(tutorial.state.client_work) == "()"
    assert repr(tutorial.state.finalizer) == "OrderedDict([('learning_rate', 1.0)])"


def test_round_state_and_metrics_print_as_in_the_tutorial(tutorial):
    assert repr(tutorial.output.state.finalizer) == "OrderedDict([('learning_rate', 1.0)])"
    assert repr(tutorial.output.metrics) == (
        "OrderedDict([('distributor', ()), ('client_work', ()), ('aggregator', "
        "OrderedDict([('mean_value', ()), ('mean_weight', ())])), ('finalizer', "
        "OrderedDict([('update_non_finite', 0)]))])"
    )


def clipped_sgd_update(kernel, bias, batches, learning_rate=0.01):
    """One client's update: softmax regression, SGD with the gradient clipped to norm 1."""
    w, b, count = kernel.copy(), bias.copy(), 0
    for x, y in batches:
        logits = x @ w + b
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        error = p - np.eye(10)[y.reshape(-1)]
        grad_w, grad_b = x.T @ error / len(x), error.mean(axis=0)
        norm = np.sqrt((grad_w**2).sum() + (grad_b**2).sum())
        if norm > 1:
            grad_w, grad_b = grad_w / norm, grad_b / norm
        w, b, count = w - learning_rate * grad_w, b - learning_rate * grad_b, count + len(x)
    return (w - kernel, b - bias), count


def test_one_round_applies_the_mean_clipped_sgd_delta_as_a_gradient(tutorial):
    # TFF's finalizer hands the aggregate to the optimizer as a gradient
    # (apply_optimizer_finalizer.py at v0.87.0: optimizer.next(state, weights, update)),
    # and the tutorial's client work reports trained - initial weights: so the server
    # step moves the weights by minus the mean delta. The facade keeps TFF's semantics.
    kernel, bias = (np.asarray(v, np.float64) for v in tutorial.model.initial_weights[0])
    updates = [
        clipped_sgd_update(kernel, bias, [(x.numpy(), y.numpy()) for x, y in dataset])
        for dataset in tutorial.data
    ]
    total = sum(count for _, count in updates)
    mean_w = sum(u[0] * count for u, count in updates) / total
    mean_b = sum(u[1] * count for u, count in updates) / total
    trainable = tutorial.output.state.global_model_weights.trainable
    np.testing.assert_allclose(trainable[0], kernel - mean_w, atol=1e-6)
    np.testing.assert_allclose(trainable[1], bias - mean_b, atol=1e-6)
    assert np.abs(mean_w).max() > 1e-4  # the clients moved: the check above can fail
