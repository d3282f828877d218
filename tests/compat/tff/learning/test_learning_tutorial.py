"""The image-classification tutorial's program, run with `import fedrun.compat.tff as tff`
on tiny federated EMNIST files in TFF's layout."""

import collections
import math

import numpy as np
import pytest
import tensorflow as tf

import fedrun.compat.tff as tff
from tests.compat.tff.emnist_files import write_emnist

NUM_CLIENTS = 10
NUM_EPOCHS = 5
BATCH_SIZE = 20
SHUFFLE_BUFFER = 100
PREFETCH_BUFFER = 10
ROUNDS = 3


def preprocess(dataset):
    def batch_format_fn(element):
        return collections.OrderedDict(
            x=tf.reshape(element["pixels"], [-1, 784]), y=tf.reshape(element["label"], [-1, 1])
        )

    return (
        dataset.repeat(NUM_EPOCHS)
        .shuffle(SHUFFLE_BUFFER, seed=1)
        .batch(BATCH_SIZE)
        .map(batch_format_fn)
        .prefetch(PREFETCH_BUFFER)
    )


def make_federated_data(client_data, client_ids):
    return [preprocess(client_data.create_tf_dataset_for_client(x)) for x in client_ids]


@pytest.fixture(scope="module")
def emnist(tmp_path_factory):
    directory = tmp_path_factory.mktemp("emnist")
    train_arrays = write_emnist(str(directory))
    emnist_train, emnist_test = tff.simulation.datasets.emnist.load_data(path=str(directory))
    sample_clients = emnist_train.client_ids[0:NUM_CLIENTS]
    example_dataset = emnist_train.create_tf_dataset_for_client(emnist_train.client_ids[0])
    return {
        "train": emnist_train,
        "test": emnist_test,
        "sample_clients": sample_clients,
        "sizes": [len(train_arrays[c]["label"]) for c in sample_clients],
        "federated_train_data": make_federated_data(emnist_train, sample_clients),
        "input_spec": preprocess(example_dataset).element_spec,
    }


def keras_model_fn(input_spec):
    def model_fn():
        keras_model = tf.keras.models.Sequential(
            [
                tf.keras.layers.InputLayer(shape=(784,)),
                tf.keras.layers.Dense(10, kernel_initializer="zeros"),
                tf.keras.layers.Softmax(),
            ]
        )
        return tff.learning.models.from_keras_model(
            keras_model,
            input_spec=input_spec,
            loss=tf.keras.losses.SparseCategoricalCrossentropy(),
            metrics=[tf.keras.metrics.SparseCategoricalAccuracy()],
        )

    return model_fn


MnistVariables = collections.namedtuple(
    "MnistVariables", "weights bias num_examples loss_sum accuracy_sum"
)


class MnistModel(tff.learning.models.VariableModel):
    """The tutorial's raw-variable model, written out in its style."""

    def __init__(self):
        self._variables = MnistVariables(
            weights=tf.Variable(
                lambda: tf.zeros(dtype=tf.float32, shape=(784, 10)), name="weights", trainable=True
            ),
            bias=tf.Variable(
                lambda: tf.zeros(dtype=tf.float32, shape=(10)), name="bias", trainable=True
            ),
            num_examples=tf.Variable(0.0, name="num_examples", trainable=False),
            loss_sum=tf.Variable(0.0, name="loss_sum", trainable=False),
            accuracy_sum=tf.Variable(0.0, name="accuracy_sum", trainable=False),
        )

    @property
    def trainable_variables(self):
        return [self._variables.weights, self._variables.bias]

    @property
    def non_trainable_variables(self):
        return []

    @property
    def local_variables(self):
        return [
            self._variables.num_examples,
            self._variables.loss_sum,
            self._variables.accuracy_sum,
        ]

    @property
    def input_spec(self):
        return collections.OrderedDict(
            x=tf.TensorSpec([None, 784], tf.float32), y=tf.TensorSpec([None, 1], tf.int32)
        )

    @tf.function
    def predict_on_batch(self, x, training=True):
        del training
        return tf.nn.softmax(tf.matmul(x, self._variables.weights) + self._variables.bias)

    @tf.function
    def forward_pass(self, batch, training=True):
        v = self._variables
        y = tf.nn.softmax(tf.matmul(batch["x"], v.weights) + v.bias)
        predictions = tf.cast(tf.argmax(y, 1), tf.int32)
        flat_labels = tf.reshape(batch["y"], [-1])
        loss = -tf.reduce_mean(
            tf.reduce_sum(tf.one_hot(flat_labels, 10) * tf.math.log(y), axis=[1])
        )
        accuracy = tf.reduce_mean(tf.cast(tf.equal(predictions, flat_labels), tf.float32))
        num_examples = tf.cast(tf.size(batch["y"]), tf.float32)
        v.num_examples.assign_add(num_examples)
        v.loss_sum.assign_add(loss * num_examples)
        v.accuracy_sum.assign_add(accuracy * num_examples)
        return tff.learning.models.BatchOutput(
            loss=loss, predictions=predictions, num_examples=tf.shape(batch["x"])[0]
        )

    @tf.function
    def report_local_unfinalized_metrics(self):
        v = self._variables
        return collections.OrderedDict(
            num_examples=[v.num_examples],
            loss=[v.loss_sum, v.num_examples],
            accuracy=[v.accuracy_sum, v.num_examples],
        )

    def metric_finalizers(self):
        return collections.OrderedDict(
            num_examples=tf.function(func=lambda x: x[0]),
            loss=tf.function(func=lambda x: x[0] / x[1]),
            accuracy=tf.function(func=lambda x: x[0] / x[1]),
        )

    @tf.function
    def reset_metrics(self):
        for var in self.local_variables:
            var.assign(tf.zeros_like(var))


def run_rounds(training_process, federated_train_data):
    train_state = training_process.initialize()
    printed, metrics = [], []
    for round_num in range(1, ROUNDS + 1):
        result = training_process.next(train_state, federated_train_data)
        train_state = result.state
        metrics.append(result.metrics)
        printed.append("round {:2d}, metrics={}".format(round_num, result.metrics))
    return train_state, metrics, printed


@pytest.fixture(scope="module")
def keras_training(emnist):
    training_process = tff.learning.algorithms.build_weighted_fed_avg(
        keras_model_fn(emnist["input_spec"]),
        client_optimizer_fn=lambda: tf.keras.optimizers.SGD(learning_rate=0.02),
        server_optimizer_fn=lambda: tf.keras.optimizers.SGD(learning_rate=1.0),
    )
    return (training_process,) + run_rounds(training_process, emnist["federated_train_data"])


@pytest.fixture(scope="module")
def mnist_training(emnist):
    training_process = tff.learning.algorithms.build_weighted_fed_avg(
        MnistModel, client_optimizer_fn=lambda: tf.keras.optimizers.SGD(learning_rate=0.02)
    )
    return (training_process,) + run_rounds(training_process, emnist["federated_train_data"])


def expected_counts(sizes):
    examples = sum(NUM_EPOCHS * n for n in sizes)
    batches = sum(math.ceil(NUM_EPOCHS * n / BATCH_SIZE) for n in sizes)
    return examples, batches


# --------------------------------------------------------------------- data
def test_emnist_client_data_looks_like_tffs(emnist):
    emnist_train = emnist["train"]
    assert len(emnist_train.client_ids) == 12
    assert str(emnist_train.element_type_structure) == (
        "OrderedDict([('label', TensorSpec(shape=(), dtype=tf.int32, name=None)), "
        "('pixels', TensorSpec(shape=(28, 28), dtype=tf.float32, name=None))])"
    )
    example_element = next(
        iter(emnist_train.create_tf_dataset_for_client(emnist_train.client_ids[0]))
    )
    assert example_element["pixels"].shape == (28, 28)
    assert 0 <= int(example_element["label"].numpy()) <= 9


# ---------------------------------------------------------- type signatures
def test_training_state_signature_has_tffs_fields(keras_training):
    training_process = keras_training[0]
    text = training_process.initialize.type_signature.formatted_representation()
    assert text.startswith(
        "( -> <\n"
        "  global_model_weights=<\n"
        "    trainable=<\n"
        "      float32[784,10],\n"
        "      float32[10]\n"
        "    >,\n"
        "    non_trainable=<>\n"
        "  >,\n"
        "  distributor=<>,\n"
        "  client_work=<>,\n"
        "  aggregator=<\n"
        "    value_sum_process=<>,\n"
        "    weight_sum_process=<>\n"
        "  >,\n"
        "  finalizer=<\n"
    )
    assert text.endswith(">@SERVER)")


def test_evaluation_signature_prints_as_in_the_tutorial():
    evaluation_process = tff.learning.algorithms.build_fed_eval(MnistModel)
    text = evaluation_process.next.type_signature.formatted_representation()
    state = (
        "  state=<\n    global_model_weights=<\n      trainable=<\n        float32[784,10],\n        float32[10]\n"
        "      >,\n      non_trainable=<>\n    >,\n    distributor=<>,\n    client_work=<\n      <>,\n      <\n"
        "        num_examples=<\n          float32\n        >,\n        loss=<\n          float32,\n          float32\n"
        "        >,\n        accuracy=<\n          float32,\n          float32\n        >\n      >\n    >,\n"
        "    aggregator=<\n      value_sum_process=<>,\n      weight_sum_process=<>\n    >,\n    finalizer=<>\n  >@SERVER"
    )
    assert text.startswith(
        "(<\n"
        + state
        + ",\n  client_data={<\n    x=float32[?,784],\n    y=int32[?,1]\n  >*}@CLIENTS\n> -> <\n"
        + state
        + ",\n"
    )


# ------------------------------------------------------------------ training
def test_keras_fedavg_rounds_report_tffs_metrics(emnist, keras_training):
    _, _, metrics, printed = keras_training
    assert printed[0].startswith(
        "round  1, metrics=OrderedDict([('distributor', ()), ('client_work', OrderedDict([('train', "
        "OrderedDict([('sparse_categorical_accuracy', "
    )
    assert printed[0].endswith(
        "('aggregator', OrderedDict([('mean_value', ()), ('mean_weight', ())])), "
        "('finalizer', OrderedDict([('update_non_finite', 0)]))])"
    )
    examples, batches = expected_counts(emnist["sizes"])
    for round_metrics in metrics:
        train = round_metrics["client_work"]["train"]
        assert list(train) == ["sparse_categorical_accuracy", "loss", "num_examples", "num_batches"]
        assert (train["num_examples"], train["num_batches"]) == (examples, batches)
    losses = [m["client_work"]["train"]["loss"] for m in metrics]
    assert losses[0] > losses[1] > losses[2]


def test_variable_model_trains_as_the_keras_model_does(emnist, keras_training, mnist_training):
    examples, _ = expected_counts(emnist["sizes"])
    for keras_metrics, mnist_metrics in zip(keras_training[2], mnist_training[2]):
        keras_train = keras_metrics["client_work"]["train"]
        mnist_train = mnist_metrics["client_work"]["train"]
        assert list(mnist_train) == ["num_examples", "loss", "accuracy"]
        assert mnist_train["num_examples"] == float(examples)
        np.testing.assert_allclose(mnist_train["loss"], keras_train["loss"], rtol=1e-4)
        np.testing.assert_allclose(
            mnist_train["accuracy"], keras_train["sparse_categorical_accuracy"], rtol=1e-6
        )
        assert mnist_metrics["finalizer"] == collections.OrderedDict(update_non_finite=0)


# ---------------------------------------------------------------- evaluation
def test_fed_eval_evaluates_the_weights_set_into_its_state(emnist, mnist_training):
    training_process, train_state = mnist_training[0], mnist_training[1]
    evaluation_process = tff.learning.algorithms.build_fed_eval(MnistModel)
    initial_state = evaluation_process.initialize()
    untrained = evaluation_process.next(initial_state, emnist["federated_train_data"]).metrics

    model_weights = training_process.get_model_weights(train_state)
    evaluation_state = evaluation_process.set_model_weights(initial_state, model_weights)
    evaluation_output = evaluation_process.next(evaluation_state, emnist["federated_train_data"])
    assert str(evaluation_output.metrics).startswith(
        "OrderedDict([('distributor', ()), ('client_work', OrderedDict([('eval', OrderedDict([('current_round_metrics', "
        "OrderedDict([('num_examples', "
    )
    evaluation = evaluation_output.metrics["client_work"]["eval"]
    assert evaluation["current_round_metrics"] == evaluation["total_rounds_metrics"]
    current = evaluation["current_round_metrics"]
    assert current["num_examples"] == float(expected_counts(emnist["sizes"])[0])
    assert current["loss"] < untrained["client_work"]["eval"]["current_round_metrics"]["loss"]

    federated_test_data = make_federated_data(emnist["test"], emnist["sample_clients"])
    test_output = evaluation_process.next(evaluation_state, federated_test_data)
    test_metrics = test_output.metrics["client_work"]["eval"]["current_round_metrics"]
    test_sizes = [
        len(list(emnist["test"].create_tf_dataset_for_client(c))) for c in emnist["sample_clients"]
    ]
    assert test_metrics["num_examples"] == float(expected_counts(test_sizes)[0])
    assert test_metrics["accuracy"] > 0.5
